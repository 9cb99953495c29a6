/**
 * The Gobgp core service: BGP through a supervised gobgpd, driven over gRPC
 * on a unix socket. It keeps the desired state (global, peers, paths,
 * policies) and replays all of it after every (re)start of gobgpd, so a
 * crashed gobgpd comes back with the same sessions and originated paths.
 *
 * A gobgpd left running by a previous agent is adopted, not restarted: the
 * replay then only changes what differs (sessions and advertisements stay
 * up), and what the old gobgpd holds beyond the desired state is exposed
 * (listPeers, listPaths) and removable (deletePeer, deletePath) so the
 * caller can clear its own leftovers.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
  decodePath,
  decodePeerState,
  encodeGlobal,
  encodePath,
  encodePeer,
  familyToApi,
  localPathMatches,
  pathKey,
  peerFingerprint,
} from './encode.ts';
import { globalAssignment, renderPolicies, type PolicyDirection } from './policy.ts';
import { GobgpdSupervisor, type ReadyInfo } from './supervisor.ts';
import { decodeListPathRoutes, decodeWatchTableEvent } from './wire.ts';

/** A WatchEvent message: the routes of a table event, or any other event decoded generically. */
type WatchItem = { routes: BgpRoute[]; other?: undefined } | { routes?: undefined; other: Record<string, any> };

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

/**
 * `<socket>.state.json`: the fingerprints of the global config and peers as
 * applied to the running gobgpd, so that an adopting service can tell an
 * unchanged peer from a changed one (gobgpd's ListPeer shows its defaults,
 * not what was asked for).
 */
