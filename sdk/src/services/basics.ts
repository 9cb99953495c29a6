import { serviceToken } from '../token.ts';

export interface ExecOptions {
  /** Written to the child's stdin. */
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Do not throw on a non-zero exit code. */
  allowFailure?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs commands (no shell). Throws ExecError with the command and stderr on failure. */
export interface Exec {
  run(command: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
}
export const Exec = serviceToken<Exec>('exec', 1);

export type LogFields = Record<string, unknown>;

/** Structured JSON-lines logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}
export const Logger = serviceToken<Logger>('logger', 1);

export interface Counter {
  inc(labels?: Record<string, string>, value?: number): void;
}
export interface Gauge {
  set(labels: Record<string, string> | number, value?: number): void;
  inc(labels?: Record<string, string>, value?: number): void;
  dec(labels?: Record<string, string>, value?: number): void;
  reset(): void;
}
export interface Histogram {
  observe(labels: Record<string, string> | number, value?: number): void;
  /** Starts a timer; call the result to observe the elapsed seconds. */
  startTimer(labels?: Record<string, string>): () => number;
}
export interface MetricOptions {
  /** Without prefix; the host prefixes `krouter_`. */
  name: string;
  help: string;
  labelNames?: string[];
  buckets?: number[];
}

/** Prometheus metrics. Plugins register through this, never through a prom-client of their own. */
export interface Metrics {
  counter(options: MetricOptions): Counter;
  gauge(options: MetricOptions): Gauge;
  histogram(options: MetricOptions): Histogram;
}
export const Metrics = serviceToken<Metrics>('metrics', 1);

export interface HealthStatus {
  healthy: boolean;
  detail?: string;
}

/** Per-component heartbeats behind `/healthz`. */
export interface Health {
  /** Registers a component that must beat at least every `maxSilenceMs`. */
  register(component: string, maxSilenceMs: number): void;
  beat(component: string): void;
  /** Marks a component unhealthy (or healthy again) with a reason. */
  report(component: string, status: HealthStatus): void;
  unregister(component: string): void;
  /** Aggregated status of all components. */
  status(): { healthy: boolean; components: Record<string, HealthStatus & { lastBeat?: number }> };
}
export const Health = serviceToken<Health>('health', 1);
