/**
 * The Gobgp core service: BGP through a supervised gobgpd, driven over gRPC
 * on a unix socket. It keeps the desired state (global, peers, paths,
 * policies) and replays all of it after every (re)start of gobgpd, so a
 * crashed gobgpd comes back with the same sessions and originated paths.
 */
import * as grpc from '@grpc/grpc-js';
import {
  ALL_FAMILIES,
  type BgpEvent,
  type BgpGlobal,
  type BgpPath,
  type BgpPeer,
  type BgpPeerState,
  type BgpPolicy,
  type BgpRoute,
  type Counter,
  type Family,
  type Gauge,
  type Gobgp,
  type Logger,
  type Metrics,
  type RibTable,
  parseIP,
} from '@krouter/sdk';
import { GobgpClient, GobgpRpcError, type WatchHandle } from './client.ts';
import {
  BgpInputError,
  decodeDestination,
  decodePath,
  decodePeerState,
  encodeGlobal,
  encodePath,
  encodePeer,
  familyToApi,
  pathKey,
  peerFingerprint,
} from './encode.ts';
import { globalAssignment, renderPolicies, type PolicyDirection } from './policy.ts';
import { GobgpdSupervisor } from './supervisor.ts';

export { GobgpRpcError } from './client.ts';
export { BgpInputError } from './encode.ts';

export interface GobgpServiceOptions {
  logger: Logger;
  metrics: Metrics;
  /** gobgpd binary; default `gobgpd` from PATH. */
  gobgpdBinary?: string;
  /** gobgpd's API socket, e.g. /run/krouter/gobgp.sock. */
  socketPath: string;
  /** Run gobgpd inside this named network namespace. */
  netns?: string;
  /**
   * Accepted for the service contract; gobgpd is configured wholly through its
   * API (the desired state is replayed on every start), so no file is written.
   */
  configDir?: string;
  /** Deadline of each unary RPC. */
  rpcTimeoutMs?: number;
  /** First restart delay after gobgpd exits unexpectedly (doubles up to 30 s). */
  restartBackoffMs?: number;
}

const TABLE_TYPES: Record<RibTable, string> = { global: 'GLOBAL', local: 'LOCAL', 'adj-in': 'ADJ_IN', 'adj-out': 'ADJ_OUT' };

const PEER_STATE_VALUES: Record<BgpPeerState['state'], number> = {
  unknown: 0,
  idle: 1,
  connect: 2,
  active: 3,
  opensent: 4,
  openconfirm: 5,
  established: 6,
};

/** gRPC codes that mean "gobgpd is not there right now", not "gobgpd refused this". */
function isConnectionError(e: unknown): boolean {
  const code = (e as GobgpRpcError)?.code;
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.CANCELLED;
}

export class GobgpService implements Gobgp {
  private readonly log: Logger;
  private readonly client: GobgpClient;
  private supervisor?: GobgpdSupervisor;

  // Desired state, replayed after every gobgpd start.
  private global?: BgpGlobal;
  private globalFingerprint?: string;
  private readonly peers = new Map<string, { peer: BgpPeer; fingerprint: string }>();
  private readonly paths = new Map<string, BgpPath>();
  private policies: Partial<Record<PolicyDirection, BgpPolicy>> = {};

  private readonly listeners = new Set<(event: BgpEvent) => void>();
  private watchHandle?: WatchHandle;
  private watchGeneration = 0;
  private watchRetry?: NodeJS.Timeout;
  private isReady = false;
  private closed = false;
  /** Serialises API mutations and replays so they never interleave. */
  private chain: Promise<unknown> = Promise.resolve();

  private readonly restarts: Counter;
  private readonly peerStateGauge: Gauge;
  private readonly originatedGauge: Gauge;

