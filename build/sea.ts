import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from './bundle.ts';
import { paths } from './paths.ts';
import { SEMI_SPACE_FLAG } from '../core/young-generation.ts';
import { chunkPath, SERVICES_CHUNK, SERVICES_CHUNK_CACHE } from './services-chunk.ts';

/** The fuse Node looks for to know a blob was injected (Node's documented value). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface SeaOptions {
  bundle?: string;
  /** The lazily loaded services, stored as an asset of the blob; default: next to the bundle. */
  servicesChunk?: string;
  output?: string;
  /** Base binary; also generates the blob (they must be the same build). */
  nodeBinary?: string;
  /** Strip symbols when `strip` exists (keeps the stripped copy only if it still runs). */
  strip?: boolean;
  /**
   * V8 code cache in the blob: ~30% faster start, but V8's cache is not
   * byte-for-byte stable, so a reproducible build turns it off. Default on.
   */
  codeCache?: boolean;
}

export interface SeaResult {
  output: string;
  bytes: number;
  blobBytes: number;
  stripped: boolean;
  codeCache: boolean;
}

/**
 * Makes the Node single-executable application: blob from the bundle, a
 * copy of the pinned Node binary, the blob injected with postject. Offline:
 * every input is in the repository or node_modules.
 */
export async function makeExecutable(opts: SeaOptions = {}): Promise<SeaResult> {
  const bundle = opts.bundle ?? paths.bundle;
  const output = opts.output ?? paths.executable;
  const nodeBinary = opts.nodeBinary ?? paths.nodeBinary;
  if (!fs.existsSync(bundle)) throw new BuildError('sea', `bundle ${bundle} does not exist`);
  const servicesChunk = opts.servicesChunk ?? chunkPath(bundle);
  if (!fs.existsSync(servicesChunk)) throw new BuildError('sea', `services chunk ${servicesChunk} does not exist`);
  assertElf(nodeBinary);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-sea-'));
  try {
    const blob = path.join(work, 'sea-prep.blob');
    // Code cache speeds up start; fall back without it if this Node refuses it.
    let codeCache = opts.codeCache !== false;
    if (!generateBlob(nodeBinary, bundle, servicesChunk, blob, codeCache)) {
      if (!codeCache || !generateBlob(nodeBinary, bundle, servicesChunk, blob, false)) {
        throw new BuildError('sea', `${nodeBinary} --experimental-sea-config failed (see output above)`);
      }
      codeCache = false;
    }

    const base = path.join(work, 'node');
    fs.copyFileSync(nodeBinary, base);
    fs.chmodSync(base, 0o755);
    const stripped = opts.strip !== false && stripBinary(base);

    const tmpOut = path.join(work, 'krouter');
    fs.copyFileSync(base, tmpOut);
    await inject(tmpOut, blob);
    fs.chmodSync(tmpOut, 0o755);
    smokeTest(tmpOut);

    fs.mkdirSync(path.dirname(output), { recursive: true });
    // Write next to the target and rename, so a running copy is never half-written.
    const staged = `${output}.${process.pid}.tmp`;
    fs.copyFileSync(tmpOut, staged);
    fs.chmodSync(staged, 0o755);
    fs.renameSync(staged, output);
    return { output, bytes: fs.statSync(output).size, blobBytes: fs.statSync(blob).size, stripped, codeCache };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function assertElf(file: string): void {
  if (!fs.existsSync(file)) {
    throw new BuildError('sea', `base binary ${file} is missing; run npm install (dev dependency "node")`);
  }
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, head, 0, 4, 0);
  fs.closeSync(fd);
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    throw new BuildError('sea', `base binary ${file} is not an ELF executable (a wrapper script?)`);
  }
}

function generateBlob(nodeBinary: string, bundle: string, servicesChunk: string, blob: string, useCodeCache: boolean): boolean {
  const config = path.join(path.dirname(blob), 'sea-config.json');
  // The services chunk is an asset: its pages are read only when a plugin
  // needs those services (build/services-chunk.ts).
  const assets: Record<string, string> = { [SERVICES_CHUNK]: servicesChunk };
  if (useCodeCache) {
    const cache = path.join(path.dirname(blob), SERVICES_CHUNK_CACHE);
    if (!chunkCodeCache(nodeBinary, servicesChunk, cache)) return false;
    assets[SERVICES_CHUNK_CACHE] = cache;
  }
  fs.writeFileSync(
    config,
    JSON.stringify(
      {
        main: bundle,
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache,
        useSnapshot: false,
        assets,
        // A capped young generation for a long-running daemon whose bursts
        // (10k-path BGP tables) otherwise leave V8's 16 MB semi-spaces grown
        // (core/young-generation.ts: the value and its measurements).
        execArgv: [SEMI_SPACE_FLAG],
      },
      null,
      2,
    ),
  );
  fs.rmSync(blob, { force: true });
  const r = spawnSync(nodeBinary, ['--experimental-sea-config', config], { encoding: 'utf8' });
  if (r.status !== 0 || !fs.existsSync(blob)) {
    process.stderr.write(`sea blob (useCodeCache=${useCodeCache}) failed: ${r.stderr || r.stdout || r.error?.message}\n`);
    return false;
  }
  return true;
}

/**
 * V8 code cache of the services chunk, made by the executable's own Node
 * the way build/services-chunk-loader.cjs compiles it (same parameters).
 */
function chunkCodeCache(nodeBinary: string, chunk: string, out: string): boolean {
  const script = `
    const fs = require('node:fs'), vm = require('node:vm');
    const fn = vm.compileFunction(fs.readFileSync(process.argv[1], 'latin1'),
      ['exports', 'require', 'module', '__filename', '__dirname'], { produceCachedData: true });
    if (!fn.cachedDataProduced) throw new Error('V8 produced no code cache');
    fs.writeFileSync(process.argv[2], fn.cachedData);`;
  const r = spawnSync(nodeBinary, ['-e', script, chunk, out], { encoding: 'utf8' });
  if (r.status !== 0 || !fs.existsSync(out)) {
    process.stderr.write(`services chunk code cache failed: ${r.stderr || r.stdout || r.error?.message}\n`);
    return false;
  }
  return true;
}

/** Strips symbols (~25% smaller); keeps the unstripped binary if strip is absent or breaks it. */
function stripBinary(binary: string): boolean {
  const candidate = `${binary}.stripped`;
  try {
    execFileSync('strip', ['-o', candidate, binary], { stdio: 'pipe' });
    const v = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (v.status !== 0) throw new Error(`stripped binary does not run: ${v.stderr}`);
    fs.renameSync(candidate, binary);
    return true;
  } catch {
    fs.rmSync(candidate, { force: true });
    return false;
  }
}

async function inject(binary: string, blobFile: string): Promise<void> {
  // postject's CLI in a child: its ELF library prints harmless warnings about
  // Node's many note sections, shown only when the injection fails.
  const r = spawnSync(
    process.execPath,
    [paths.postject, binary, 'NODE_SEA_BLOB', blobFile, '--sentinel-fuse', SEA_FUSE, '--overwrite'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    throw new BuildError('sea', `postject exited ${r.status}: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`);
  }
}

/** The injected binary must start the bundle, not plain Node: `version` proves it. */
function smokeTest(binary: string): void {
  const r = spawnSync(binary, ['version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) {
    throw new BuildError('sea', `the new executable fails "version" (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  }
}
