import type {
  Counter,
  Exec,
  ExecOptions,
  ExecResult,
  Gauge,
  Health,
  HealthStatus,
  Histogram,
  LogFields,
  Logger,
  MetricOptions,
  Metrics,
} from '../services/basics.ts';

// ---------------------------------------------------------------- logger

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  level: LogLevel;
  message: string;
  /** Bindings of the logger (child chain) merged with the call's fields. */
  fields: LogFields;
}

/** A Logger that keeps every line in memory; children share the same `lines`. */
export class MemoryLogger implements Logger {
  constructor(
    readonly lines: LogLine[] = [],
    private readonly bindings: LogFields = {},
  ) {}

  private push(level: LogLevel, message: string, fields?: LogFields) {
    this.lines.push({ level, message, fields: { ...this.bindings, ...fields } });
  }
  debug(message: string, fields?: LogFields): void {
    this.push('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.push('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.push('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.push('error', message, fields);
  }
  child(bindings: LogFields): MemoryLogger {
    return new MemoryLogger(this.lines, { ...this.bindings, ...bindings });
  }

  /** Lines of a level (all levels when omitted) whose message or one of whose field values contains `text`. */
  find(text: string | RegExp, level?: LogLevel): LogLine[] {
    const match = (s: string) => (typeof text === 'string' ? s.includes(text) : text.test(s));
    const fieldTexts = (f: LogFields) => Object.values(f).map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? ''));
    return this.lines.filter((l) => (!level || l.level === level) && (match(l.message) || fieldTexts(l.fields).some(match)));
  }

  clear(): void {
    this.lines.length = 0;
  }
}

// ---------------------------------------------------------------- metrics

