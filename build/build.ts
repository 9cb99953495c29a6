/**
 * `npm run build`: gobgp descriptor (if missing) -> esbuild bundle
 * dist/krouter.cjs -> single executable dist/krouter.
 *
 *   --bundle-only        stop after the bundle
 *   --entry FILE         bundle another entry (default core/main.ts)
 *   --no-strip           keep symbols in the executable
 *   --reproducible       byte-identical executable for identical inputs
 *                        (no V8 code cache; also when SOURCE_DATE_EPOCH is set)
 */
import { BuildError } from './bundle.ts';
import { buildAll } from './pipeline.ts';

function flag(name: string): boolean {
  return process.argv.includes(name);
}
function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

try {
  await buildAll({
    entry: option('--entry'),
    bundleOnly: flag('--bundle-only'),
    strip: !flag('--no-strip'),
    reproducible: flag('--reproducible') || process.env.SOURCE_DATE_EPOCH !== undefined,
    log: (line) => process.stdout.write(`${line}\n`),
  });
} catch (err) {
  process.stderr.write(`${err instanceof BuildError ? err.message : (err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
