import { readFileSync } from 'node:fs';
import {
  createLeaderElector,
  createReconciler,
  hostRange,
  perFamily,
  type AddressFamilies,
  type Gauge,
  type Counter,
  type HostRange,
  type Informers,
  type LeaderElector,
  type PerFamily,
  type PluginContext,
  type PluginInstance,
  type V1Service,
} from '@krouter/sdk';
import { writeStatus } from './apply.ts';
import type { LoadBalancerConfig } from './config.ts';
import { LOADBALANCER_CLASSES, buildModel, keyOf, type LbModel, type Problem } from './model.ts';
import { renderStatus } from './render.ts';

export interface LoadBalancerDeps {
  families: AddressFamilies;
  informers: Informers;
}

/**
 * The Lease the allocators of a cluster share: kube-router's name, so that
 * while a cluster moves from kube-router's agents to krouter's, one of either
 * allocates and never one of each.
 */
export const LEASE_NAME = 'kube-router-lballoc';

/** The Lease's namespace: $POD_NAMESPACE, else the service account's namespace, else kube-system. */
export function leaseNamespace(env: NodeJS.ProcessEnv = process.env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): string {
  if (env.POD_NAMESPACE?.trim()) return env.POD_NAMESPACE.trim();
  try {
    const ns = readFile('/var/run/secrets/kubernetes.io/serviceaccount/namespace').trim();
    if (ns) return ns;
  } catch {
    // not in a pod
  }
  return 'kube-system';
}

type Reason = 'service' | 'leader';

/**
 * A status this agent wrote that the informer has not shown yet: the Service
 * as stored, and the versions it replaced (the one decided on, and earlier
 * writes of this agent the cache has not shown either).
 */
interface Written {
  superseded: Set<string | undefined>;
  stored: V1Service;
}

interface LbMetrics {
  allocated: Gauge;
  free: Gauge;
  leader: Gauge;
  writes: Counter;
}

/** The plugin's state between syncs and its sync: Services -> model (pure) -> status writes (leader only). */
export class LoadBalancerAgent {
  readonly ranges: PerFamily<HostRange[]>;
  private model: LbModel | undefined;
  private readonly written = new Map<string, Written>();
  private reported = new Set<string>();
  private readonly metrics: LbMetrics;
  elector: Pick<LeaderElector, 'isLeader' | 'holder'> = { isLeader: () => false, holder: () => undefined };

  constructor(
    private readonly ctx: PluginContext<LoadBalancerConfig>,
    private readonly deps: LoadBalancerDeps,
  ) {
    const split = deps.families.split(ctx.config.ipRanges.map((r) => r.trim()));
    if (split.ignored.length) ctx.logger.warn('ipRanges of a family that is not enabled are ignored', { ipRanges: split.ignored });
    this.ranges = perFamily((f) => split[f].map((c) => hostRange(c)));
    const m = ctx.metrics;
    this.metrics = {
      allocated: m.gauge({ name: 'loadbalancer_addresses_allocated', help: 'LoadBalancer ingress addresses allocated from the ranges, per family', labelNames: ['family'] }),
      free: m.gauge({ name: 'loadbalancer_addresses_free', help: 'Addresses of the LoadBalancer ranges no Service holds, per family', labelNames: ['family'] }),
      leader: m.gauge({ name: 'loadbalancer_leader', help: '1 while this agent holds the allocator lease (and writes statuses), else 0' }),
      writes: m.counter({ name: 'loadbalancer_status_writes_total', help: 'Service status writes by result (written, stale, gone, failed)', labelNames: ['result'] }),
    };
    this.metrics.leader.set(0);
  }

  /** The cached Services, with the statuses this agent wrote and the cache does not show yet. */
  private services(): V1Service[] {
    const out: V1Service[] = [];
    const seen = new Set<string>();
    for (const svc of this.deps.informers.services.list()) {
      const key = keyOf(svc);
      seen.add(key);
      const w = this.written.get(key);
      // The cache still shows a version the write replaced: it is behind it.
      if (w && w.superseded.has(svc.metadata?.resourceVersion) && w.stored.metadata?.uid === svc.metadata?.uid) out.push(w.stored);
      else {
        if (w) this.written.delete(key);
        out.push(svc);
      }
    }
    for (const key of this.written.keys()) if (!seen.has(key)) this.written.delete(key);
    return out;
  }

  computeModel(): LbModel {
    return buildModel({
      families: this.deps.families.enabled,
      ranges: this.ranges,
      defaultClass: this.ctx.config.defaultClass,
      services: this.services(),
    });
  }

  async sync(): Promise<void> {
    const model = this.computeModel();
    this.model = model;
    for (const f of this.deps.families.enabled) {
      this.metrics.allocated.set({ family: f }, model.allocations[f].length);
      this.metrics.free.set({ family: f }, Number(model.free[f]));
    }
    const leader = this.elector.isLeader();
    this.metrics.leader.set(leader ? 1 : 0);
    if (!leader) {
      // A new leader reports afresh.
      this.reported = new Set();
      return;
    }
    await this.report(model.problems);

    const failures: string[] = [];
    for (const w of model.writes) {
      // Leadership can end during a long sync: never write without it.
      if (!this.elector.isLeader()) {
        this.ctx.logger.warn('lost the allocator lease during a sync; leaving the remaining writes to the new leader', { remaining: model.writes.length });
        break;
      }
      const res = await writeStatus(this.deps.informers.api, renderStatus(w));
      this.metrics.writes.inc({ result: res.result });
      if (res.result === 'written') {
        const base = w.service.metadata?.resourceVersion;
        const prev = this.written.get(w.key);
        // Decided on an earlier write of ours the cache has not shown: what that one replaced is behind too.
        const superseded = new Set(prev && prev.stored.metadata?.resourceVersion === base ? [...prev.superseded, base] : [base]);
        this.written.set(w.key, { superseded, stored: res.stored });
        this.ctx.logger.info('service status written', { service: w.key, ingress: w.ingress, added: w.added, removed: w.removed });
        if (w.added.length) {
          await this.event(w.service, 'Normal', 'IPAllocated', `allocated ${w.added.join(', ')}`);
        }
      } else if (res.result === 'failed') {
        failures.push(`${w.key}: ${res.error.message}`);
      } else {
        this.ctx.logger.debug('service changed or went away before its status was written; deciding again', { service: w.key, result: res.result });
      }
    }
    if (failures.length) throw new Error(`could not write ${failures.length} service status(es): ${failures.join('; ')}`);
  }

