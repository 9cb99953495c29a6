/** Exit code for a bad config file, bad flags or a plugin refused at load time. */
export const CONFIG_EXIT_CODE = 2;

/**
 * A config problem: one or more lines of the form `<file>: <dotted.key>: <reason>`.
 * Stops start-up with exit code 2.
 */
export class ConfigError extends Error {
  readonly exitCode = CONFIG_EXIT_CODE;
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** A dotted key from a path, e.g. `externalPlugins.0.path`; `(top level)` for the root. */
export function dottedKey(path: ReadonlyArray<PropertyKey>): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}
