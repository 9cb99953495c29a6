import { SDK_API_VERSION, type DefinedPlugin } from '@krouter/sdk';
import { ConfigError } from '../config/errors.ts';
import type { ConfigPath, ConfigSource } from '../config/load.ts';
import { validatePluginConfig } from '../config/plugin-config.ts';
import type { ResolvedConfig } from '../config/schema.ts';
import { loadModuleFile, pluginOfModule } from './loader.ts';
import { pluginPathProblem } from './plugin-path.ts';

/**
 * A built-in plugin known by name and imported only when enabled: a plugin
 * module's code and its schemas cost memory in every agent that does not
 * run it. The bundler still bundles the module behind `load`.
 */
export interface LazyBuiltin {
  readonly lazyBuiltin: string;
  load(): Promise<unknown>;
}

export function lazyBuiltin(name: string, load: () => Promise<unknown>): LazyBuiltin {
  return { lazyBuiltin: name, load };
}

function isLazyBuiltin(value: unknown): value is LazyBuiltin {
  return typeof (value as Partial<LazyBuiltin> | null)?.lazyBuiltin === 'string' && typeof (value as LazyBuiltin).load === 'function';
}

/** The plugin of a built-in entry (a module, its default export, or a LazyBuiltin). */
export async function loadBuiltin(entry: unknown, index = 0): Promise<DefinedPlugin> {
  const mod = isLazyBuiltin(entry) ? await entry.load() : entry;
  const plugin = pluginOfModule(mod);
  const label = isLazyBuiltin(entry) ? `built-in plugin ${entry.lazyBuiltin}` : `built-in plugin #${index}`;
  if (!plugin) throw new Error(`${label} has no definePlugin default export`);
  if (isLazyBuiltin(entry) && plugin.name !== entry.lazyBuiltin) throw new Error(`${label} is named ${plugin.name} in its module`);
  return plugin;
}

/** A plugin ready to start: definition, validated config, where it came from. */
export interface PreparedPlugin {
  definition: DefinedPlugin;
  config: unknown;
  /** `built-in` or the file it was loaded from. */
  origin: string;
}

export interface PrepareOptions {
  config: ResolvedConfig;
  source: ConfigSource;
  /** Built-in plugin modules (or their default exports, or LazyBuiltins), in start order. */
  builtins: readonly unknown[];
  /** Whether the host provides a service for a token. */
  provides: (token: symbol) => boolean;
  /** Loads an external plugin file; default: CommonJS via createRequire, ESM via import(). */
  loadModule?: (path: string) => Promise<unknown>;
  /**
   * Why an external plugin's file may not be loaded (undefined: it may);
   * default: the ownership and mode rules of plugin-path.ts.
   */
  checkPath?: (path: string) => string | undefined;
}

function tokenName(token: unknown): string {
  return typeof token === 'symbol' ? (token.description ?? String(token)) : JSON.stringify(token);
}

/**
 * Loads and checks every enabled plugin: module shape, SDK API version,
 * unique name, known service tokens, config section against the plugin's
 * schema. Built-ins come first in their listed order, then external plugins
 * in config order. Every problem is collected; any problem throws one
 * ConfigError (exit 2) whose lines each name the plugin and the config key.
 */
export async function preparePlugins(options: PrepareOptions): Promise<PreparedPlugin[]> {
  const { config, source } = options;
  const load = options.loadModule ?? loadModuleFile;
  const checkPath = options.checkPath ?? ((p: string) => pluginPathProblem(p));
  const problems: string[] = [];
  const prepared: PreparedPlugin[] = [];
  const byName = new Map<string, string>();

  // Name -> the plugin, loaded only when its section enables it.
  const builtinsByName = new Map<string, () => Promise<DefinedPlugin>>();
  for (const [i, entry] of options.builtins.entries()) {
    const plugin = isLazyBuiltin(entry) ? undefined : await loadBuiltin(entry, i);
    const name = plugin?.name ?? (entry as LazyBuiltin).lazyBuiltin;
    if (builtinsByName.has(name)) throw new Error(`two built-in plugins are named ${name}`);
    builtinsByName.set(name, plugin ? async () => plugin : () => loadBuiltin(entry, i));
  }

  for (const name of Object.keys(config.plugins)) {
    if (!builtinsByName.has(name)) {
      const known = [...builtinsByName.keys()];
      problems.push(
        source.problem(
          ['plugins', name],
          `unknown plugin (built-in plugins: ${known.length ? known.join(', ') : 'none'}; external plugins go under externalPlugins)`,
        ),
      );
    }
  }

  /** Checks one plugin; returns its validated config or records problems. */
  const check = async (plugin: DefinedPlugin, origin: string, at: ConfigPath, section: Record<string, unknown>, nameAt: ConfigPath) => {
    const label = `plugin ${plugin.name}`;
    let ok = true;
    if (plugin.apiVersion !== SDK_API_VERSION) {
      problems.push(
        source.problem(nameAt, `${label} was built for SDK API v${plugin.apiVersion}, this krouter provides v${SDK_API_VERSION}`),
      );
      return;
    }
    const previous = byName.get(plugin.name);
    if (previous) {
      problems.push(source.problem(nameAt, `${label}: the name is already used by ${previous}`));
      ok = false;
    }
    byName.set(plugin.name, origin === 'built-in' ? `the built-in plugin` : origin);
    for (const [key, token] of Object.entries(plugin.requires ?? {})) {
      if (typeof token !== 'symbol' || !options.provides(token)) {
        problems.push(source.problem(nameAt, `${label}: requires.${key}: unknown service ${tokenName(token)}`));
        ok = false;
      }
    }
    const result = await validatePluginConfig(plugin.configSchema, section, source, at);
    if (!result.ok) {
      problems.push(...result.problems.map((line) => `${line} [${label}]`));
      ok = false;
    }
    if (ok && result.ok) prepared.push({ definition: plugin, config: result.value, origin });
  };

  for (const [name, load] of builtinsByName) {
    const section = config.plugins[name];
    if (!section?.enabled) continue;
    const { enabled: _enabled, ...own } = section;
    await check(await load(), 'built-in', ['plugins', name], own, ['plugins', name]);
  }

  for (const [i, entry] of config.externalPlugins.entries()) {
    if (!entry.enabled) continue;
    const pathAt: ConfigPath = ['externalPlugins', i, 'path'];
    // A plugin runs with the agent's privileges: only files nobody else could have written are loaded.
    const unsafe = checkPath(entry.path);
    if (unsafe) {
      problems.push(source.problem(pathAt, `${entry.path}: refused: ${unsafe} (an external plugin and every directory above it must be owned by root and not writable by group or others)`));
      continue;
    }
    let mod: unknown;
    try {
      mod = await load(entry.path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const reason = e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(entry.path) ? 'no such file' : e.message;
      problems.push(source.problem(pathAt, `${entry.path}: cannot load: ${String(reason).split('\n')[0]}`));
      continue;
    }
    const plugin = pluginOfModule(mod);
    if (!plugin) {
      problems.push(source.problem(pathAt, `${entry.path}: not a krouter plugin (no definePlugin default export)`));
      continue;
    }
    await check(plugin, entry.path, ['externalPlugins', i, 'config'], entry.config, pathAt);
  }

  if (problems.length) throw new ConfigError(problems);
  return prepared;
}