function labelKey(labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

interface Series {
  value: number;
  observations: number[];
}

export interface MetricRecord {
  type: 'counter' | 'gauge' | 'histogram';
  options: MetricOptions;
  series: Map<string, Series>;
}

/**
 * Metrics kept in memory and readable: `value(name, labels)` for counters and
 * gauges, `observations(name, labels)` for histograms. Registering a name again
 * returns the same metric, as the host's does.
 */
export class MemoryMetrics implements Metrics {
  readonly metrics = new Map<string, MetricRecord>();

  private record(type: MetricRecord['type'], options: MetricOptions): MetricRecord {
    let r = this.metrics.get(options.name);
    if (r && r.type !== type) throw new Error(`metric ${options.name} is already registered as a ${r.type}`);
    if (!r) {
      r = { type, options, series: new Map() };
      this.metrics.set(options.name, r);
    }
    return r;
  }

  private series(r: MetricRecord, labels?: Record<string, string>): Series {
    for (const k of Object.keys(labels ?? {})) {
      if (!(r.options.labelNames ?? []).includes(k)) throw new Error(`metric ${r.options.name}: label ${k} not declared`);
    }
    const key = labelKey(labels);
    let s = r.series.get(key);
    if (!s) {
      s = { value: 0, observations: [] };
      r.series.set(key, s);
    }
    return s;
  }

  counter(options: MetricOptions): Counter {
    const r = this.record('counter', options);
    return {
      inc: (labels, value = 1) => {
        if (value < 0) throw new Error(`counter ${options.name} cannot decrease`);
        this.series(r, labels).value += value;
      },
    };
  }

  gauge(options: MetricOptions): Gauge {
    const r = this.record('gauge', options);
    return {
      set: (labels, value) => {
        if (typeof labels === 'number') this.series(r).value = labels;
        else this.series(r, labels).value = value ?? 0;
      },
      inc: (labels, value = 1) => void (this.series(r, labels).value += value),
      dec: (labels, value = 1) => void (this.series(r, labels).value -= value),
      reset: () => r.series.clear(),
    };
  }

  histogram(options: MetricOptions): Histogram {
    const r = this.record('histogram', options);
    const observe = (labels: Record<string, string> | undefined, v: number) => {
      const s = this.series(r, labels);
      s.observations.push(v);
      s.value += v;
    };
    return {
      observe: (labels, value) => (typeof labels === 'number' ? observe(undefined, labels) : observe(labels, value ?? 0)),
      startTimer: (labels) => {
        const start = process.hrtime.bigint();
        return (more?: Record<string, string>) => {
          const seconds = Number(process.hrtime.bigint() - start) / 1e9;
          observe({ ...labels, ...(more as Record<string, string> | undefined) }, seconds);
          return seconds;
        };
      },
    };
  }

  /** Current value of a counter or gauge series (sum of observations for a histogram); undefined if never touched. */
  value(name: string, labels?: Record<string, string>): number | undefined {
    return this.metrics.get(name)?.series.get(labelKey(labels))?.value;
  }

  /** Observations of a histogram series. */
  observations(name: string, labels?: Record<string, string>): number[] {
    return this.metrics.get(name)?.series.get(labelKey(labels))?.observations ?? [];
  }
}

// ---------------------------------------------------------------- health

/** Heartbeats in memory with a settable clock (`now`). */
export class FakeHealth implements Health {
  readonly components = new Map<string, { maxSilenceMs: number; lastBeat?: number; reported: HealthStatus }>();
  now = 0;

  register(component: string, maxSilenceMs: number): void {
    this.components.set(component, { maxSilenceMs, lastBeat: this.now, reported: { healthy: true } });
  }
  beat(component: string): void {
    const c = this.components.get(component);
    if (c) c.lastBeat = this.now;
  }
  report(component: string, status: HealthStatus): void {
    const c = this.components.get(component);
    if (c) c.reported = status;
    else this.components.set(component, { maxSilenceMs: Infinity, lastBeat: this.now, reported: status });
  }
  unregister(component: string): void {
    this.components.delete(component);
  }
  status(): { healthy: boolean; components: Record<string, HealthStatus & { lastBeat?: number }> } {
    const components: Record<string, HealthStatus & { lastBeat?: number }> = {};
    let healthy = true;
    for (const [name, c] of this.components) {
      const silent = c.lastBeat !== undefined && this.now - c.lastBeat > c.maxSilenceMs;
      const s: HealthStatus = !c.reported.healthy ? c.reported : silent ? { healthy: false, detail: 'no heartbeat' } : { healthy: true };
      if (!s.healthy) healthy = false;
      components[name] = { ...s, lastBeat: c.lastBeat };
    }
    return { healthy, components };
  }
}

// ---------------------------------------------------------------- exec

export interface ExecCall {
  command: string;
  args: readonly string[];
  options: ExecOptions;
}

type Matcher = string | RegExp | ((command: string, args: readonly string[]) => boolean);
type Response = Partial<ExecResult> | Error | ((call: ExecCall) => Partial<ExecResult> | Error);

/** Thrown by FakeExec for a non-zero scripted exit, like the host's ExecError. */
export class FakeExecError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly result: ExecResult,
  ) {
    super(`${command} ${args.join(' ')}: exit ${result.code}${result.stderr ? `: ${result.stderr.trim()}` : ''}`);
    this.name = 'ExecError';
  }
}

/**
 * Exec with scripted responses. `on(matcher, response)` adds a rule; the last
 * matching rule wins (so tests can override a default). A matcher string is
 * compared with the command line `command arg1 arg2...` (prefix match); a
 * RegExp is tested against it. A call nothing matches throws, naming it.
 */
export class FakeExec implements Exec {
  readonly calls: ExecCall[] = [];
  private readonly rules: Array<{ matcher: Matcher; response: Response; times?: number }> = [];

  on(matcher: Matcher, response: Response, opts: { times?: number } = {}): this {
    this.rules.push({ matcher, response, times: opts.times });
    return this;
  }

  async run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const call: ExecCall = { command, args: [...args], options };
    this.calls.push(call);
    const line = [command, ...args].join(' ');
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i]!;
      const m = rule.matcher;
      const hit = typeof m === 'string' ? line === m || line.startsWith(m + ' ') : m instanceof RegExp ? m.test(line) : m(command, args);
      if (!hit) continue;
      if (rule.times !== undefined && --rule.times <= 0) this.rules.splice(i, 1);
      const r = typeof rule.response === 'function' ? rule.response(call) : rule.response;
      if (r instanceof Error) throw r;
      const result: ExecResult = { code: r.code ?? 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
      if (result.code !== 0 && !options.allowFailure) throw new FakeExecError(command, args, result);
      return result;
    }
    throw new Error(`FakeExec: no scripted response for ${JSON.stringify(line)}`);
  }

  /** Command lines run so far. */
  commandLines(): string[] {
    return this.calls.map((c) => [c.command, ...c.args].join(' '));
  }
}
