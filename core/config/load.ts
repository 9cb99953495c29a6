import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, dottedKey } from './errors.ts';
import type { RawObject } from './flags.ts';
import { configSchema, DEFAULT_CONFIG_PATH, type KrouterConfig, type ResolvedConfig } from './schema.ts';

export type ConfigPath = ReadonlyArray<string | number>;

/**
 * Where config values came from, to name them in errors: the file (with the
 * line when known) or the command line for keys a flag set.
 */
export class ConfigSource {
  constructor(
    readonly file: string,
    private readonly doc?: Document,
    private readonly lineCounter?: LineCounter,
    private readonly overlay: RawObject = {},
  ) {}

  /** One error line: `<file>: <dotted.key>: <reason>`. */
  problem(path: ConfigPath, reason: string): string {
    if (setByFlag(this.overlay, path)) return `command line: ${dottedKey(path)}: ${reason}`;
    const line = this.lineOf(path);
    return `${this.file}: ${dottedKey(path)}: ${reason}${line ? ` (line ${line})` : ''}`;
  }

  /** Line of the value at path, or of the closest ancestor present in the file. */
  lineOf(path: ConfigPath): number | undefined {
    if (!this.doc || !this.lineCounter) return undefined;
    for (let n = path.length; n >= 1; n--) {
      const parent = n === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, n - 1), true);
      const key = path[n - 1];
      let offset: number | undefined;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(key));
        offset = (pair?.key as { range?: [number, number, number] } | null)?.range?.[0];
      } else if (isSeq(parent) && typeof key === 'number') {
        offset = (parent.items[key] as { range?: [number, number, number] } | undefined)?.range?.[0];
      }
      if (offset !== undefined) return this.lineCounter.linePos(offset).line;
    }
    return undefined;
  }
}

/** True when a flag set the value at path (or one of its ancestors as a whole). */
function setByFlag(overlay: RawObject, path: ConfigPath): boolean {
  let node: unknown = overlay;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return true;
    if (!(String(key) in (node as RawObject))) return false;
    node = (node as RawObject)[String(key)];
  }
  return path.length > 0;
}

function isPlainObject(v: unknown): v is RawObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges `over` onto `base`: objects merge, everything else (arrays too) is replaced. */
export function mergeConfig(base: RawObject, over: RawObject): RawObject {
  const out: RawObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeConfig(out[key] as RawObject, value) : value;
  }
  return out;
}

export interface LoadOptions {
  /** --config; when absent the default path is used and may be missing. */
  file?: string;
  /** Partial config from command-line flags; overrides the file. */
  overlay?: RawObject;
  /**
   * The base when no config file is read (kube-router's defaults, so that
   * flags alone configure the agent as they configure kube-router). A file,
   * when there is one, is the whole base instead.
   */
  defaults?: RawObject;
  /** For the node name fallback; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** For the node name fallback; default os.hostname(). */
  hostname?: () => string;
}

export interface LoadedConfig {
  config: ResolvedConfig;
  source: ConfigSource;
}

/**
 * A plugin section that only flags create (e.g. --hairpin-mode with no
 * service-proxy section in the file) does not enable the plugin: only the
 * --run-* / --enable-cni flags do, as in kube-router.
 */
export function flagSectionsDisabled(base: RawObject, overlay: RawObject): RawObject {
  const plugins = overlay.plugins;
  if (!isPlainObject(plugins)) return overlay;
  const basePlugins = isPlainObject(base.plugins) ? base.plugins : {};
  const out: RawObject = {};
  for (const [name, section] of Object.entries(plugins)) {
    out[name] = isPlainObject(section) && !('enabled' in section) && basePlugins[name] === undefined ? { enabled: false, ...section } : section;
  }
  return { ...overlay, plugins: out };
}

/** Reads, merges and validates the config. Throws ConfigError (exit 2) listing every problem. */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const file = options.file ?? DEFAULT_CONFIG_PATH;
  const overlay = options.overlay ?? {};
  let raw: RawObject = options.defaults ?? {};
  // Without a file, problems of default values name where the defaults come from.
  let source = new ConfigSource(options.defaults ? `${file} (absent; kube-router's defaults)` : file, undefined, undefined, overlay);

  if (options.file !== undefined || existsSync(file)) {
    let text: string;
    try {
      if (statSync(file).isDirectory()) throw new Error('is a directory');
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      throw new ConfigError([`${file}: cannot read config file: ${reason}`]);
    }
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false });
    if (doc.errors.length) {
      throw new ConfigError(
        doc.errors.map((e) => {
          const pos = lineCounter.linePos(e.pos[0]);
          return `${file}: line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0]}`;
        }),
      );
    }
    let value: unknown;
    try {
      // Throws on what parses but cannot be built: an alias to a missing anchor, an alias bomb.
      value = doc.toJS();
    } catch (err) {
      throw new ConfigError([`${file}: (top level): ${String((err as Error)?.message ?? err).split('\n')[0]}`]);
    }
    if (value !== null && value !== undefined && !isPlainObject(value)) {
      throw new ConfigError([`${file}: (top level): must be a mapping of keys to values`]);
    }
    raw = (value as RawObject | null) ?? {};
    source = new ConfigSource(file, doc, lineCounter, overlay);
  }

  const parsed = configSchema.safeParse(mergeConfig(raw, flagSectionsDisabled(raw, overlay)));
  if (!parsed.success) throw new ConfigError(zodProblems(source, parsed.error.issues));
  const config = parsed.data;

  const problems: string[] = [];
  config.externalPlugins.forEach((p, i) => {
    if (p.enabled && !existsSync(p.path)) problems.push(source.problem(['externalPlugins', i, 'path'], `${p.path}: no such file`));
  });
  if (problems.length) throw new ConfigError(problems);

  return { config: { ...config, nodeName: resolveNodeName(config, options) }, source };
}

/** nodeName from the config (or --hostname-override), else NODE_NAME, else the host name. */
export function resolveNodeName(config: KrouterConfig, options: Pick<LoadOptions, 'env' | 'hostname'> = {}): string {
  const env = options.env ?? process.env;
  return config.nodeName || env.NODE_NAME || (options.hostname ?? hostname)();
}

/** One line per zod issue; an unknown key gets a line of its own. */
export function zodProblems(source: ConfigSource, issues: readonly z.core.$ZodIssue[], prefix: ConfigPath = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as Array<string | number>)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(source.problem([...path, key], 'unknown key'));
    } else {
      lines.push(source.problem(path, issue.message));
    }
  }
  return lines;
}
