/**
 * The Gobgp core service: BGP through a supervised gobgpd, driven over gRPC
 * on a unix socket, declaratively. `apply` takes the caller's whole desired
 * state; the service keeps it and a record of what gobgpd holds, and sends
 * only the difference (desired.ts diffs, sender.ts sends).
 *
 * The same diff covers the three ways gobgpd can differ from the desired
 * state: a sync changed the desired state; gobgpd restarted and holds
 * nothing (the whole state is replayed); a gobgpd left running by a previous
 * agent is adopted (adoption.ts reads what it holds, so sessions and
 * advertisements that stay desired are never touched, and leftovers go).
 *
 * Modules: desired.ts (store + diff, pure), sender.ts (plan -> RPCs),
 * adoption.ts (what a running gobgpd holds, the applied record),
 * supervisor.ts (the gobgpd process), watch.ts (the event stream),
 * bmp-station.ts + bmp-decode.ts (best paths from gobgpd's BMP Loc-RIB feed).
 */
import path from 'node:path';
import {
  ALL_FAMILIES,
  perFamily,
  type BgpApplyResult,
  type BgpDesiredState,
  type BgpEvent,
  type BgpPeerState,
  type BgpRoute,
  type Counter,
  type Family,
  type Gauge,
  type Gobgp,
  type Logger,
  type Metrics,
  type RibTable,
  parseCidr,
  parseIP,
} from '@krouter/sdk';
import type { BmpUpdate } from './bmp-decode.ts';
import { BMP_HOST, BmpStation } from './bmp-station.ts';
import { AppliedRecordFile, readHeld, runningGlobal } from './adoption.ts';
import { GobgpClient, type GobgpApi } from './client.ts';
import { diffState, emptyPlan, emptyState, normalizeDesired, type BgpState } from './desired.ts';
import { BgpInputError, decodePeerState, familyToApi } from './encode.ts';
import { isConnectionError, PlanSender, type SendReport } from './sender.ts';
import { registerSecret, scrubSecrets } from '../secrets.ts';
import { securePrivateDir } from './socket-dir.ts';
import { GobgpdSupervisor, type ReadyInfo, type SupervisorOptions } from './supervisor.ts';
import { BgpWatch, PEER_STATE_VALUES } from './watch.ts';
import { decodeListPathRoutes } from './wire.ts';

export { GobgpRpcError } from './client.ts';
export { BgpInputError } from './encode.ts';

/** What the service needs of a gobgpd supervisor (unit tests pass a fake). */
export interface GobgpdProcess {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly pid: number | undefined;
}

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
   * Make the socket's directory private (0700, see socket-dir.ts) now, so
   * that an unusable directory stops the agent at start rather than at the
   * first apply. The supervisor checks it again before each start.
   */
  prepareSocketDir?: boolean;
  /** Deadline of each unary RPC. */
  rpcTimeoutMs?: number;
  /** First restart delay after gobgpd exits unexpectedly (doubles up to 30 s). */
  restartBackoffMs?: number;
  /** gobgpd's API; default a gRPC client on `socketPath`. */
  client?: GobgpApi;
  /** The gobgpd process; default a GobgpdSupervisor. */
  supervisor?: (opts: SupervisorOptions) => GobgpdProcess;
  /**
   * How best paths reach the caller: 'bmp' (gobgpd's BMP Loc-RIB feed to a
   * loopback station; gobgpd must share the agent's network namespace) or
   * 'watch' (gRPC WatchEvent, whose IPv6 paths cost gobgpd ~30 KB each to
   * marshal). Default 'bmp', or 'watch' with `netns` or a given `client`.
   */
  bestPathFeed?: 'bmp' | 'watch';
}

const TABLE_TYPES: Record<RibTable, string> = { global: 'GLOBAL', local: 'LOCAL', 'adj-in': 'ADJ_IN', 'adj-out': 'ADJ_OUT' };

export class GobgpService implements Gobgp {
  private readonly log: Logger;
  private readonly client: GobgpApi;
  private readonly record: AppliedRecordFile;
  private readonly events: BgpWatch;
  private supervisor?: GobgpdProcess;

