import {
  POD_CIDRS_ANNOTATION,
  createReconciler,
  driftRepairs,
  nftTableDrift,
  type AddressFamilies,
  type DriftRepairs,
  type Change,
  type Exec,
  type Informers,
  type Logger,
  type Nftables,
  type PerFamily,
  type PluginContext,
  type PluginInstance,
  type V1EndpointSlice,
  type V1Node,
  type V1Service,
} from '@krouter/sdk';
import { applyFull, applyPartial, readTable, removeTable } from './apply.ts';
import { ElementClaims } from './claims.ts';
import type { ServiceProxyConfig } from './config.ts';
import { planConntrack, runConntrackDeletions } from './conntrack.ts';
import { HealthCheckServers, type HealthCheckTarget } from './health-server.ts';
import {
  SERVICE_NAME_LABEL,
  ZONE_LABEL,
  buildContext,
  buildGlobals,
  buildService,
  buildServices,
  keyOf,
  sliceServiceKey,
  type Globals,
  type PortState,
  type Problem,
  type ProxyContext,
  type ServiceState,
} from './model.ts';
import { TABLE } from './names.ts';
import { renderBody, renderPartial, renderService, type Fragment, type FragmentChange } from './render.ts';
import { ServiceProxyMetrics } from './metrics.ts';
import { statusOf } from './status.ts';

export interface ServiceProxyDeps {
  families: AddressFamilies;
  nftables: Nftables;
  informers: Informers;
  exec: Exec;
}

export type SyncMode = 'full' | 'partial';

/** Reasons the reconcile loop itself gives (start, periodic resync, retry after a failure): each means a full sync. */
const FULL_SYNC_REASONS: ReadonlySet<string> = new Set(['start', 'resync', 'retry']);

export interface LastSync {
  mode: SyncMode;
  durationMs: number;
  bytes: number;
  services: number;
  at: string;
}

/**
 * The service proxy's state between syncs and its sync step. Everything is
 * read from the informer caches: Services + EndpointSlices + Nodes -> model
 * (pure) -> render (pure) -> one nftables transaction. Events only mark
 * services dirty; a sync rebuilds just those (partial) unless the node-wide
 * context changed, a sync failed, or the periodic resync is due (full).
 */
export class ServiceProxyAgent {
  private services = new Map<string, ServiceState>();
  private context: ProxyContext | undefined;
  private globals: Globals | undefined;
  private stateKey: string | undefined;
  private needFull = true;
  private dirty = new Set<string>();
  private reported = new Map<string, Set<string>>();
  private readonly claims = new ElementClaims();
  private readonly healthChecks: HealthCheckServers;
  private readonly metrics: ServiceProxyMetrics;
  private readonly drift: DriftRepairs;
  private readonly logger: Logger;
  last: LastSync | undefined;
  /** Called when services wait for an address another one let go of; the host wires it to a sync trigger. */
  onRetry: (reason: string) => void = () => undefined;

  constructor(
    private readonly ctx: PluginContext<ServiceProxyConfig>,
    private readonly deps: ServiceProxyDeps,
  ) {
    this.logger = ctx.logger;
    this.metrics = new ServiceProxyMetrics(ctx.metrics);
    this.drift = driftRepairs(ctx.metrics, 'service-proxy');
    this.healthChecks = new HealthCheckServers(deps.families.enabled, ctx.logger);
  }

  get config(): ServiceProxyConfig {
    return this.ctx.config;
  }

  /** A service (by `namespace/name`) whose objects changed; the next sync rebuilds it. */
  markDirty(key: string): void {
    this.dirty.add(key);
  }

  /** Next sync is a full one. */
  requestFull(): void {
    this.needFull = true;
  }

