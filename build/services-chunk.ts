import path from 'node:path';
import type * as esbuild from 'esbuild';
import { paths, repoRoot } from './paths.ts';

/**
 * The heavy services (gobgp: gRPC + protobuf; informers: the Kubernetes
 * client and undici; netlink; nftables) are ~4 MB of the agent's ~5 MB of
 * JavaScript. core/container.ts imports them only when a plugin needs them,
 * but inside one bundle their source text still costs memory in every agent:
 * V8 keeps the whole main script as a heap string, and the single
 * executable keeps the blob pages it read resident. So they are built into a
 * second file, dist/krouter-services.cjs (an asset inside the executable),
 * which is compiled the first time container.ts imports one of them. An idle
 * agent without such plugins saves ~12 MB of RSS.
 *
 * Modules both sides use are taken from the main bundle (one copy, so one
 * class identity for `instanceof` and one module state): SHARED lists them.
 * Any other first-party module imported by the services fails the build,
 * because it would silently exist twice.
 */

/** The asset name inside the executable, and the file name next to the bundle. */
export const SERVICES_CHUNK = 'krouter-services.cjs';

/** The asset holding the chunk's V8 code cache (single executable only). */
export const SERVICES_CHUNK_CACHE = 'krouter-services.cache';

/** The lazily imported service modules (the dynamic imports in core/container.ts). */
export const SERVICE_MODULES = [
  'core/services/gobgp/index.ts',
  'core/services/informers/index.ts',
  'core/services/netlink/index.ts',
  'core/services/nftables.ts',
].map((p) => path.join(repoRoot, p));

/** First-party code the services may contain (their own folders and generated data). */
const SERVICE_OWN = ['core/services/gobgp/', 'core/services/informers/', 'core/services/netlink/', 'core/services/nftables.ts', 'build/generated/'].map(
  (p) => path.join(repoRoot, p),
);

/** Modules the chunk gets from the main bundle, by the id the chunk requires them under. */
const SHARED: Record<string, string> = {
  '@krouter/sdk': path.join(repoRoot, 'sdk', 'src', 'index.ts'),
  'krouter-host:exec': path.join(repoRoot, 'core', 'services', 'exec.ts'),
  'krouter-host:secrets': path.join(repoRoot, 'core', 'services', 'secrets.ts'),
};

const firstParty = (file: string) =>
  file.startsWith(repoRoot + path.sep) && !file.includes(`${path.sep}node_modules${path.sep}`);

/** Entry of the chunk: every service class, by name. */
function chunkEntry(): string {
  return SERVICE_MODULES.map((m) => `export * from ${JSON.stringify(m)};`).join('\n');
}

/**
 * esbuild options for the chunk. Shared modules stay `require`s that the
 * loader answers from the main bundle; a first-party import that is neither
 * the services' own nor shared is an error.
 */
export function chunkBuildOptions(): esbuild.BuildOptions {
  const sharedByFile = new Map(Object.entries(SHARED).map(([id, file]) => [file, id]));
  return {
    stdin: { contents: chunkEntry(), resolveDir: repoRoot, sourcefile: 'krouter-services-entry.js', loader: 'js' },
    plugins: [
      {
        name: 'krouter-shared-modules',
        setup(build) {
          build.onResolve({ filter: /^@krouter\/sdk$/ }, () => ({ path: '@krouter/sdk', external: true }));
          build.onResolve({ filter: /^\./ }, async (args) => {
            if (args.pluginData === 'resolving') return undefined;
            const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving', with: args.with });
            if (r.errors.length || !firstParty(r.path)) return r.errors.length ? { errors: r.errors } : undefined;
            const shared = sharedByFile.get(r.path);
            if (shared) return { path: shared, external: true };
            if (SERVICE_OWN.some((own) => r.path === own || r.path.startsWith(own))) return undefined;
            return {
              errors: [
                {
                  text:
                    `${path.relative(repoRoot, args.importer)} imports ${path.relative(repoRoot, r.path)}, which is neither part of ` +
                    `the lazily loaded services nor shared with the main bundle (add it to SHARED in build/services-chunk.ts)`,
                },
              ],
            };
          });
        },
      },
    ],
  };
}

/**
 * esbuild plugin for the main bundle: each service module becomes a stub
 * whose exports are the chunk's, loaded on first require (esbuild turns the
 * container's `await import()` into a require inside a promise).
 */
export function servicesStubPlugin(): esbuild.Plugin {
  const loader = path.join(repoRoot, 'build', 'services-chunk-loader.cjs');
  return {
    name: 'krouter-services-stub',
    setup(build) {
      const stubs = new Set(SERVICE_MODULES);
      build.onResolve({ filter: /\.ts$/ }, async (args) => {
        if (args.pluginData === 'resolving' || args.namespace === 'krouter-services') return undefined;
        const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
        return stubs.has(r.path) ? { path: r.path, namespace: 'krouter-services' } : undefined;
      });
      build.onLoad({ filter: /.*/, namespace: 'krouter-services' }, () => ({
        contents: `module.exports = require(${JSON.stringify(loader)}).loadServicesChunk();`,
        resolveDir: repoRoot,
        loader: 'js',
      }));
      // The loader gets the shared modules from the main bundle by their files.
      build.onLoad({ filter: /services-chunk-loader\.cjs$/ }, async (args) => {
        if (args.path !== loader) return undefined;
        const { readFile } = await import('node:fs/promises');
        const shared = Object.entries(SHARED)
          .map(([id, file]) => `  ${JSON.stringify(id)}: () => require(${JSON.stringify(file)}),`)
          .join('\n');
        const source = (await readFile(loader, 'utf8'))
          .replace('/* SHARED */', `{\n${shared}\n}`)
          .replace('/* CHUNK */', JSON.stringify(SERVICES_CHUNK))
          .replace('/* CHUNK_CACHE */', JSON.stringify(SERVICES_CHUNK_CACHE));
        return { contents: source, loader: 'js', resolveDir: repoRoot };
      });
    },
  };
}

/** Where the chunk is written: next to the bundle. */
export function chunkPath(bundle: string = paths.bundle): string {
  return path.join(path.dirname(bundle), SERVICES_CHUNK);
}
