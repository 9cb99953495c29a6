import { ALL_FAMILIES, perFamily, type Family, type Gauge, type Histogram, type Counter, type Metrics, type PerFamily } from '@krouter/sdk';
import type { ProblemReason, ServiceState } from './model.ts';
import type { SyncMode } from './agent.ts';

type Counts = PerFamily<{ services: number; endpoints: number }>;

/** What one service adds to the per-family totals: itself if it has a port of the family, and its endpoints there. */
function contribution(s: ServiceState | undefined): Counts {
  const out = perFamily(() => ({ services: 0, endpoints: 0 }));
  if (!s) return out;
  const endpoints = perFamily(() => new Set<string>());
  for (const p of s.ports) {
    out[p.family].services = 1;
    for (const e of [...p.clusterEndpoints, ...p.localEndpoints]) endpoints[p.family].add(e.address);
  }
  for (const f of ALL_FAMILIES) out[f].endpoints = endpoints[f].size;
  return out;
}

/** The plugin's metrics; totals kept incrementally so a partial sync costs what changed. */
export class ServiceProxyMetrics {
  private readonly duration: Histogram;
  private readonly bytes: Histogram;
  private readonly lastBytes: Gauge;
  private readonly servicesGauge: Gauge;
  private readonly endpointsGauge: Gauge;
  private readonly problems: Counter;
  private readonly conntrackDeletes: Counter;
  private counts: Counts = perFamily(() => ({ services: 0, endpoints: 0 }));
  private families: readonly Family[] = [];

  constructor(metrics: Metrics) {
    this.duration = metrics.histogram({
      name: 'service_proxy_sync_duration_seconds',
      help: 'Service proxy syncs: model, render and the nftables transaction',
      labelNames: ['mode'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.bytes = metrics.histogram({
      name: 'service_proxy_transaction_bytes',
      help: 'Size of the nftables transaction of a sync',
      labelNames: ['mode'],
      buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
    });
    this.lastBytes = metrics.gauge({ name: 'service_proxy_last_transaction_bytes', help: 'Size of the last nftables transaction', labelNames: ['mode'] });
    this.servicesGauge = metrics.gauge({ name: 'service_proxy_services', help: 'Services programmed, per family', labelNames: ['family'] });
    this.endpointsGauge = metrics.gauge({ name: 'service_proxy_endpoints', help: 'Endpoint addresses programmed, per family', labelNames: ['family'] });
    this.problems = metrics.counter({ name: 'service_proxy_problems_total', help: 'Bad service input reported (one Warning event each)', labelNames: ['reason'] });
    this.conntrackDeletes = metrics.counter({ name: 'service_proxy_conntrack_deletions_total', help: 'UDP conntrack deletions run for removed endpoints' });
  }

  synced(mode: SyncMode, seconds: number, bytes: number): void {
    this.duration.observe({ mode }, seconds);
    this.bytes.observe({ mode }, bytes);
    this.lastBytes.set({ mode }, bytes);
  }

  recount(services: Iterable<ServiceState>, families: readonly Family[]): void {
    this.families = families;
    this.counts = perFamily(() => ({ services: 0, endpoints: 0 }));
    for (const s of services) this.add(contribution(s), 1);
    this.publish();
  }

  replace(before: ServiceState | undefined, after: ServiceState | undefined, families: readonly Family[]): void {
    this.families = families;
    this.add(contribution(before), -1);
    this.add(contribution(after), 1);
    this.publish();
  }

  private add(c: Counts, sign: 1 | -1): void {
    for (const f of ALL_FAMILIES) {
      this.counts[f].services += sign * c[f].services;
      this.counts[f].endpoints += sign * c[f].endpoints;
    }
  }

  private publish(): void {
    for (const f of this.families) {
      this.servicesGauge.set({ family: f }, this.counts[f].services);
      this.endpointsGauge.set({ family: f }, this.counts[f].endpoints);
    }
  }

  totals(): Counts {
    return structuredClone(this.counts);
  }

  problem(reason: ProblemReason): void {
    this.problems.inc({ reason });
  }

  conntrack(n: number): void {
    if (n > 0) this.conntrackDeletes.inc(undefined, n);
  }
}