  async sync(reasons: readonly string[] = []): Promise<SyncMode> {
    const { families, informers } = this.deps;
    const enabled = families.enabled;
    const nodeName = this.ctx.nodeName;
    const localObject = informers.nodes.get(nodeName);
    if (!localObject) throw new Error(`node ${JSON.stringify(nodeName)} is not known to the API server (yet)`);
    const local = families.nodeNetwork(localObject);
    const zone = localObject.metadata?.labels?.[ZONE_LABEL];
    const context = buildContext(this.config, enabled, { name: nodeName, ...(zone ? { zone } : {}) });
    const globals = buildGlobals(this.config, enabled, local, informers.nodes.list().map((n) => families.nodeNetwork(n)));
    const stateKey = JSON.stringify([context, globals]);
    const full = this.needFull || stateKey !== this.stateKey || reasons.some((r) => FULL_SYNC_REASONS.has(r));
    const t0 = performance.now();
    const dirty = this.dirty;
    this.dirty = new Set();
    try {
      const { bytes, count } = full ? await this.fullSync(context, globals, reasons.includes('resync')) : await this.partialSync(context, globals, dirty);
      this.stateKey = stateKey;
      this.needFull = false;
      const mode: SyncMode = full ? 'full' : 'partial';
      const durationMs = performance.now() - t0;
      this.metrics.synced(mode, durationMs / 1000, bytes);
      this.last = { mode, durationMs, bytes, services: count, at: new Date().toISOString() };
      return mode;
    } catch (err) {
      // The kernel may hold anything between the old and the new state: repair it whole.
      this.needFull = true;
      for (const k of dirty) this.dirty.add(k);
      throw err;
    }
  }

  private async fullSync(context: ProxyContext, globals: Globals, checkDrift = false): Promise<{ bytes: number; count: number }> {
    const { informers } = this.deps;
    const services = buildServices(informers.services.list(), informers.endpointSlices.list(), context);
    // The periodic resync counts what it repairs: drift is told only when nothing changed since the last
    // write, so that the table applied then is the one written now. The last write's body is rendered
    // again from the kept states (no copy of it is kept between syncs).
    const previous = checkDrift && this.globals ? renderBody(this.globals, this.appliedFragments()) : undefined;
    this.claims.reset();
    // Oldest key first, so the same service keeps a contested address on every node and every run.
    // Fragments are rendered as the body consumes them: none is kept (they are rendered again from the
    // state when a partial sync needs the old one).
    // A full sync (start, periodic resync, repair) must not send affinity's clients elsewhere: the
    // kernel's affinity sets keep their elements.
    const dynamicSets: string[] = [];
    const body = renderBody(globals, this.claimedFragments(services, globals, dynamicSets));
    const kernelBefore = previous === body ? { json: await readTable(this.deps.nftables) } : undefined;
    const bytes = await applyFull(this.deps.nftables, body, dynamicSets);
    if (kernelBefore) {
      const objects = nftTableDrift(await readTable(this.deps.nftables), kernelBefore.json);
      if (objects.length) {
        this.drift.repaired(objects);
        this.logger.warn('service proxy table differed from what was applied (changed by hand?); repaired', { table: `${TABLE.family} ${TABLE.name}`, objects });
      }
    }
    const oldPorts = this.context ? [...this.services.values()].flatMap((s) => s.ports) : [];
    const hadState = this.context !== undefined;
    this.services = services;
    this.context = context;
    this.globals = globals;
    this.metrics.recount(services.values(), this.deps.families.enabled);
    this.logger.info('service proxy table replaced', { table: `${TABLE.family} ${TABLE.name}`, services: services.size, bytes });
    await this.afterApply(hadState ? oldPorts : [], [...services.values()].flatMap((s) => s.ports), [...services.keys()], true);
    return { bytes, count: services.size };
  }

  /** Every service's fragment, claimed in key order, rendered as the caller consumes them; their sets' names go to `sets`. */
  private *claimedFragments(services: ReadonlyMap<string, ServiceState>, globals: Globals, sets: string[]): Generator<Fragment> {
    for (const k of [...services.keys()].sort()) {
      const s = services.get(k)!;
      const fragment = this.claimed(s, renderService(s, globals));
      sets.push(...fragment.sets.keys());
      yield fragment;
    }
  }

  /**
   * What was applied for a service: its last state rendered again with the last globals (rendering is
   * pure, and a partial sync runs only while the globals are unchanged), less the elements another
   * service owns.
   */
  private appliedFragment(key: string): Fragment | undefined {
    const state = this.services.get(key);
    return state && this.globals ? this.claims.applied(key, renderService(state, this.globals)) : undefined;
  }

  /** Every service's applied fragment, in the order a full sync renders them. */
  private *appliedFragments(): Generator<Fragment> {
    for (const k of [...this.services.keys()].sort()) yield this.appliedFragment(k)!;
  }