  constructor(private readonly opts: GobgpServiceOptions) {
    this.log = opts.logger.child({ service: 'gobgp' });
    this.client = new GobgpClient(opts.socketPath, opts.rpcTimeoutMs ?? 10_000);
    this.restarts = opts.metrics.counter({ name: 'gobgpd_restarts_total', help: 'gobgpd restarts after an unexpected exit' });
    this.peerStateGauge = opts.metrics.gauge({
      name: 'bgp_peer_state',
      help: 'BGP session state per peer (0 unknown, 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established)',
      labelNames: ['peer'],
    });
    this.originatedGauge = opts.metrics.gauge({ name: 'bgp_paths_originated', help: 'Paths this node originates, per family', labelNames: ['family'] });
    for (const f of ALL_FAMILIES) this.originatedGauge.set({ family: f }, 0);
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** PID of the running gobgpd, if any. */
  get gobgpdPid(): number | undefined {
    return this.supervisor?.pid;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private emit(event: BgpEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (e) {
        this.log.error('bgp event listener threw', { error: (e as Error).message, event: event.type });
      }
    }
  }

  private updateOriginatedGauge(): void {
    const counts: Record<Family, number> = { ipv4: 0, ipv6: 0 };
    for (const key of this.paths.keys()) counts[pathKey({ prefix: key }).family]++;
    for (const f of ALL_FAMILIES) this.originatedGauge.set({ family: f }, counts[f]);
  }

  // -------------------------------------------------------------------------
  // Lifecycle

  async startBgp(global: BgpGlobal): Promise<void> {
    if (this.closed) throw new Error('gobgp service is closed');
    const encoded = encodeGlobal(global);
    const fingerprint = JSON.stringify(encoded);
    return this.serial(async () => {
      if (this.supervisor && this.globalFingerprint === fingerprint) return;
      const previous = this.global;
      this.global = { ...global };
      this.globalFingerprint = fingerprint;
      if (!this.supervisor) {
        const sup: GobgpdSupervisor = new GobgpdSupervisor({
          logger: this.log,
          socketPath: this.opts.socketPath,
          binary: this.opts.gobgpdBinary,
          netns: this.opts.netns,
          minBackoffMs: this.opts.restartBackoffMs ?? 500,
          probe: async () => {
            await this.client.unary('GetBgp', {}, 1000);
          },
          // Runs inside the serial chain only for the first start; restarts
          // queue behind whatever call is in flight.
          onReady: ({ restart }) =>
            restart ? this.serial(() => (this.supervisor === sup ? this.replay(true) : Promise.resolve())) : this.replay(false),
          onExit: () => {
            this.isReady = false;
            this.restarts.inc();
            this.stopWatch();
          },
        });
        this.supervisor = sup;
        try {
          await sup.start();
        } catch (e) {
          this.supervisor = undefined;
          this.global = previous;
          this.globalFingerprint = previous ? JSON.stringify(encodeGlobal(previous)) : undefined;
          throw e;
        }
        return;
      }
      // The global config of a running gobgpd cannot change in place: stop BGP and replay everything.
      this.log.info('bgp global config changed; restarting BGP', { asn: global.asn, routerId: global.routerId });
      this.isReady = false;
      this.stopWatch();
      await this.client.unary('StopBgp', {}).catch((e) => {
        if (!isConnectionError(e)) throw e;
      });
      await this.replay(false);
    });
  }

  /** Stops gobgpd. The desired peers, paths and policies are kept for a later startBgp. */
  async stopBgp(): Promise<void> {
    return this.serial(async () => {
      this.isReady = false;
      this.stopWatch();
      const sup = this.supervisor;
      this.supervisor = undefined;
      this.global = undefined;
      this.globalFingerprint = undefined;
      if (sup) await sup.stop();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopBgp();
    this.listeners.clear();
    this.client.close();
  }

  /**
   * Applies the whole desired state to a gobgpd whose BGP is not started.
   * One bad object is logged and skipped; a lost connection aborts (the
   * supervisor restarts gobgpd and replays again).
   */
  private async replay(restart: boolean): Promise<void> {
    const global = this.global;
    if (!global) return;
    await this.client.unary('StartBgp', { global: encodeGlobal(global) });
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        if (isConnectionError(e)) throw e;
        this.log.error(`bgp replay: ${what} failed`, { error: (e as Error).message });
      }
    };
    await step('policies', () => this.applyPolicies());
    for (const { peer } of this.peers.values()) await step(`peer ${peer.address}`, () => this.client.unary('AddPeer', { peer: encodePeer(peer) }));
    for (const path of this.paths.values()) await step(`path ${path.prefix}`, () => this.client.unary('AddPath', { table_type: 'GLOBAL', path: encodePath(path).path }));
    this.isReady = true;
    this.startWatch();
    this.log.info(restart ? 'gobgpd restarted; desired state replayed' : 'bgp started', {
      peers: this.peers.size,
      paths: this.paths.size,
    });
    this.emit({ type: 'restarted' });
  }

  /**
   * Runs one mutation against gobgpd when it is up. While gobgpd is down or
   * restarting the desired state alone changes and the replay applies it.
   * Returns false when the call was not made or the connection was lost.
   */
  private async applyLive(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    if (!this.isReady) return false;
    try {
      await fn();
      return true;
    } catch (e) {
      if (isConnectionError(e)) {
        this.log.warn(`${what}: gobgpd unreachable; it will be applied when gobgpd is back`, { error: (e as Error).message });
        return false;
      }
      throw e;
    }
  }

  // -------------------------------------------------------------------------
  // Peers

  async addPeer(peer: BgpPeer): Promise<void> {
    const fingerprint = peerFingerprint(peer); // validates
    const address = parseIP(peer.address).address;
    const normalized: BgpPeer = { ...peer, address };
    return this.serial(async () => {
      const existing = this.peers.get(address);
      if (existing?.fingerprint === fingerprint) return;
      const nhsChanged = Boolean(existing?.peer.nextHopSelf) !== Boolean(peer.nextHopSelf);
      this.peers.set(address, { peer: normalized, fingerprint });
      try {
        if (nhsChanged) {
          await this.applyLive('policies', async () => {
            await this.applyPolicies();
            await this.softReset('OUT');
          });
        }
        if (!existing) {
          await this.applyLive(`add peer ${address}`, () => this.client.unary('AddPeer', { peer: encodePeer(normalized) }));
        } else {
          // Session parameters (families, timers, capabilities) only take effect on a new
          // session; UpdatePeer resets it when needed.
          await this.applyLive(`update peer ${address}`, () =>
            this.client.unary('UpdatePeer', { peer: encodePeer(normalized), do_soft_reset_in: true }),
          );
        }
      } catch (e) {
        if (existing) this.peers.set(address, existing);
        else this.peers.delete(address);
        throw e;
      }
    });
  }

  async deletePeer(address: string): Promise<void> {
    const addr = (() => {
      try {
        return parseIP(address).address;
      } catch (e) {
        throw new BgpInputError('bgp peer: address', (e as Error).message);
      }
    })();
    return this.serial(async () => {
      const existing = this.peers.get(addr);
      if (!existing) return;
      this.peers.delete(addr);
      this.peerStateGauge.set({ peer: addr }, 0);
      await this.applyLive(`delete peer ${addr}`, async () => {
        await this.client.unary('DeletePeer', { address: addr });
        if (existing.peer.nextHopSelf) await this.applyPolicies();
      });
    });
  }

  async listPeers(): Promise<BgpPeerState[]> {
    if (!this.supervisor) return [];
    const items = await this.client.collect<{ peer: Record<string, unknown> }>('ListPeer', { enableAdvertised: true });
    const peers = items.map((i) => decodePeerState(i.peer));
    for (const p of peers) if (p.address) this.peerStateGauge.set({ peer: p.address }, PEER_STATE_VALUES[p.state]);
    return peers;
  }

  // -------------------------------------------------------------------------
  // Paths

  async addPath(path: BgpPath): Promise<void> {
    const encoded = encodePath(path); // validates: refuses a next hop of the other family
    const normalized: BgpPath = { ...path, prefix: encoded.prefix };
    return this.serial(async () => {
      const existing = this.paths.get(encoded.prefix);
      if (existing && JSON.stringify(encodePath(existing).path) === JSON.stringify(encoded.path)) return;
      this.paths.set(encoded.prefix, normalized);
      try {
        // AddPath of an existing prefix replaces the local path (implicit withdraw).
        await this.applyLive(`add path ${encoded.prefix}`, () => this.client.unary('AddPath', { table_type: 'GLOBAL', path: encoded.path }));
      } catch (e) {
        if (existing) this.paths.set(encoded.prefix, existing);
        else this.paths.delete(encoded.prefix);
        throw e;
      } finally {
        this.updateOriginatedGauge();
      }
    });
  }

  async deletePath(path: Pick<BgpPath, 'prefix'> & Partial<BgpPath>): Promise<void> {
    const { prefix, family } = pathKey(path);
    return this.serial(async () => {
      const existing = this.paths.get(prefix);
      // gobgpd holds only the paths replayed from the desired state: nothing else to withdraw.
      if (!existing) return;
      this.paths.delete(prefix);
      this.updateOriginatedGauge();
      // A withdrawal is matched by NLRI; gobgpd still wants a next hop of the family in the request.
      // Never send DeletePath without a path: gobgpd would withdraw every local path.
      const encoded = encodePath({ prefix, nextHop: existing.nextHop });
      await this.applyLive(`delete path ${prefix}`, () =>
        this.client.unary('DeletePath', { table_type: 'GLOBAL', family: familyToApi(family), path: encoded.path }),
      );
    });
  }

  async listPaths(family: Family, table: RibTable = 'global', peer?: string): Promise<BgpRoute[]> {
    const apiFamily = familyToApi(family);
    const tableType = TABLE_TYPES[table];
    if (!tableType) throw new BgpInputError(`rib table ${JSON.stringify(table)}`, `must be one of ${Object.keys(TABLE_TYPES).join(', ')}`);
    let name = '';
    if (table === 'adj-in' || table === 'adj-out' || table === 'local') {
      if (!peer) throw new BgpInputError(`rib table ${table}`, 'needs a peer address');
      name = parseIP(peer).address;
    }
    if (!this.supervisor) return [];
    const items = await this.client.collect<{ destination: Record<string, unknown> }>('ListPath', {
      table_type: tableType,
      name,
      family: apiFamily,
      sort_type: 'PREFIX',
    });
    return items.flatMap((i) => decodeDestination(i.destination));
  }

  // -------------------------------------------------------------------------
  // Policies

  private nextHopSelfPeers(): string[] {
    return [...this.peers.values()].filter((p) => p.peer.nextHopSelf).map((p) => p.peer.address);
  }

  /** Replaces gobgpd's routing policy with the desired one and assigns it globally. */
  private async applyPolicies(): Promise<void> {
    const rendered = renderPolicies(this.policies, this.nextHopSelfPeers());
    // Unassign first what is going away: gobgpd re-applies the current
    // assignments when the policy set is replaced.
    for (const d of ['import', 'export'] as const) {
      if (rendered.assignments[d].length === 0) await this.client.unary('SetPolicyAssignment', globalAssignment(d, []));
    }
    await this.client.unary('SetPolicies', rendered.setPolicies);
    for (const d of ['import', 'export'] as const) {
      if (rendered.assignments[d].length > 0) await this.client.unary('SetPolicyAssignment', globalAssignment(d, rendered.assignments[d]));
    }
  }

  /**
   * gobgpd does not re-evaluate paths already exchanged when a policy
   * changes: a soft reset re-runs import (IN) or export (OUT) on every peer.
   */
  private async softReset(direction: 'IN' | 'OUT'): Promise<void> {
    if (this.peers.size === 0) return;
    try {
      await this.client.unary('ResetPeer', { address: 'all', soft: true, direction });
    } catch (e) {
      if (isConnectionError(e)) throw e;
      this.log.warn(`soft reset ${direction} after a policy change failed`, { error: (e as Error).message });
    }
  }

  /** What gobgpd would advertise now to each configured peer: peer -> prefix -> route. */
  private async adjOut(): Promise<Map<string, Map<string, BgpRoute>>> {
    const out = new Map<string, Map<string, BgpRoute>>();
    for (const { peer } of this.peers.values()) {
      const routes = new Map<string, BgpRoute>();
      for (const family of new Set(peer.families)) {
        try {
          for (const r of await this.listPaths(family, 'adj-out', peer.address)) routes.set(r.prefix, r);
        } catch (e) {
          if (isConnectionError(e)) throw e;
          // A peer that is not established has no adj-out.
        }
      }
      out.set(peer.address, routes);
    }
    return out;
  }

  /**
   * Applies a changed export policy. A soft reset out re-sends what the new
   * policy accepts, but gobgpd never withdraws a path the new policy rejects
   * (it evaluates the withdrawal against the new policy too). So local paths
   * that some peer had and no longer gets are withdrawn under the previous
   * policy and originated again under the new one.
   */
  private async changeExportPolicy(previous: Partial<Record<PolicyDirection, BgpPolicy>>): Promise<void> {
    const before = await this.adjOut();
    await this.applyPolicies();
    await this.softReset('OUT');
    const after = await this.adjOut();
    const local = new Set<string>();
    const received: string[] = [];
    for (const [peer, routes] of before) {
      const still = after.get(peer);
      for (const [prefix, route] of routes) {
        if (still?.has(prefix)) continue;
        if (!route.source && this.paths.has(prefix)) local.add(prefix);
        else if (route.source) received.push(`${prefix} to ${peer}`);
      }
    }
    if (received.length > 0) {
      this.log.warn('the export policy now rejects received paths already advertised; peers keep them until their session resets', {
        paths: received.slice(0, 20),
      });
    }
    if (local.size === 0) return;
    const desired = this.policies;
    this.policies = previous;
    try {
      await this.applyPolicies();
      for (const prefix of local) {
        const enc = encodePath(this.paths.get(prefix)!);
        await this.client.unary('DeletePath', { table_type: 'GLOBAL', family: familyToApi(enc.family), path: enc.path });
      }
    } finally {
      this.policies = desired;
    }
    await this.applyPolicies();
    for (const prefix of local) await this.client.unary('AddPath', { table_type: 'GLOBAL', path: encodePath(this.paths.get(prefix)!).path });
    this.log.info('export policy change withdrew local paths from peers it now rejects', { paths: [...local] });
  }

  async setPolicy(direction: 'import' | 'export', policy: BgpPolicy | undefined): Promise<void> {
    if (direction !== 'import' && direction !== 'export') {
      throw new BgpInputError(`bgp policy direction ${JSON.stringify(direction)}`, 'must be import or export');
    }
    const next = { ...this.policies, [direction]: policy };
    if (!policy) delete next[direction];
    renderPolicies(next, []); // validates before anything changes
    return this.serial(async () => {
      const previous = this.policies;
      this.policies = next;
      try {
        await this.applyLive(`set ${direction} policy`, async () => {
          if (direction === 'export') return this.changeExportPolicy(previous);
          await this.applyPolicies();
          await this.softReset('IN');
        });
      } catch (e) {
        this.policies = previous;
        throw e;
      }
    });
  }

  // -------------------------------------------------------------------------
  // Events

  watch(listener: (event: BgpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private stopWatch(): void {
    this.watchGeneration++;
    if (this.watchRetry) clearTimeout(this.watchRetry);
    this.watchRetry = undefined;
    this.watchHandle?.cancel();
    this.watchHandle = undefined;
  }

  /** Subscribes to best-path and peer-state changes; `init` replays the current best paths. */
  private startWatch(): void {
    this.stopWatch();
    const generation = this.watchGeneration;
    this.watchHandle = this.client.stream<Record<string, any>>(
      'WatchEvent',
      { peer: {}, table: { filters: [{ type: 'BEST', init: true }] } },
      (ev) => {
        if (generation === this.watchGeneration) this.onWatchEvent(ev);
      },
      (err) => {
        if (generation !== this.watchGeneration || this.closed) return;
        this.watchHandle = undefined;
        if (err) this.log.warn('bgp watch stream ended', { error: err.message });
        // gobgpd still up (e.g. the stream alone broke): subscribe again. If gobgpd is
        // gone, the supervisor's restart replays and subscribes anew.
        this.watchRetry = setTimeout(() => {
          if (generation === this.watchGeneration && this.isReady && !this.closed) this.startWatch();
        }, 1000);
      },
    );
  }

  private onWatchEvent(ev: Record<string, any>): void {
    if (ev.table) {
      for (const p of (ev.table.paths ?? []) as Array<Record<string, any>>) {
        const route = decodePath(p);
        if (!route) continue;
        this.emit(route.withdrawal ? { type: 'withdraw', route } : { type: 'best', route });
      }
    } else if (ev.peer) {
      if (ev.peer.type !== 'STATE' && ev.peer.type !== 'INIT') return;
      const peer = decodePeerState(ev.peer.peer ?? {});
      if (!peer.address) return;
      this.peerStateGauge.set({ peer: peer.address }, PEER_STATE_VALUES[peer.state]);
      this.emit({ type: 'peer', peer });
    }
  }
}
