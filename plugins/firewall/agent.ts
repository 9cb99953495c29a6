import {
  createReconciler,
  driftRepairs,
  nftTableDrift,
  type AddressFamilies,
  type DriftRepairs,
  type Change,
  type Counter,
  type Gauge,
  type Histogram,
  type Informers,
  type Logger,
  type Nftables,
  type PluginContext,
  type PluginInstance,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
} from '@krouter/sdk';
import { applyElements, readTable, removeTable, replaceTable } from './apply.ts';
import type { FirewallConfig } from './config.ts';
import { CounterTracker, countersOf } from './counters.ts';
import { diffElements } from './diff.ts';
import { buildModel, updatePods, type FirewallModel } from './model.ts';
import { TABLE } from './names.ts';
import type { Problem } from './policies.ts';
import { readPod, type PodView } from './pods.ts';
import { renderBody, renderElementScript, renderStructure, type RenderOptions } from './render.ts';
import { firewallStatus } from './status.ts';

export interface FirewallDeps {
  families: AddressFamilies;
  nftables: Nftables;
  informers: Informers;
}

/**
 * What the next sync must do. `replace`: write the whole table (start,
 * periodic resync, after a failed write: the kernel may differ from what we
 * think). `rebuild`: recompute everything (policies, namespaces, the node
 * changed) and write only element changes if the rules stayed the same.
 * Otherwise only the pods marked dirty are recomputed.
 */
type FullKind = 'replace' | 'rebuild';
export type SyncKind = FullKind | 'pods';

/** Warning event reasons this plugin raises. */
type EventReason = 'InvalidNetworkPolicy';

interface FirewallMetrics {
  denied: Counter;
  pending: Counter;
  syncSeconds: Histogram;
  scriptBytes: Gauge;
  policies: Gauge;
  problems: Gauge;
}

export class FirewallAgent {
  private model: FirewallModel | undefined;
  private full: FullKind | undefined = 'replace';
  private readonly dirtyPods = new Set<string>();
  private warnedUnguarded = '';
  private reported = new Set<string>();
  private readonly tracker = new CounterTracker();
  private readonly logger: Logger;
  private readonly metrics: FirewallMetrics;
  private readonly drift: DriftRepairs;
  /** The next whole-table write is the periodic resync's: compare the kernel's table with what was applied. */
  private checkDrift = false;
  /** Last sync's kind and script size, for tests and benchmarks. */
  last: { kind: SyncKind; bytes: number } | undefined;

  constructor(
    private readonly ctx: PluginContext<FirewallConfig>,
    private readonly deps: FirewallDeps,
  ) {
    this.logger = ctx.logger;
    const m = ctx.metrics;
    this.metrics = {
      denied: m.counter({ name: 'firewall_denied_packets_total', help: 'Packets dropped because no policy allowed them', labelNames: ['policy', 'direction', 'family'] }),
      pending: m.counter({ name: 'firewall_pending_dropped_packets_total', help: 'Packets of pod addresses not yet judged, dropped', labelNames: ['family'] }),
      syncSeconds: m.histogram({
        name: 'firewall_sync_duration_seconds',
        help: 'Firewall syncs by kind: whole table, element patch after a rebuild, pod changes only',
        labelNames: ['kind'],
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      }),
      scriptBytes: m.gauge({ name: 'firewall_last_script_bytes', help: 'Size of the last nft script written', labelNames: ['kind'] }),
      policies: m.gauge({ name: 'firewall_policies', help: 'NetworkPolicies compiled' }),
      problems: m.gauge({ name: 'firewall_policy_problems', help: 'Parts of policies that cannot be enforced and match nothing' }),
    };
    this.drift = driftRepairs(m, 'firewall');
  }

  private get options(): RenderOptions {
    return { defaultDeny: this.ctx.config.defaultDeny, log: this.ctx.config.log };
  }

  markFull(kind: FullKind): void {
    if (this.full !== 'replace') this.full = kind;
  }

  /** The periodic resync: write the whole table, and count what it finds changed by hand. */
  markResync(): void {
    this.markFull('replace');
    this.checkDrift = true;
  }

  markPod(key: string): void {
    this.dirtyPods.add(key);
  }

  async sync(): Promise<void> {
    const end = (kind: SyncKind) => this.metrics.syncSeconds.startTimer({ kind });
    const full = this.full;
    if (full || !this.model) {
      const kind = full ?? 'replace';
      const stop = end(kind);
      // Taken before reading the caches: events during the sync mark again.
      this.full = undefined;
      const checkDrift = this.checkDrift;
      this.checkDrift = false;
      this.dirtyPods.clear();
      try {
        await this.syncAll(kind, checkDrift);
      } catch (err) {
        this.full = 'replace';
        throw err;
      } finally {
        stop();
      }
    } else if (this.dirtyPods.size) {
      const stop = end('pods');
      const keys = [...this.dirtyPods];
      this.dirtyPods.clear();
      try {
        await this.syncPods(this.model, keys);
      } catch (err) {
        // The model already holds the new elements; the kernel may not.
        this.full = 'replace';
        throw err;
      } finally {
        stop();
      }
    }
    await this.reportProblems(this.model?.problems ?? []);
  }