  /** One log line and one Warning event per problem; a problem that goes away may be reported again later. */
  private async report(problems: Problem[]): Promise<void> {
    const now = new Set<string>();
    for (const p of problems) {
      const key = `${p.uid ?? p.service}|${p.reason}|${p.message}`;
      now.add(key);
      if (this.reported.has(key)) continue;
      this.ctx.logger.warn('load balancer address not allocated as asked', { service: p.service, reason: p.reason, problem: p.message });
      const [namespace, name] = p.service.split('/') as [string, string];
      await this.deps.informers.api
        .recordEvent({ kind: 'Service', namespace, name, ...(p.uid ? { uid: p.uid } : {}) }, 'Warning', p.reason, p.message)
        .catch(() => undefined);
    }
    this.reported = now;
  }

  private async event(svc: V1Service, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const uid = svc.metadata?.uid;
    await this.deps.informers.api
      .recordEvent({ kind: 'Service', namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '', ...(uid ? { uid } : {}) }, type, reason, message)
      .catch(() => undefined);
  }

  status(lease: string): unknown {
    const model = this.model ?? this.computeModel();
    const families = this.deps.families.enabled;
    return {
      leader: this.elector.isLeader(),
      holder: this.elector.holder() || null,
      lease,
      classes: [...LOADBALANCER_CLASSES, ...(this.ctx.config.defaultClass ? ['(none)', 'default'] : [])],
      ranges: Object.fromEntries(families.map((f) => [f, this.ranges[f].map((r) => r.cidr)])),
      allocations: Object.fromEntries(families.map((f) => [f, model.allocations[f].map((a) => `${a.service} ${a.ip}`)])),
      free: Object.fromEntries(families.map((f) => [f, model.free[f].toString()])),
      problems: model.problems.map((p) => `${p.service}: ${p.reason}: ${p.message}`),
    };
  }
}

export interface StartOptions {
  debounceMs?: number;
  minIntervalMs?: number;
  /** The Lease (defaults: LEASE_NAME in leaseNamespace(); client-go's 15 s / 10 s / 2 s). */
  lease?: { namespace?: string; name?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
}

/** Starts the allocator: leader election, and a reconcile loop over the Services that only the leader lets write. */
export async function startLoadBalancer(
  ctx: PluginContext<LoadBalancerConfig>,
  deps: LoadBalancerDeps,
  opts: StartOptions = {},
): Promise<PluginInstance & { agent: LoadBalancerAgent; elector: LeaderElector; syncCount(): number }> {
  const agent = new LoadBalancerAgent(ctx, deps);
  const reconciler = createReconciler<Reason>({
    name: 'loadbalancer',
    sync: () => agent.sync(),
    logger: ctx.logger,
    metrics: ctx.metrics,
    health: ctx.health,
    signal: ctx.signal,
    resyncIntervalMs: ctx.config.syncPeriod,
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
    ...(opts.minIntervalMs !== undefined ? { minIntervalMs: opts.minIntervalMs } : {}),
  });
  const namespace = opts.lease?.namespace ?? leaseNamespace();
  const name = opts.lease?.name ?? LEASE_NAME;
  const elector = createLeaderElector({
    api: deps.informers.api,
    namespace,
    name,
    identity: ctx.nodeName,
    logger: ctx.logger,
    ...(opts.lease?.leaseDurationMs !== undefined ? { leaseDurationMs: opts.lease.leaseDurationMs } : {}),
    ...(opts.lease?.renewDeadlineMs !== undefined ? { renewDeadlineMs: opts.lease.renewDeadlineMs } : {}),
    ...(opts.lease?.retryPeriodMs !== undefined ? { retryPeriodMs: opts.lease.retryPeriodMs } : {}),
    // Leading starts with a full sync; losing the lease shows in the next one.
    onChange: () => reconciler.trigger('leader'),
  });
  agent.elector = elector;
  const off = deps.informers.services.onChange(() => reconciler.trigger('service'));
  try {
    await deps.informers.waitForSync(60_000);
  } catch (err) {
    ctx.logger.warn('informers not synced yet; allocating once they are', { error: (err as Error).message });
  }
  ctx.logger.info('load balancer allocator starting', {
    ranges: Object.fromEntries(deps.families.enabled.map((f) => [f, agent.ranges[f].map((r) => r.cidr)])),
    lease: `${namespace}/${name}`,
    identity: ctx.nodeName,
  });
  await reconciler.start();
  elector.start();
  let stopped = false;
  return {
    agent,
    elector,
    syncCount: () => reconciler.syncCount,
    async stop() {
      if (stopped) return;
      stopped = true;
      off();
      await reconciler.stop();
      // After the last sync: a standby may write as soon as the lease is handed back.
      await elector.stop();
    },
    status: () => agent.status(`${namespace}/${name}`),
  };
}