  private async partialSync(context: ProxyContext, globals: Globals, keys: ReadonlySet<string>): Promise<{ bytes: number; count: number }> {
    const { informers } = this.deps;
    const changes: Array<FragmentChange & { key: string; state: ServiceState | undefined; before: ServiceState | undefined }> = [];
    const retry = new Set<string>();
    // The changed services' slices through the informer's label index: the cost is in their slices,
    // not in their namespaces' (listing the namespace made one change among 30,000 services in one
    // namespace cost ~35 ms of JavaScript).
    const slicesOf = new Map<string, V1EndpointSlice[]>();
    for (const key of keys) {
      const slash = key.indexOf('/');
      const slices = informers.endpointSlices.listByLabel(key.slice(0, slash), SERVICE_NAME_LABEL, key.slice(slash + 1));
      if (slices.length) slicesOf.set(key, slices);
    }
    for (const key of keys) {
      const svc = informers.services.get(key);
      const state = svc ? buildService(svc, slicesOf.get(key) ?? [], context) : undefined;
      const rendered = state ? renderService(state, globals) : undefined;
      const old = this.appliedFragment(key);
      for (const k of this.claims.release(key, old, rendered)) retry.add(k);
      const next = state && rendered ? this.claimed(state, rendered) : undefined;
      changes.push({ key, state, before: this.services.get(key), ...(old ? { old } : {}), ...(next ? { new: next } : {}) });
    }
    const bytes = await applyPartial(this.deps.nftables, renderPartial(changes));
    for (const c of changes) {
      this.metrics.replace(c.before, c.state, this.deps.families.enabled);
      if (c.state && c.new) {
        this.services.set(c.key, c.state);
      } else {
        this.services.delete(c.key);
      }
    }
    // Services that waited for an address one of these let go of: next sync (also those of this batch
    // that were rendered before the address was let go of).
    const waiting = [...retry];
    if (waiting.length) {
      for (const k of waiting) this.dirty.add(k);
      this.onRetry('address released');
    }
    await this.afterApply(
      changes.flatMap((c) => c.before?.ports ?? []),
      changes.flatMap((c) => c.state?.ports ?? []),
      changes.map((c) => c.key),
      false,
    );
    return { bytes, count: changes.length };
  }

  /** The fragment without the elements another service owns; each one lost is a problem of this service. */
  private claimed(state: ServiceState, frag: Fragment): Fragment {
    for (const { map, key, owner } of this.claims.claim(state.key, frag)) {
      state.problems.push({
        kind: 'Service',
        namespace: state.namespace,
        name: state.name,
        field: 'spec.externalIPs / status.loadBalancer.ingress',
        reason: 'AddressConflict',
        message: `Service ${state.key}: ${key} (${map}) is already served for Service ${owner}; not served for this one while that one has it`,
      });
    }
    return frag;
  }

  /** After the table holds the new state: conntrack, health check ports, problem reports. */
  private async afterApply(oldPorts: PortState[], newPorts: PortState[], keys: string[], full: boolean): Promise<void> {
    if (this.config.conntrackCleanup) {
      const deletions = planConntrack(oldPorts, newPorts);
      if (deletions.length) this.metrics.conntrack(await runConntrackDeletions(this.deps.exec, deletions, this.logger));
    }
    if (this.config.healthCheckNodePorts) await this.healthChecks.sync(this.healthCheckTargets());
    await this.reportProblems(keys, full);
  }

  private healthCheckTargets(): Map<number, HealthCheckTarget> {
    const out = new Map<number, HealthCheckTarget>();
    for (const s of this.services.values()) {
      if (s.healthCheck) out.set(s.healthCheck.port, { namespace: s.namespace, name: s.name, localEndpoints: s.healthCheck.localEndpoints });
    }
    return out;
  }

  /** One error line, one Warning event and one count per new problem; a fixed problem may be reported again later. */
  private async reportProblems(keys: readonly string[], full: boolean): Promise<void> {
    if (full) for (const k of this.reported.keys()) if (!this.services.has(k)) this.reported.delete(k);
    for (const key of keys) {
      const problems = this.services.get(key)?.problems ?? [];
      const before = this.reported.get(key) ?? new Set<string>();
      const now = new Set<string>();
      for (const p of problems) {
        now.add(p.message);
        if (!before.has(p.message)) await this.report(p);
      }
      if (now.size) this.reported.set(key, now);
      else this.reported.delete(key);
    }
  }

