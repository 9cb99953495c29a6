import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (build/ runs as ESM through tsx, so import.meta is fine here). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const paths = {
  entry: path.join(repoRoot, 'core', 'main.ts'),
  tsconfig: path.join(repoRoot, 'tsconfig.json'),
  descriptor: path.join(repoRoot, 'build', 'generated', 'gobgp-descriptor.json'),
  dist: path.join(repoRoot, 'dist'),
  bundle: path.join(repoRoot, 'dist', 'krouter.cjs'),
  executable: path.join(repoRoot, 'dist', 'krouter'),
  /**
   * The pinned Node 24 from the `node` dev dependency. Its bin/node is the
   * real ELF binary (not a wrapper script), so it is both the SEA blob
   * generator and the base binary of the executable; they must be the same.
   */
  nodeBinary: path.join(repoRoot, 'node_modules', 'node', 'bin', 'node'),
  postject: path.join(repoRoot, 'node_modules', 'postject', 'dist', 'cli.js'),
  deno: path.join(repoRoot, 'node_modules', '.bin', 'deno'),
  exampleDir: path.join(repoRoot, 'sdk', 'examples', 'bgp-metrics'),
  exampleBundle: path.join(repoRoot, 'sdk', 'examples', 'bgp-metrics', 'dist', 'bgp-metrics.cjs'),
};
