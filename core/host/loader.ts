import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isPlugin, type DefinedPlugin } from '@krouter/sdk';

/**
 * `import()` that the bundler cannot see: esbuild would otherwise rewrite it
 * into a `require` of the bundle (and Node SEA has no default ESM loader for
 * the main script). A Function body is compiled at run time, so the real
 * dynamic import of the host runtime (Node, Node SEA, Deno) is used.
 */
const hiddenImport = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

/** A `require` that works inside a single executable, where plain `require(path)` of a file does not. */
function hostRequire(): NodeJS.Require {
  return createRequire(join(process.cwd(), 'krouter-external-plugin-loader.js'));
}

function isEsmRequireError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE';
}

/**
 * Loads a JavaScript file: `.mjs` as ESM, everything else as CommonJS first
 * (what bundlers usually emit), then as ESM if the file turns out to be one.
 */
export async function loadModuleFile(path: string): Promise<unknown> {
  if (path.endsWith('.mjs')) return hiddenImport(pathToFileURL(path).href);
  try {
    return hostRequire()(path);
  } catch (err) {
    if (isEsmRequireError(err)) return hiddenImport(pathToFileURL(path).href);
    throw err;
  }
}

/**
 * The plugin a module exports: the `definePlugin` value as the module itself,
 * as its default export, or as the default of a CommonJS-wrapped ESM default.
 */
export function pluginOfModule(mod: unknown): DefinedPlugin | undefined {
  const candidates = [mod, (mod as { default?: unknown } | null)?.default];
  candidates.push((candidates[1] as { default?: unknown } | null | undefined)?.default);
  return candidates.find(isPlugin) as DefinedPlugin | undefined;
}