  private async report(p: Problem): Promise<void> {
    this.metrics.problem(p.reason);
    this.logger.error('bad service input; this part is not served, the rest is', { object: `${p.kind} ${keyOf(p.namespace, p.name)}`, field: p.field, problem: p.message });
    await this.deps.informers.api
      .recordEvent({ kind: p.kind, name: p.name, namespace: p.namespace, ...(p.uid ? { uid: p.uid } : {}) }, 'Warning', p.reason, p.message)
      .catch(() => undefined);
  }

  status(): unknown {
    return statusOf({
      families: this.deps.families.enabled,
      services: this.services.values(),
      counts: this.metrics.totals(),
      last: this.last,
      healthCheckPorts: this.healthChecks.ports(),
      problems: [...this.reported.values()].flatMap((s) => [...s]),
    });
  }

  /** Counts per family, for tests and metrics. */
  counts(): PerFamily<{ services: number; endpoints: number }> {
    return this.metrics.totals();
  }

  async close(): Promise<void> {
    await this.healthChecks.close();
  }
}

/** Fields of a Node whose change can change the node-wide context (zone, addresses, pod CIDRs). */
function nodeFingerprint(node: V1Node | undefined): string {
  return JSON.stringify([node?.metadata?.labels?.[ZONE_LABEL], node?.metadata?.annotations?.[POD_CIDRS_ANNOTATION], node?.spec?.podCIDRs, node?.spec?.podCIDR, node?.status?.addresses]);
}

export interface StartOptions {
  debounceMs?: number;
  minIntervalMs?: number;
  resyncIntervalMs?: number;
}

export async function startServiceProxy(
  ctx: PluginContext<ServiceProxyConfig>,
  deps: ServiceProxyDeps,
  opts: StartOptions = {},
): Promise<PluginInstance & { agent: ServiceProxyAgent; syncCount(): number; syncNow(reason?: string): Promise<void>; /** Stops the agent and removes its table. */ cleanup(): Promise<void> }> {
  const agent = new ServiceProxyAgent(ctx, deps);
  const reconciler = createReconciler({
    name: 'service-proxy',
    sync: async (reasons) => void (await agent.sync(reasons)),
    logger: ctx.logger,
    metrics: ctx.metrics,
    health: ctx.health,
    signal: ctx.signal,
    debounceMs: opts.debounceMs ?? 10,
    minIntervalMs: opts.minIntervalMs ?? ctx.config.minSyncMs,
    resyncIntervalMs: opts.resyncIntervalMs ?? ctx.config.resyncSeconds * 1000,
  });
  agent.onRetry = (reason) => reconciler.trigger(reason);
  const serviceKey = (s: V1Service | undefined) => (s?.metadata?.name ? keyOf(s.metadata.namespace ?? '', s.metadata.name) : undefined);
  const offs = [
    deps.informers.services.onChange((c: Change<V1Service>) => {
      const k = serviceKey(c.object);
      if (k) agent.markDirty(k);
      reconciler.trigger('service');
    }),
    deps.informers.endpointSlices.onChange((c: Change<V1EndpointSlice>) => {
      for (const s of [c.object, c.old]) {
        const k = s && sliceServiceKey(s);
        if (k) agent.markDirty(k);
      }
      reconciler.trigger('endpointslice');
    }),
    deps.informers.nodes.onChange((c: Change<V1Node>) => {
      if (c.type === 'update' && nodeFingerprint(c.old) === nodeFingerprint(c.object)) return;
      reconciler.trigger('node');
    }),
  ];
  try {
    await deps.informers.waitForSync();
  } catch (err) {
    ctx.logger.warn('informers not synced yet; syncing when they are', { error: (err as Error).message });
  }
  await reconciler.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    offs.forEach((off) => off());
    await reconciler.stop();
    await agent.close();
  };
  return {
    agent,
    syncCount: () => reconciler.syncCount,
    syncNow: (reason?: string) => reconciler.syncNow(reason),
    stop,
    status: () => agent.status(),
    cleanup: async () => {
      await stop();
      await cleanupServiceProxy(deps, ctx.logger);
    },
  };
}

/** Removes the table; nothing else is krouter's here. */
export async function cleanupServiceProxy(deps: Pick<ServiceProxyDeps, 'nftables'>, logger: Logger): Promise<void> {
  if (await removeTable(deps.nftables)) logger.info('service proxy table removed', { table: `${TABLE.family} ${TABLE.name}` });
}

