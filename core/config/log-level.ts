/**
 * Log levels and kube-router's verbosity. `log.level` in the config file and
 * `-v`/`--v` on the command line take the same values: a level name, or a
 * klog verbosity number 0..10 that maps onto the levels the way kube-router
 * uses its verbosity:
 *
 * | -v   | kube-router logs (klog.V(n))                                        | krouter level |
 * |------|---------------------------------------------------------------------|---------------|
 * | 0, 1 | start-up, warnings, errors; (1) sync requests and how long they took | info          |
 * | 2, 3 | (2) every object event, each rule or route changed; (3) "maximal debug output": retries, queue handling, internals | debug |
 * | 4+   | (4) periodic controller ticks; (9) every command run                 | trace         |
 *
 * info: start-up, peers established, bad input (one line per object), sync
 * failures; debug adds each sync with its reasons and duration and the
 * plugins' detail; trace adds every command run and every HTTP request served.
 */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** klog verbosity accepted (kube-router's highest in use is 9). */
export const MAX_VERBOSITY = 10;

/** A kube-router/klog verbosity -> the logger's level. */
export function levelOfVerbosity(verbosity: number): LogLevel {
  if (verbosity <= 1) return 'info';
  if (verbosity <= 3) return 'debug';
  return 'trace';
}

/** A level name, or a verbosity as number or digits; undefined when it is neither. */
export function parseLogLevel(value: unknown): LogLevel | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= MAX_VERBOSITY ? levelOfVerbosity(value) : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^\d+$/.test(value)) return parseLogLevel(Number(value));
  return (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : undefined;
}

export const LOG_LEVEL_HELP = `a verbosity 0..${MAX_VERBOSITY} (kube-router's -v: 0-1 info, 2-3 debug, 4+ trace) or one of ${LOG_LEVELS.join('|')}`;
