import type { Health, Logger, Metrics } from './services/basics.ts';
import type { ServiceToken } from './token.ts';

/** The SDK major version. A plugin built against another major is refused. */
export const SDK_API_VERSION = 1;

/**
 * A config schema in the Standard Schema shape (https://standardschema.dev),
 * which zod 4, valibot and arktype implement. The host calls it; a plugin
 * may bundle its own copy of its schema library.
 */
export interface ConfigSchema<T> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown):
      | { value: T; issues?: undefined }
      | { issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> }
      | Promise<
          | { value: T; issues?: undefined }
          | { issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> }
        >;
  };
}

export type Requires = Record<string, ServiceToken<unknown>>;
export type Resolved<R extends Requires> = { [K in keyof R]: R[K] extends ServiceToken<infer T> ? T : never };

/** What the host gives a plugin besides its services. */
export interface PluginContext<C> {
  /** The plugin's name. */
  name: string;
  /** The plugin's own config section, validated by its schema. */
  config: C;
  /** Logger bound to `plugin: name`. */
  logger: Logger;
  /** Metrics; names are prefixed `krouter_`. */
  metrics: Metrics;
  health: Health;
  /** Aborted when the agent stops. */
  signal: AbortSignal;
  /** This node's name. */
  nodeName: string;
}

/** A running plugin. */
export interface PluginInstance {
  /** Stops the plugin; kernel state is left in place for the next start to adopt. */
  stop(): Promise<void>;
  /**
   * The plugin's part of `krouter status` (and of `/status`): a JSON object
   * the plugin owns. The CLI renders any object, and reads best when it
   * follows the built-in plugins' shape: plugin-wide scalars (`Seconds` /
   * `Ms` suffixes are durations), lists of flat objects (shown as tables),
   * `families: { ipv4: {...}, ipv6: {...} }` for what differs per family
   * (one key per enabled family; other `key: { ipv4, ipv6 }` maps are shown
   * in the same family blocks), and `problems: string[]`.
   */
  status?(): Promise<unknown> | unknown;
}

export interface PluginDefinition<C = unknown, R extends Requires = Requires> {
  name: string;
  /** SDK major the plugin was built against. */
  apiVersion: number;
  description?: string;
  configSchema?: ConfigSchema<C>;
  requires: R;
  start(ctx: PluginContext<C>, deps: Resolved<R>): Promise<PluginInstance>;
  /**
   * Removes what the plugin owns without starting it (`krouter cleanup`,
   * the only way the host removes a plugin's state). Optional; gets the
   * same services as start.
   */
  cleanup?(ctx: PluginContext<C>, deps: Resolved<R>): Promise<void>;
}

/** Marks a module's default export as a krouter plugin. */
export const PLUGIN_BRAND = Symbol.for('krouter/plugin');

export type DefinedPlugin<C = unknown, R extends Requires = Requires> = PluginDefinition<C, R> & {
  readonly [PLUGIN_BRAND]: true;
};

export function definePlugin<C, R extends Requires>(definition: PluginDefinition<C, R>): DefinedPlugin<C, R> {
  if (!definition.name || !/^[a-z][a-z0-9-]*$/.test(definition.name)) {
    throw new Error(`plugin name ${JSON.stringify(definition.name)} must be lower-case letters, digits and dashes`);
  }
  return Object.freeze({ ...definition, [PLUGIN_BRAND]: true as const });
}

export function isPlugin(value: unknown): value is DefinedPlugin {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PLUGIN_BRAND] === true;
}
