import path from 'node:path';
import type * as esbuild from 'esbuild';

/**
 * Parts of our dependencies the agent never uses, left out of the bundle.
 * V8 keeps a bundle's source in memory and a module's top-level requires
 * load Node built-ins for good, so this is idle RSS as much as file size:
 *
 * - zod's namespace export re-exports every locale (~50 languages, ~400 KB
 *   of source). krouter's messages are English, which zod sets from its own
 *   `en` module; nothing reads `z.locales`.
 */
export function trimDependenciesPlugin(): esbuild.Plugin {
  const inPackage = (importer: string, pkg: string) => importer.includes(`${path.sep}node_modules${path.sep}${pkg}${path.sep}`);
  return {
    name: 'trim-dependencies',
    setup(build) {
      build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
        if (!inPackage(args.importer, 'zod')) return undefined;
        return { path: path.join(path.dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'zod-english-only' };
      });
      build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
        contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};\n`,
        resolveDir: path.dirname(args.path),
        loader: 'js',
      }));
    },
  };
}
