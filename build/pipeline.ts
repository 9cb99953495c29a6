import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BuildError, bundleAgent } from './bundle.ts';
import { DEFAULT_PROTO_DIR, generate } from './gen-gobgp-descriptor.ts';
import { paths, repoRoot } from './paths.ts';
import { makeExecutable } from './sea.ts';
import { chunkPath } from './services-chunk.ts';

export interface BuildAllOptions {
  entry?: string;
  bundleOnly?: boolean;
  strip?: boolean;
  /** Byte-identical output for identical inputs (turns off the V8 code cache). */
  reproducible?: boolean;
  log?: (line: string) => void;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Generates build/generated/gobgp-descriptor.json when it is missing. */
export function ensureDescriptor(log: (line: string) => void = () => undefined): void {
  if (fs.existsSync(paths.descriptor)) return;
  log(`generating ${path.relative(repoRoot, paths.descriptor)} from ${DEFAULT_PROTO_DIR}`);
  try {
    generate(DEFAULT_PROTO_DIR, paths.descriptor);
  } catch (err) {
    throw new BuildError(
      'generate',
      `${(err as Error).message} (the gobgp protos come from the Debian package golang-github-osrg-gobgp-dev)`,
    );
  }
}

/** The whole build; prints what it made and how big it is. */
export async function buildAll(opts: BuildAllOptions = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  ensureDescriptor(log);
  const bundle = await bundleAgent({ entry: opts.entry });
  log(`bundle     ${path.relative(repoRoot, bundle.outfile)}  ${mb(bundle.bytes)}${bundle.warnings ? `  (${bundle.warnings} warnings)` : ''}`);
  log(`services   ${path.relative(repoRoot, bundle.servicesChunk)}  ${mb(bundle.servicesBytes)}  (loaded when a plugin needs them)`);
  if (opts.bundleOnly) return;
  const sea = await makeExecutable({ bundle: bundle.outfile, strip: opts.strip, codeCache: !opts.reproducible });
  log(
    `executable ${path.relative(repoRoot, sea.output)}  ${mb(sea.bytes)}  (blob ${mb(sea.blobBytes)}, ` +
      `${sea.stripped ? 'stripped' : 'not stripped'}, code cache ${sea.codeCache ? 'on' : 'off'})`,
  );
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Newest modification time of the sources that go into the bundle. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'dist' && e.name !== 'examples') walk(p);
      } else if (/\.(ts|json|cjs)$/.test(e.name)) {
        newest = Math.max(newest, fs.statSync(p).mtimeMs);
      }
    }
  };
  for (const dir of ['core', 'plugins', 'sdk/src', 'build']) walk(path.join(repoRoot, dir));
  return newest;
}

function isFresh(file: string): boolean {
  return fs.existsSync(file) && fs.statSync(file).mtimeMs >= newestSource();
}

/** For tests: builds the bundle and executable when missing or older than the sources. */
export async function ensureExecutable(): Promise<string> {
  if (!isFresh(paths.executable) || !isFresh(paths.bundle) || !isFresh(chunkPath())) await buildAll();
  return paths.executable;
}

/** For tests: builds only the bundle when missing or older than the sources. */
export async function ensureBundle(): Promise<string> {
  if (!isFresh(paths.bundle) || !isFresh(chunkPath())) {
    ensureDescriptor();
    await bundleAgent();
  }
  return paths.bundle;
}

/**
 * Builds the example third-party plugin with its own `npm run build`, as its
 * author would; returns the built file.
 */
export function buildExamplePlugin(dir = paths.exampleDir): string {
  const r = spawnSync('npm', ['run', '--silent', 'build'], {
    cwd: dir,
    encoding: 'utf8',
    // npm puts every ancestor's node_modules/.bin on PATH; keep the pinned node first.
    env: { ...process.env, PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` },
  });
  if (r.status !== 0) {
    throw new BuildError('example plugin', `npm run build in ${dir} exited ${r.status}: ${r.stderr || r.stdout || r.error?.message}`);
  }
  const out = path.join(dir, 'dist', `${path.basename(dir)}.cjs`);
  if (!fs.existsSync(out)) throw new BuildError('example plugin', `${out} was not produced`);
  return out;
}

/** For tests: the example plugin's bundle, built when missing. */
export function ensureExamplePlugin(): string {
  return fs.existsSync(paths.exampleBundle) ? paths.exampleBundle : buildExamplePlugin();
}