  /** The caller's desired state, as of its last apply. */
  private desired: BgpState = emptyState();
  /** What gobgpd holds, as far as the service knows: every RPC that succeeded. */
  private held: BgpState = emptyState();
  /** Objects gobgpd refused during the last replay, reported by the apply that started gobgpd. */
  private replayReport: SendReport = { rejected: [], sent: 0 };
  /**
   * Until then, peers are added with graceful restart's restarting state (R
   * and forwarding-state bits in OPEN): a fresh gobgpd while the kernel still
   * forwards along routes of the previous one. Peers that are helpers keep our
   * routes and wait for our End-of-RIB instead of flushing them.
   */
  private localRestartingUntil = 0;
  private isReady = false;
  private closed = false;
  /** Serialises applies and replays so they never interleave. */
  private chain: Promise<unknown> = Promise.resolve();

  /** Receives gobgpd's Loc-RIB feed (undefined: best paths come over the gRPC watch). */
  private readonly bmp?: BmpStation;
  /** Prefixes this node originates: the feed does not mark local paths, this does. */
  private ownPrefixes = new Set<string>();
  private readonly restarts: Counter;
  private readonly peerStateGauge: Gauge;
  private readonly originatedGauge: Gauge;

  constructor(private readonly opts: GobgpServiceOptions) {
    this.log = opts.logger.child({ service: 'gobgp' });
    if (opts.prepareSocketDir) {
      const dir = path.dirname(opts.socketPath);
      const done = securePrivateDir(dir);
      if (done === 'tightened') this.log.warn('gobgp socket directory was open to others; set to 0700', { dir });
    }
    this.client = opts.client ?? new GobgpClient(opts.socketPath, opts.rpcTimeoutMs ?? 10_000);
    this.record = new AppliedRecordFile(`${opts.socketPath}.state.json`, this.log);
    this.restarts = opts.metrics.counter({ name: 'gobgpd_restarts_total', help: 'gobgpd restarts after an unexpected exit' });
    this.peerStateGauge = opts.metrics.gauge({
      name: 'bgp_peer_state',
      help: 'BGP session state per peer (0 unknown, 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established)',
      labelNames: ['peer'],
    });
    this.originatedGauge = opts.metrics.gauge({ name: 'bgp_paths_originated', help: 'Paths this node originates, per family', labelNames: ['family'] });
    for (const f of ALL_FAMILIES) this.originatedGauge.set({ family: f }, 0);
    this.events = new BgpWatch(this.client, this.log, this.peerStateGauge, () => this.isReady && !this.closed);
    const feed = opts.bestPathFeed ?? (opts.netns || opts.client ? 'watch' : 'bmp');
    if (feed === 'bmp') {
      this.bmp = new BmpStation(this.log, {
        gobgpdPid: () => this.supervisor?.pid,
        onUpdate: (update) => this.emitFeed(update),
        onResumed: () => this.events.emit({ type: 'watch-restarted' }),
      });
    }
  }

  /** Best paths of the BMP feed as the same events the gRPC watch gives. */
  private emitFeed(update: BmpUpdate): void {
    for (const w of update.withdrawn) {
      this.events.emit({ type: 'withdraw', route: { ...w, nextHop: '', asPath: [], communities: [], best: false, withdrawal: true } });
    }
    for (const a of update.announced) {
      // Loc-RIB paths name no peer: the next hop stands for it; a path we originate has none, as on the watch.
      const source = this.ownPrefixes.has(a.prefix) ? undefined : a.nextHop;
      this.events.emit({ type: 'best', route: { ...a, best: true, ...(source ? { source } : {}) } });
    }
  }

  /**
   * Points gobgpd's BMP Loc-RIB feed at this agent's station (an adopted
   * gobgpd's feed still names the previous agent's port: replaced). False
   * when the feed is off or gobgpd refused it: the gRPC watch carries best paths.
   */
  private async connectBmpFeed(): Promise<boolean> {
    if (!this.bmp) return false;
    try {
      const port = await this.bmp.listen();
      const stations = await this.client.collect<{ station?: { conf?: { address?: string; port?: number } } }>('ListBmp', {});
      let ours = false;
      for (const { station } of stations) {
        const address = station?.conf?.address ?? '';
        const stationPort = Number(station?.conf?.port ?? 0);
        if (address === BMP_HOST && stationPort === port) ours = true;
        else await this.client.unary('DeleteBmp', { address, port: stationPort });
      }
      if (!ours) await this.client.unary('AddBmp', { address: BMP_HOST, port, policy: 'LOCAL', StatisticsTimeout: 0, SysName: 'krouter' });
      return true;
    } catch (e) {
      this.log.warn('gobgpd BMP feed unavailable; best paths come over the gRPC watch', { error: (e as Error).message });
      return false;
    }
  }

