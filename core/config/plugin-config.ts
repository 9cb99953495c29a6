import type { ConfigSchema } from '@krouter/sdk';
import type { ConfigPath, ConfigSource } from './load.ts';

export type PluginConfigResult<T> = { ok: true; value: T } | { ok: false; problems: string[] };

type IssuePath = ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined;

function toPath(path: IssuePath): Array<string | number> {
  return (path ?? []).map((p) => {
    const key = typeof p === 'object' && p !== null ? p.key : p;
    return typeof key === 'number' ? key : String(key);
  });
}

/**
 * Validates a plugin's section with the plugin's Standard Schema (zod 4,
 * valibot, arktype ... all speak it). Problems are named by their place in
 * the config file, e.g. `plugins.router.clusterAsn`.
 */
export async function validatePluginConfig<T>(
  schema: ConfigSchema<T> | undefined,
  value: Record<string, unknown>,
  source: ConfigSource,
  at: ConfigPath,
): Promise<PluginConfigResult<T>> {
  if (!schema) return { ok: true, value: value as T };
  let result;
  try {
    result = await schema['~standard'].validate(value);
  } catch (err) {
    return { ok: false, problems: [source.problem(at, `config schema failed: ${(err as Error).message}`)] };
  }
  if (result.issues) {
    const problems = result.issues.map((issue) => source.problem([...at, ...toPath(issue.path)], issue.message));
    return { ok: false, problems: problems.length ? problems : [source.problem(at, 'invalid')] };
  }
  return { ok: true, value: result.value };
}
