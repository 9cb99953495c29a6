import * as client from './prom-client.ts';
import type { Counter, Gauge, Histogram, MetricOptions, Metrics as MetricsService } from '@krouter/sdk';

const PREFIX = 'krouter_';

/**
 * Prometheus metrics on one registry. Registering the same name twice returns
 * the existing metric, so a plugin restarted in-process (or two reconcilers
 * sharing a metric) does not throw.
 */
export class Metrics implements MetricsService {
  readonly registry = new client.Registry();

  constructor(collectDefaults = true) {
    if (collectDefaults) client.collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  private existing<T>(name: string): T | undefined {
    return this.registry.getSingleMetric(PREFIX + name) as T | undefined;
  }

  counter(o: MetricOptions): Counter {
    const m =
      this.existing<client.Counter>(o.name) ??
      new client.Counter({ name: PREFIX + o.name, help: o.help, labelNames: o.labelNames ?? [], registers: [this.registry] });
    return {
      inc: (labels, value) => (labels ? m.inc(labels, value ?? 1) : m.inc(value ?? 1)),
    };
  }

  gauge(o: MetricOptions): Gauge {
    const m =
      this.existing<client.Gauge>(o.name) ??
      new client.Gauge({ name: PREFIX + o.name, help: o.help, labelNames: o.labelNames ?? [], registers: [this.registry] });
    return {
      set: (labels, value) => (typeof labels === 'number' ? m.set(labels) : m.set(labels, value ?? 0)),
      inc: (labels, value) => (labels ? m.inc(labels, value ?? 1) : m.inc(value ?? 1)),
      dec: (labels, value) => (labels ? m.dec(labels, value ?? 1) : m.dec(value ?? 1)),
      reset: () => m.reset(),
    };
  }

  histogram(o: MetricOptions): Histogram {
    const m =
      this.existing<client.Histogram>(o.name) ??
      new client.Histogram({
        name: PREFIX + o.name,
        help: o.help,
        labelNames: o.labelNames ?? [],
        buckets: o.buckets,
        registers: [this.registry],
      });
    return {
      observe: (labels, value) => (typeof labels === 'number' ? m.observe(labels) : m.observe(labels, value ?? 0)),
      startTimer: (labels) => m.startTimer(labels),
    };
  }

  /** Text exposition format for `/metrics`. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