  private async startEvents(): Promise<void> {
    this.events.start({ bestPaths: !(await this.connectBmpFeed()) });
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

  private updateOriginatedGauge(): void {
    const counts = perFamily(() => 0);
    const own = new Set<string>();
    for (const p of this.desired.paths.values()) {
      counts[p.encoded.family]++;
      own.add(parseCidr(p.path.prefix, undefined, { allowHostBits: true }).text);
    }
    this.ownPrefixes = own;
    for (const f of ALL_FAMILIES) this.originatedGauge.set({ family: f }, counts[f]);
  }

  // -------------------------------------------------------------------------
  // The one mutation

  async apply(desired: BgpDesiredState): Promise<BgpApplyResult> {
    if (this.closed) throw new Error('gobgp service is closed');
    // Passwords never reach a log line or a rejection message, whoever echoes them (gobgpd included).
    for (const peer of desired.peers ?? []) registerSecret(peer?.password);
    let result: BgpApplyResult;
    try {
      result = await this.applyDesired(desired);
    } catch (e) {
      if (e instanceof Error) e.message = scrubSecrets(e.message);
      throw e;
    }
    return { rejected: result.rejected.map((r) => ({ ...r, message: scrubSecrets(r.message) })) };
  }

  private async applyDesired(desired: BgpDesiredState): Promise<BgpApplyResult> {
    const { state, rejected } = normalizeDesired(desired); // throws on a bad global config or policy
    return this.serial(async () => {
      const previous = this.desired;
      this.desired = state;
      this.updateOriginatedGauge();
      if (!state.global) {
        await this.stopGobgpd();
        return { rejected };
      }
      if (!this.supervisor) {
        try {
          await this.startGobgpd(); // its replay applies the desired state
        } catch (e) {
          this.desired = previous;
          this.updateOriginatedGauge();
          throw e;
        }
        return { rejected: [...rejected, ...this.replayReport.rejected] };
      }
      // While gobgpd is down or restarting, the desired state alone changes and the replay applies it.
      if (!this.isReady) return { rejected };
      const report = await this.reconcile();
      return { rejected: [...rejected, ...report.rejected] };
    });
  }

  /** Sends the difference between what gobgpd holds and the desired state. */
  private async reconcile(): Promise<SendReport> {
    const plan = diffState(this.held, this.desired);
    if (emptyPlan(plan)) return { rejected: [], sent: 0 };
    const restart = plan.global === 'restart';
    if (restart) {
      this.log.info('bgp global config changed; restarting BGP', { asn: this.desired.global?.global.asn, routerId: this.desired.global?.global.routerId });
      this.isReady = false;
      this.events.stop();
    }
    // A removed peer's session is gone with it.
    for (const address of plan.deletePeers) this.peerStateGauge.set({ peer: address }, 0);
    try {
      return await this.sender().send(plan, this.held, this.desired);
    } catch (e) {
      if (!isConnectionError(e)) throw e;
      this.log.warn('gobgpd unreachable; the desired state is applied when it is back', { error: (e as Error).message });
      return { rejected: [], sent: 0 };
    } finally {
      this.record.write(this.held);
      if (restart) {
        this.isReady = true;
        await this.startEvents();
        this.events.emit({ type: 'restarted' });
      }
    }
  }

  private sender(): PlanSender {
    return new PlanSender({ client: this.client, log: this.log, localRestarting: () => Date.now() < this.localRestartingUntil });
  }

  // -------------------------------------------------------------------------
  // gobgpd's lifecycle

  private async startGobgpd(): Promise<void> {
    const options: SupervisorOptions = {
      logger: this.log,
      socketPath: this.opts.socketPath,
      binary: this.opts.gobgpdBinary,
      netns: this.opts.netns,
      minBackoffMs: this.opts.restartBackoffMs ?? 500,
      probe: async () => {
        await this.client.unary('GetBgp', {}, 1000);
      },
      // Runs inside the serial chain only for the first start; restarts
      // queue behind whatever apply is in flight.
      onReady: (info) => (info.restart ? this.serial(() => (this.supervisor === sup ? this.replay(info) : Promise.resolve())) : this.replay(info)),
      onExit: () => {
        this.isReady = false;
        this.restarts.inc();
        this.events.stop();
      },
    };
    const sup = (this.opts.supervisor ?? ((o) => new GobgpdSupervisor(o)))(options);
    this.supervisor = sup;
    try {
      await sup.start();
    } catch (e) {
      this.supervisor = undefined;
      throw e;
    }
  }

  /**
   * gobgpd is up (first start, adoption, restart): learn what it holds,
   * then send the difference to the desired state. On a fresh gobgpd that
   * is all of it; on an adopted one only what changed.
   */
  private async replay(info: ReadyInfo): Promise<void | 'replace'> {
    const want = this.desired;
    if (!want.global) return;
    if (info.adopted) {
      const recorded = this.record.read();
      const running = await runningGlobal(this.client, want.global.global, want.global.fingerprint, recorded);
      if (running === 'different') return 'replace';
      this.held = running === 'none' ? emptyState() : await readHeld(this.client, want.global, recorded);
      this.localRestartingUntil = 0;
    } else {
      this.held = emptyState();
      const gr = want.global.global.gracefulRestart;
      this.localRestartingUntil = info.previousState && gr?.enabled ? Date.now() + (gr.restartTime ?? 120) * 1000 : 0;
    }
    const adoptedPeers = this.held.peers.size;
    const adoptedPaths = this.held.paths.size;
    this.replayReport = await this.sender().send(diffState(this.held, want), this.held, want);
    this.record.write(this.held);
    this.isReady = true;
    await this.startEvents();
    const what = info.adopted ? 'running gobgpd adopted; desired state applied' : info.restart ? 'gobgpd restarted; desired state replayed' : 'bgp started';
    this.log.info(what, {
      pid: info.pid,
      peers: want.peers.size,
      paths: want.paths.size,
      sent: this.replayReport.sent,
      ...(info.adopted ? { adoptedPeers, adoptedPaths } : {}),
      ...(this.localRestartingUntil > Date.now() ? { gracefulRestart: 'restarting' } : {}),
    });
    this.events.emit({ type: 'restarted' });
  }

  private async stopGobgpd(): Promise<void> {
    this.isReady = false;
    this.events.stop();
    const sup = this.supervisor;
    this.supervisor = undefined;
    this.held = emptyState();
    if (sup) await sup.stop();
    this.record.remove();
  }

  /** Stops gobgpd (a clean agent stop leaves nothing to adopt). */
  async close(): Promise<void> {
    this.closed = true;
    await this.serial(() => this.stopGobgpd());
    this.events.clear();
    await this.bmp?.close();
    this.client.close();
  }

  // -------------------------------------------------------------------------
  // Reads

  async listPeers(): Promise<BgpPeerState[]> {
    if (!this.supervisor) return [];
    const items = await this.client.collect<{ peer: Record<string, unknown> }>('ListPeer', { enableAdvertised: true });
    const peers = items.map((i) => decodePeerState(i.peer));
    for (const p of peers) if (p.address) this.peerStateGauge.set({ peer: p.address }, PEER_STATE_VALUES[p.state]);
    return peers;
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
    // Paths in their BGP wire form, read straight off the gRPC wire (see wire.ts): as google.protobuf.Any
    // values, each IPv6 path would carry its UPDATE's whole MP_REACH_NLRI (~30 KB, as in WatchEvent).
    const items = await this.client.collect<BgpRoute[]>(
      'ListPath',
      { table_type: tableType, name, family: apiFamily, sort_type: 'PREFIX', enable_only_binary: true },
      undefined,
      decodeListPathRoutes,
    );
    return items.flat();
  }

  watch(listener: (event: BgpEvent) => void): () => void {
    return this.events.subscribe(listener);
  }
}