interface AppliedState {
  global?: string;
  peers: Record<string, string>;
}

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

  /**
   * What an adopted gobgpd held beyond the desired state when adopted: peers
   * (address -> applied fingerprint, '' when unknown) and local paths. addPeer
   * and addPath of an identical object send nothing; deletePeer and deletePath
   * remove them from gobgpd.
   */
  private readonly leftoverPeers = new Map<string, string>();
  private readonly leftoverPaths = new Map<string, Record<string, any>>();
  /** Fingerprints of the peers as applied to gobgpd (persisted beside the socket). */
  private readonly appliedPeers = new Map<string, string>();
  /**
   * Until then, peers are added with graceful restart's restarting state (R
   * and forwarding-state bits in OPEN): a fresh gobgpd while the kernel still
   * forwards along routes of the previous one. Peers that are helpers keep our
   * routes and wait for our End-of-RIB instead of flushing them.
   */
  private localRestartingUntil = 0;
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
          onReady: (info) =>
            info.restart ? this.serial(() => (this.supervisor === sup ? this.replay(info) : Promise.resolve())) : this.replay(info),
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
      this.leftoverPeers.clear();
      this.leftoverPaths.clear();
      this.appliedPeers.clear();
      await this.replay({ pid: this.supervisor.pid ?? 0, restart: false, adopted: false, previousState: false });
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
      this.leftoverPeers.clear();
      this.leftoverPaths.clear();
      this.appliedPeers.clear();
      if (sup) await sup.stop();
      rmSync(this.stateFile, { force: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopBgp();
    this.listeners.clear();
    this.client.close();
  }

  private get stateFile(): string {
    return `${this.opts.socketPath}.state.json`;
  }

  private readState(): AppliedState {
    try {
      const parsed = JSON.parse(readFileSync(this.stateFile, 'utf8')) as Partial<AppliedState>;
      return { global: typeof parsed.global === 'string' ? parsed.global : undefined, peers: { ...(parsed.peers ?? {}) } };
    } catch {
      return { peers: {} };
    }
  }

  /** Records what gobgpd now runs with, for a later agent that adopts it. */
  private writeState(): void {
    const state: AppliedState = { global: this.globalFingerprint, peers: Object.fromEntries([...this.leftoverPeers, ...this.appliedPeers]) };
    try {
      const tmp = `${this.stateFile}.tmp`;
      writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
      renameSync(tmp, this.stateFile);
    } catch (e) {
      this.log.warn('cannot record the applied BGP state', { file: this.stateFile, error: (e as Error).message });
    }
  }

  private encodePeerNow(peer: BgpPeer): Record<string, unknown> {
    return encodePeer(peer, { localRestarting: Date.now() < this.localRestartingUntil });
  }

  /**
   * Whether a running gobgpd's global config is the desired one: GetBgp shows
   * ASN, router ID and listeners; families and graceful restart are compared
   * through the fingerprint recorded by the agent that configured it.
   */
  private async runningGlobalMatches(): Promise<'none' | 'same' | 'different'> {
    const res = await this.client.unary<{ global?: Record<string, any> }>('GetBgp', {});
    const running = res.global;
    if (!running || !Number(running.asn)) return 'none';
    const want = encodeGlobal(this.global!);
    // gobgpd fills in its default listeners when none are given.
    const sorted = (a: unknown) => {
      const list = (a as string[] | undefined) ?? [];
      return (list.length ? [...list] : ['0.0.0.0', '::']).sort().join(',');
    };
    const recorded = this.readState().global;
    const same =
      Number(running.asn) === want.asn &&
      running.router_id === want.router_id &&
      Number(running.listen_port) === want.listen_port &&
      sorted(running.listen_addresses) === sorted(want.listen_addresses) &&
      (recorded === undefined || recorded === this.globalFingerprint);
    return same ? 'same' : 'different';
  }

  /** Remembers what an adopted gobgpd holds, so the desired state is applied as a difference. */
  private async snapshotLeftovers(): Promise<void> {
    this.leftoverPeers.clear();
    this.leftoverPaths.clear();
    this.appliedPeers.clear();
    const recorded = this.readState().peers;
    const peers = await this.client.collect<{ peer: Record<string, unknown> }>('ListPeer', {});
    for (const { peer } of peers) {
      const address = decodePeerState(peer).address;
      if (address) this.leftoverPeers.set(address, recorded[address] ?? '');
    }
    for (const family of new Set(this.global?.families ?? [])) {
      const items = await this.client.collect<{ destination: Record<string, any> }>('ListPath', {
        table_type: 'GLOBAL',
        name: '',
        family: familyToApi(family),
      });
      for (const { destination } of items) {
        for (const p of (destination?.paths ?? []) as Array<Record<string, any>>) {
          const route = decodePath(p);
          if (route && route.source === undefined && !route.withdrawal) this.leftoverPaths.set(pathKey(route).prefix, p);
        }
      }
    }
  }

  /**
   * Brings gobgpd to the desired state: all of it on a fresh gobgpd, only
   * the differences on an adopted one. Paths go in before peers, so that a
   * session that comes up during the replay already gets the whole table
   * (an empty table then End-of-RIB would make a graceful-restart helper
   * flush our routes). One bad object is logged and skipped; a lost
   * connection aborts (the supervisor restarts gobgpd and replays again).
   */
  private async replay(info: ReadyInfo): Promise<void | 'replace'> {
    const global = this.global;
    if (!global) return;
    if (info.adopted) {
      const running = await this.runningGlobalMatches();
      if (running === 'different') return 'replace';
      if (running === 'none') await this.client.unary('StartBgp', { global: encodeGlobal(global) });
      await this.snapshotLeftovers();
      this.localRestartingUntil = 0;
    } else {
      this.leftoverPeers.clear();
      this.leftoverPaths.clear();
      this.appliedPeers.clear();
      this.localRestartingUntil = info.previousState && global.gracefulRestart?.enabled ? Date.now() + (global.gracefulRestart.restartTime ?? 120) * 1000 : 0;
      await this.client.unary('StartBgp', { global: encodeGlobal(global) });
    }
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        if (isConnectionError(e)) throw e;
        this.log.error(`bgp replay: ${what} failed`, { error: (e as Error).message });
      }
    };
    // An adopted gobgpd keeps its policies until the caller sets its own: replacing them
    // with an empty set now would let updates in the meantime pass unfiltered.
    const nothingDesired = Object.keys(this.policies).length === 0 && this.nextHopSelfPeers().length === 0;
    if (!(info.adopted && nothingDesired)) await step('policies', () => this.applyPolicies());
    let pathsSent = 0;
    for (const [prefix, path] of this.paths) {
      const left = this.leftoverPaths.get(prefix);
      this.leftoverPaths.delete(prefix);
      if (left && localPathMatches(left, path)) continue;
      pathsSent++;
      await step(`path ${prefix}`, () => this.client.unary('AddPath', { table_type: 'GLOBAL', path: encodePath(path).path }));
    }
    let peersSent = 0;
    for (const [address, { peer, fingerprint }] of this.peers) {
      const left = this.leftoverPeers.get(address);
      this.leftoverPeers.delete(address);
      if (left === fingerprint) {
        this.appliedPeers.set(address, fingerprint);
        continue;
      }
      peersSent++;
      await step(`peer ${address}`, async () => {
        if (left === undefined) await this.client.unary('AddPeer', { peer: this.encodePeerNow(peer) });
        else await this.client.unary('UpdatePeer', { peer: this.encodePeerNow(peer), do_soft_reset_in: true });
        this.appliedPeers.set(address, fingerprint);
      });
    }
    this.writeState();
    this.isReady = true;
    this.startWatch();
    const what = info.adopted ? 'running gobgpd adopted; desired state applied' : info.restart ? 'gobgpd restarted; desired state replayed' : 'bgp started';
    this.log.info(what, {
      pid: info.pid,
      peers: this.peers.size,
      paths: this.paths.size,
      ...(info.adopted ? { peersSent, pathsSent, leftoverPeers: this.leftoverPeers.size, leftoverPaths: this.leftoverPaths.size } : {}),
      ...(this.localRestartingUntil > Date.now() ? { gracefulRestart: 'restarting' } : {}),
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
      // A peer an adopted gobgpd already has: nothing to send when it is configured alike.
      const leftover = existing ? undefined : this.leftoverPeers.get(address);
      const nhsChanged = Boolean(existing?.peer.nextHopSelf) !== Boolean(peer.nextHopSelf);
      this.peers.set(address, { peer: normalized, fingerprint });
      try {
        if (nhsChanged) {
          await this.applyLive('policies', async () => {
            await this.applyPolicies();
            await this.softReset('OUT');
          });
        }
        if (leftover === fingerprint) {
          this.leftoverPeers.delete(address);
          this.appliedPeers.set(address, fingerprint);
        } else if (!existing && leftover === undefined) {
          if (await this.applyLive(`add peer ${address}`, () => this.client.unary('AddPeer', { peer: this.encodePeerNow(normalized) }))) {
            this.appliedPeers.set(address, fingerprint);
          }
        } else {
          // Session parameters (families, timers, capabilities) only take effect on a new
          // session; UpdatePeer resets it when needed.
          const sent = await this.applyLive(`update peer ${address}`, () =>
            this.client.unary('UpdatePeer', { peer: this.encodePeerNow(normalized), do_soft_reset_in: true }),
          );
          if (sent) {
            this.leftoverPeers.delete(address);
            this.appliedPeers.set(address, fingerprint);
          }
        }
      } catch (e) {
        if (existing) this.peers.set(address, existing);
        else this.peers.delete(address);
        throw e;
      } finally {
        if (this.isReady) this.writeState();
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
      if (!existing) {
        // A leftover of an adopted gobgpd: remove it there.
        if (!this.leftoverPeers.has(addr)) return;
        if (await this.applyLive(`delete leftover peer ${addr}`, () => this.client.unary('DeletePeer', { address: addr }))) {
          this.leftoverPeers.delete(addr);
          this.writeState();
        }
        return;
      }
      this.peers.delete(addr);
      this.appliedPeers.delete(addr);
      this.peerStateGauge.set({ peer: addr }, 0);
      await this.applyLive(`delete peer ${addr}`, async () => {
        await this.client.unary('DeletePeer', { address: addr });
        if (existing.peer.nextHopSelf) await this.applyPolicies();
      });
      if (this.isReady) this.writeState();
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
      // A path an adopted gobgpd already originates alike: re-adding would only re-send it.
      const leftover = this.leftoverPaths.get(encoded.prefix);
      this.leftoverPaths.delete(encoded.prefix);
      if (!existing && leftover && localPathMatches(leftover, normalized)) {
        this.updateOriginatedGauge();
        return;
      }
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
      if (!existing) {
        // Besides the desired paths, gobgpd holds only what an adopted gobgpd originated before.
        const leftover = this.leftoverPaths.get(prefix);
        if (!leftover) return;
        const nextHop = decodePath(leftover)?.nextHop;
        if (!nextHop) return;
        const encoded = encodePath({ prefix, nextHop });
        if (
          await this.applyLive(`delete leftover path ${prefix}`, () =>
            this.client.unary('DeletePath', { table_type: 'GLOBAL', family: familyToApi(family), path: encoded.path }),
          )
        ) {
          this.leftoverPaths.delete(prefix);
        }
        return;
      }
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
    // Read straight off the wire (see wire.ts): a full table is ~30 KB per IPv6 path, as in WatchEvent.
    const items = await this.client.collect<BgpRoute[]>(
      'ListPath',
      { table_type: tableType, name, family: apiFamily, sort_type: 'PREFIX' },
      undefined,
      decodeListPathRoutes,
    );
    return items.flat();
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
    this.watchHandle = this.client.stream<WatchItem>(
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
          if (generation === this.watchGeneration && this.isReady && !this.closed) {
            this.startWatch();
            // Withdrawals during the gap are lost; the new stream replays only current best paths.
            this.emit({ type: 'watch-restarted' });
          }
        }, 1000);
      },
      // Table events (nearly all the traffic) are read straight off the wire; peer events generically.
      (bytes, generic) => {
        const routes = decodeWatchTableEvent(bytes);
        return routes ? { routes } : { other: generic(bytes) as Record<string, any> };
      },
    );
  }

  private onWatchEvent(ev: WatchItem): void {
    if (ev.routes) {
      for (const route of ev.routes) this.emit(route.withdrawal ? { type: 'withdraw', route } : { type: 'best', route });
      return;
    }
    const peerEvent = ev.other?.peer;
    if (!peerEvent) return;
    if (peerEvent.type !== 'STATE' && peerEvent.type !== 'INIT') return;
    const peer = decodePeerState(peerEvent.peer ?? {});
    if (!peer.address) return;
    this.peerStateGauge.set({ peer: peer.address }, PEER_STATE_VALUES[peer.state]);
    this.emit({ type: 'peer', peer });
  }
}