  private buildModel(): FirewallModel {
    const { families, informers } = this.deps;
    const node = informers.nodes.get(this.ctx.nodeName);
    return buildModel({
      families: families.enabled,
      nodeName: this.ctx.nodeName,
      node: node ? families.nodeNetwork(node) : undefined,
      pods: informers.pods.list(),
      namespaces: informers.namespaces.list(),
      policies: informers.networkPolicies.list(),
    });
  }

  private async syncAll(kind: FullKind, checkDrift = false): Promise<void> {
    const previous = this.model;
    const model = this.buildModel();
    // Rules are compared only when a rebuild may get away with an element patch; a replace need not know.
    if (kind === 'rebuild' && previous && renderStructure(model, this.options) === renderStructure(previous, this.options)) {
      const script = renderElementScript(diffElements(previous.index.elements, model.index.elements));
      await applyElements(this.deps.nftables, script);
      this.last = { kind, bytes: script.length };
    } else {
      const body = renderBody(model, this.options);
      // Drift is told only when nothing changed since the last write: the table applied then is the one written now.
      const unchanged = (prev: FirewallModel) =>
        renderStructure(model, this.options) === renderStructure(prev, this.options) && renderElementScript(diffElements(prev.index.elements, model.index.elements)) === '';
      const kernelBefore = checkDrift && previous && unchanged(previous) ? { json: await readTable(this.deps.nftables) } : undefined;
      await replaceTable(this.deps.nftables, body);
      if (kernelBefore) {
        const objects = nftTableDrift(await readTable(this.deps.nftables), kernelBefore.json);
        if (objects.length) {
          this.drift.repaired(objects);
          this.logger.warn('firewall table differed from what was applied (changed by hand?); repaired', { table: `${TABLE.family} ${TABLE.name}`, objects });
        }
      }
      this.last = { kind: 'replace', bytes: body.length };
      this.logger.info('firewall table written', { table: `${TABLE.family} ${TABLE.name}`, policies: model.compiled.policies.length, bytes: body.length });
    }
    this.model = model;
    const unguarded = model.families.filter((f) => !model.podCIDRs[f]);
    const key = unguarded.join(',');
    if (this.ctx.config.defaultDeny && key && key !== this.warnedUnguarded) {
      // Without a pod CIDR the firewall cannot tell a new pod's address from any other: no pending drop.
      this.logger.warn('this node has no pod CIDR for a family yet; new pods of that family are not held back until judged', { families: unguarded });
    }
    this.warnedUnguarded = key;
    this.metrics.scriptBytes.set({ kind: this.last.kind }, this.last.bytes);
    this.metrics.policies.set(model.compiled.policies.length);
  }

  private async syncPods(model: FirewallModel, keys: readonly string[]): Promise<void> {
    const changes = updatePods(
      model,
      keys.map((key) => ({ key, pod: this.deps.informers.pods.get(key) })),
    );
    const script = renderElementScript(changes);
    await applyElements(this.deps.nftables, script);
    this.last = { kind: 'pods', bytes: script.length };
    this.metrics.scriptBytes.set({ kind: 'pods' }, script.length);
  }

  /** One error line and one Warning event on the policy per new problem. */
  private async reportProblems(problems: readonly Problem[]): Promise<void> {
    this.metrics.problems.set(problems.length);
    const now = new Set<string>();
    for (const p of problems) {
      const text = `${p.field}: ${p.message}`;
      const id = `${p.policy} ${text}`;
      now.add(id);
      if (this.reported.has(id)) continue;
      this.logger.error('network policy part cannot be enforced; it matches nothing', { policy: p.policy, field: p.field, problem: p.message });
      const [namespace, name] = p.policy.split('/') as [string, string];
      const uid = this.deps.informers.networkPolicies.get(p.policy)?.metadata?.uid;
      const reason: EventReason = 'InvalidNetworkPolicy';
      await this.deps.informers.api
        .recordEvent({ kind: 'NetworkPolicy', namespace, name, ...(uid ? { uid } : {}) }, 'Warning', reason, text)
        .catch(() => undefined);
    }
    this.reported = now;
  }

  /** Reads the nft counters into the denied-packet metrics. */
  async readCounters(): Promise<void> {
    const model = this.model;
    if (!model) return;
    const json = await readTable(this.deps.nftables);
    if (json === undefined) return;
    const byId = new Map(model.compiled.policies.map((p) => [p.id, p.key]));
    const { denied, pending } = this.tracker.update(countersOf(json));
    for (const d of denied) {
      this.metrics.denied.inc({ policy: byId.get(d.policyId) ?? d.policyId, direction: d.direction, family: d.family }, d.packets);
    }
    for (const p of pending) this.metrics.pending.inc({ family: p.family }, p.packets);
  }

