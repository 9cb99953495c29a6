import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { firstNonAscii } from './ascii.ts';
import { paths, repoRoot } from './paths.ts';
import { chunkBuildOptions, chunkPath, servicesStubPlugin } from './services-chunk.ts';
import { trimDependenciesPlugin } from './trim-dependencies.ts';

export interface BundleOptions {
  entry?: string;
  outfile?: string;
}

export interface BundleResult {
  outfile: string;
  bytes: number;
  /** The lazily loaded services (build/services-chunk.ts), written next to outfile. */
  servicesChunk: string;
  servicesBytes: number;
  warnings: number;
}

/**
 * Bundles the agent (core + the built-in plugins it imports + every npm
 * dependency) into one CommonJS file that runs under Node 24, inside the
 * single executable and under `deno run -A`.
 */
export async function bundleAgent(opts: BundleOptions = {}): Promise<BundleResult> {
  const entry = opts.entry ?? paths.entry;
  const outfile = opts.outfile ?? paths.bundle;
  if (!fs.existsSync(entry)) throw new BuildError('bundle', `entry ${entry} does not exist`);
  const common: esbuild.BuildOptions = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // decorators (tsyringe @inject) come from tsconfig's experimentalDecorators
    tsconfig: paths.tsconfig,
    // lets an entry outside the tree (a scratch entry) resolve our dependencies
    nodePaths: [path.join(repoRoot, 'node_modules')],
    // Identifiers are never renamed and names are kept, so stack traces and
    // tsyringe/error messages show real class and function names. Whitespace
    // and syntax minification only: V8 keeps the script source in memory,
    // and this saves ~5 MB of idle RSS.
    minifyIdentifiers: false,
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    // Every library is bundled: the executable must need nothing beside it.
    // No dependency of ours has a native addon or an optional native
    // require that would need marking as external.
    external: [],
    logLevel: 'silent',
    metafile: false,
    // Written below through a rename, so a test or agent reading the bundle never sees half a file.
    write: false,
  };
  let result: esbuild.BuildResult;
  let chunk: esbuild.BuildResult;
  try {
    // The main bundle, with the heavy services replaced by a loader of the chunk.
    result = await esbuild.build({ ...common, entryPoints: [entry], outfile, plugins: [servicesStubPlugin(), trimDependenciesPlugin()] });
    chunk = await esbuild.build({ ...common, ...chunkBuildOptions(), outfile: chunkPath(outfile) });
  } catch (err) {
    throw new BuildError('bundle', formatEsbuildError(err));
  }
  for (const file of [...(chunk.outputFiles ?? []), ...(result.outputFiles ?? [])]) {
    if (!file.path.endsWith('.cjs')) continue;
    const bad = firstNonAscii(file.text);
    if (bad) {
      throw new BuildError(
        'bundle',
        `${path.basename(file.path)}:${bad.line}:${bad.column}: non-ASCII character (write it as ${bad.escape}): ${JSON.stringify(bad.context)}; ` +
          'V8 would hold the whole bundle as a two-byte string (build/ascii.ts)',
      );
    }
  }
  // The chunk first: a bundle is never newer than the chunk it loads.
  for (const file of [...(chunk.outputFiles ?? []), ...(result.outputFiles ?? [])]) {
    fs.mkdirSync(path.dirname(file.path), { recursive: true });
    const staged = `${file.path}.${process.pid}.tmp`;
    fs.writeFileSync(staged, file.contents);
    fs.renameSync(staged, file.path);
  }
  for (const w of [...result.warnings, ...chunk.warnings]) {
    const where = w.location ? `${w.location.file}:${w.location.line}: ` : '';
    process.stderr.write(`esbuild warning: ${where}${w.text}\n`);
  }
  const servicesChunk = chunkPath(outfile);
  return {
    outfile,
    bytes: fs.statSync(outfile).size,
    servicesChunk,
    servicesBytes: fs.statSync(servicesChunk).size,
    warnings: result.warnings.length + chunk.warnings.length,
  };
}

function formatEsbuildError(err: unknown): string {
  const errors = (err as { errors?: esbuild.Message[] }).errors;
  if (!errors?.length) return err instanceof Error ? err.message : String(err);
  return errors
    .map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text))
    .join('\n');
}

/** A failed build step, named so the message says which one. */
export class BuildError extends Error {
  constructor(
    readonly step: string,
    detail: string,
  ) {
    super(`build step "${step}" failed: ${detail}`);
    this.name = 'BuildError';
  }
}
