import pino from 'pino';
import type { LogFields, Logger as LoggerService } from '@krouter/sdk';
import { redactFields, scrubSecrets } from './secrets.ts';

import type { LogLevel } from '../config/log-level.ts';

export type { LogLevel };

/**
 * JSON-lines logger on stderr (pino), one object per line. Levels: error,
 * warn, info, debug, trace (kube-router's -v maps onto them: log-level.ts).
 * trace is the core's own (commands run, HTTP requests served); plugins log
 * through the SDK's Logger, debug and up. Secrets never reach the line:
 * fields named like one and registered secret values are replaced (secrets.ts).
 */
export class Logger implements LoggerService {
  private constructor(private readonly pinoLogger: pino.Logger) {}

  static create(level: LogLevel = 'info', destination: NodeJS.WritableStream | number = 2): Logger {
    const dest = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
    return new Logger(
      pino(
        {
          level,
          base: undefined,
          timestamp: pino.stdTimeFunctions.isoTime,
          formatters: { level: (label) => ({ level: label }) },
          messageKey: 'msg',
        },
        dest as pino.DestinationStream,
      ),
    );
  }

  /** Whether `level` is written (skip building costly fields otherwise). */
  enabled(level: LogLevel): boolean {
    return this.pinoLogger.isLevelEnabled(level);
  }
  trace(message: string, fields?: LogFields): void {
    if (!this.pinoLogger.isLevelEnabled('trace')) return;
    this.pinoLogger.trace(redactFields(fields ?? {}), scrubSecrets(message));
  }
  debug(message: string, fields?: LogFields): void {
    if (!this.pinoLogger.isLevelEnabled('debug')) return;
    this.pinoLogger.debug(redactFields(fields ?? {}), scrubSecrets(message));
  }
  info(message: string, fields?: LogFields): void {
    this.pinoLogger.info(redactFields(fields ?? {}), scrubSecrets(message));
  }
  warn(message: string, fields?: LogFields): void {
    this.pinoLogger.warn(redactFields(fields ?? {}), scrubSecrets(message));
  }
  error(message: string, fields?: LogFields): void {
    this.pinoLogger.error(redactFields(fields ?? {}), scrubSecrets(message));
  }
  child(bindings: LogFields): Logger {
    return new Logger(this.pinoLogger.child(redactFields(bindings)));
  }
}
