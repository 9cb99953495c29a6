import pino from 'pino';
import type { LogFields, Logger as LoggerService } from '@krouter/sdk';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** JSON-lines logger on stderr (pino), one object per line. */
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

  debug(message: string, fields?: LogFields): void {
    this.pinoLogger.debug(fields ?? {}, message);
  }
  info(message: string, fields?: LogFields): void {
    this.pinoLogger.info(fields ?? {}, message);
  }
  warn(message: string, fields?: LogFields): void {
    this.pinoLogger.warn(fields ?? {}, message);
  }
  error(message: string, fields?: LogFields): void {
    this.pinoLogger.error(fields ?? {}, message);
  }
  child(bindings: LogFields): Logger {
    return new Logger(this.pinoLogger.child(bindings));
  }
}