  status(): unknown {
    const families = this.deps.families.enabled;
    const local = this.deps.informers.pods
      .list()
      .filter((p) => p.spec?.nodeName === this.ctx.nodeName)
      .map((p) => readPod(p, families))
      .filter((p): p is PodView => p !== undefined);
    return firewallStatus(this.model, local, { table: `${TABLE.family} ${TABLE.name}`, defaultDeny: this.ctx.config.defaultDeny, families });
  }

  get current(): FirewallModel | undefined {
    return this.model;
  }
}

/** Fields of a pod the firewall reads; an update that changes none of them is ignored. */
function podFingerprint(pod: V1Pod | undefined): string {
  return JSON.stringify([
    pod?.metadata?.labels,
    pod?.spec?.nodeName,
    pod?.spec?.hostNetwork,
    pod?.status?.phase,
    pod?.status?.podIPs ?? pod?.status?.podIP,
    pod?.spec?.containers?.map((c) => c.ports),
    pod?.spec?.initContainers?.map((c) => c.ports),
  ]);
}

function nodeFingerprint(node: V1Node | undefined): string {
  return JSON.stringify([node?.spec?.podCIDRs, node?.spec?.podCIDR, node?.metadata?.annotations, node?.status?.addresses]);
}

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace}/${o.metadata?.name}`;

export interface StartOptions {
  debounceMs?: number;
  minIntervalMs?: number;
}

/** Starts the agent: informer events mark what changed and trigger the reconcile loop. */
export async function startFirewall(
  ctx: PluginContext<FirewallConfig>,
  deps: FirewallDeps,
  opts: StartOptions = {},
): Promise<PluginInstance & { agent: FirewallAgent; syncNow(): Promise<void>; /** Stops the agent and removes its table. */ cleanup(): Promise<void> }> {
  const agent = new FirewallAgent(ctx, deps);
  const reconciler = createReconciler({
    name: 'firewall',
    sync: (reasons) => {
      // The reconcile loop's periodic resync writes the whole table, repairing any drift.
      if (reasons.includes('resync')) agent.markResync();
      return agent.sync();
    },
    logger: ctx.logger,
    metrics: ctx.metrics,
    health: ctx.health,
    signal: ctx.signal,
    // Pod add -> enforced is a target of a few hundred ms: gather briefly, never wait long.
    debounceMs: opts.debounceMs ?? 10,
    minIntervalMs: opts.minIntervalMs ?? 50,
    resyncIntervalMs: ctx.config.resyncSeconds * 1000,
  });
  const off = [
    deps.informers.pods.onChange((c: Change<V1Pod>) => {
      if (c.type === 'update' && podFingerprint(c.old) === podFingerprint(c.object)) return;
      agent.markPod(keyOf(c.object));
      reconciler.trigger('pod');
    }),
    deps.informers.namespaces.onChange((c: Change<V1Namespace>) => {
      if (c.type === 'update' && JSON.stringify(c.old?.metadata?.labels) === JSON.stringify(c.object.metadata?.labels)) return;
      agent.markFull('rebuild');
      reconciler.trigger('namespace');
    }),
    deps.informers.networkPolicies.onChange((c: Change<V1NetworkPolicy>) => {
      if (c.type === 'update' && JSON.stringify(c.old?.spec) === JSON.stringify(c.object.spec)) return;
      agent.markFull('rebuild');
      reconciler.trigger('networkpolicy');
    }),
    deps.informers.nodes.onChange((c: Change<V1Node>) => {
      if (c.object.metadata?.name !== ctx.nodeName) return;
      if (c.type === 'update' && nodeFingerprint(c.old) === nodeFingerprint(c.object)) return;
      agent.markFull('rebuild');
      reconciler.trigger('node');
    }),
  ];
  try {
    await deps.informers.waitForSync();
  } catch (err) {
    ctx.logger.warn('informers not synced yet; the firewall syncs as objects arrive', { error: (err as Error).message });
  }
  await reconciler.start();
  let counterTimer: NodeJS.Timeout | undefined;
  if (ctx.config.countersIntervalSeconds > 0) {
    counterTimer = setInterval(() => {
      agent.readCounters().catch((err: unknown) => ctx.logger.debug('reading firewall counters failed', { error: String(err) }));
    }, ctx.config.countersIntervalSeconds * 1000);
    counterTimer.unref?.();
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    off.forEach((o) => o());
    if (counterTimer) clearInterval(counterTimer);
    await reconciler.stop();
    // The table stays: the next start adopts it and replaces it in one transaction.
  };
  return {
    agent,
    syncNow: () => reconciler.syncNow('manual'),
    stop,
    status: () => agent.status(),
    cleanup: async () => {
      await stop();
      await cleanupFirewall(deps, ctx.logger);
    },
  };
}

/** Removes the firewall's table and nothing else. */
export async function cleanupFirewall(deps: Pick<FirewallDeps, 'nftables'>, logger: Logger): Promise<void> {
  if (await removeTable(deps.nftables)) logger.info('firewall table removed', { table: `${TABLE.family} ${TABLE.name}` });
}
