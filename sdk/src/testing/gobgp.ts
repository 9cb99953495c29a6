import { familyOf, parseCidr, parseIP, type Family } from '../families.ts';
import type {
  BgpEvent,
  BgpGlobal,
  BgpPath,
  BgpPeer,
  BgpPeerState,
  BgpPeerStateName,
  BgpPolicy,
  BgpRoute,
  Gobgp,
  RibTable,
} from '../services/gobgp.ts';

/** A route as a peer would send it: what injectRoute() takes. */
export interface InjectedRoute {
  prefix: string;
  nextHop: string;
  /** Peer address it came from. */
  source: string;
  sourceAsn?: number;
  asPath?: number[];
  communities?: string[];
  /** True to withdraw a route injected before. */
  withdrawal?: boolean;
}

/**
 * BGP in memory. Keeps global config, peers, originated paths and learned
 * routes; derives each path's family from its prefix and rejects a next hop
 * of the other family (the check gobgpd itself does not make). Emits 'best' /
 * 'withdraw' events for originated and injected routes and 'peer' events for
 * injected peer states.
 */
export class FakeGobgp implements Gobgp {
  global: BgpGlobal | undefined;
  readonly peers = new Map<string, BgpPeer & { state: BgpPeerStateName }>();
  /** Originated paths by `family prefix`. */
  readonly paths = new Map<string, BgpPath & { family: Family }>();
  /** Learned routes by `source prefix`. */
  readonly learned = new Map<string, BgpRoute>();
  readonly policies: { import?: BgpPolicy; export?: BgpPolicy } = {};
  private readonly listeners = new Set<(event: BgpEvent) => void>();

  get ready(): boolean {
    return this.global !== undefined;
  }

  private emit(event: BgpEvent) {
    for (const l of [...this.listeners]) l(event);
  }

  private requireStarted() {
    if (!this.global) throw new Error('BGP is not started (call startBgp first)');
  }

  async startBgp(global: BgpGlobal): Promise<void> {
    parseIP(global.routerId, 'ipv4');
    if (!Number.isInteger(global.asn) || global.asn < 1 || global.asn > 4294967295) throw new Error(`asn ${global.asn} out of range`);
    this.global = structuredClone(global);
  }

  async stopBgp(): Promise<void> {
    this.global = undefined;
    this.peers.clear();
    this.paths.clear();
    this.learned.clear();
  }

  async addPeer(peer: BgpPeer): Promise<void> {
    this.requireStarted();
    parseIP(peer.address);
    const existing = this.peers.get(peer.address);
    this.peers.set(peer.address, { ...structuredClone(peer), state: existing?.state ?? 'active' });
  }

  async deletePeer(address: string): Promise<void> {
    this.requireStarted();
    if (!this.peers.delete(address)) throw new Error(`peer ${address} not found`);
    for (const [k, r] of this.learned) {
      if (r.source === address) {
        this.learned.delete(k);
        this.emit({ type: 'withdraw', route: { ...r, withdrawal: true, best: false } });
      }
    }
  }

  private peerState(p: BgpPeer & { state: BgpPeerStateName }): BgpPeerState {
    const families: BgpPeerState['families'] = {};
    for (const f of p.families) {
      const received = [...this.learned.values()].filter((r) => r.source === p.address && r.family === f).length;
      const advertised = p.state === 'established' ? [...this.paths.values()].filter((x) => x.family === f).length : 0;
      families[f] = { received, accepted: received, advertised };
    }
    return { address: p.address, asn: p.asn, state: p.state, families, description: p.description };
  }

  async listPeers(): Promise<BgpPeerState[]> {
    return [...this.peers.values()].map((p) => this.peerState(p));
  }

  private toRoute(p: BgpPath & { family: Family }): BgpRoute {
    return { family: p.family, prefix: p.prefix, nextHop: p.nextHop, asPath: p.asPath ?? [], communities: p.communities ?? [], best: true };
  }

  async addPath(path: BgpPath): Promise<void> {
    this.requireStarted();
    const prefix = parseCidr(path.prefix);
    const nh = parseIP(path.nextHop);
    const extended = prefix.family === 'ipv4' && nh.family === 'ipv6' && path.extendedNexthop === true;
    if (nh.family !== prefix.family && !extended) {
      throw new Error(`path ${path.prefix}: next hop ${path.nextHop} is ${nh.family}, prefix is ${prefix.family}`);
    }
    const stored = { ...structuredClone(path), prefix: prefix.text, family: prefix.family };
    this.paths.set(`${prefix.family} ${prefix.text}`, stored);
    this.emit({ type: 'best', route: this.toRoute(stored) });
  }

  async deletePath(path: Pick<BgpPath, 'prefix'> & Partial<BgpPath>): Promise<void> {
    this.requireStarted();
    const prefix = parseCidr(path.prefix);
    const key = `${prefix.family} ${prefix.text}`;
    const old = this.paths.get(key);
    if (!old) return;
    this.paths.delete(key);
    this.emit({ type: 'withdraw', route: { ...this.toRoute(old), best: false, withdrawal: true } });
  }

  async listPaths(family: Family, table: RibTable = 'global', peer?: string): Promise<BgpRoute[]> {
    const local = [...this.paths.values()].filter((p) => p.family === family).map((p) => this.toRoute(p));
    const learned = [...this.learned.values()].filter((r) => r.family === family);
    switch (table) {
      case 'global':
        return [...local, ...learned];
      case 'local':
        return local;
      case 'adj-in':
        if (!peer) throw new Error('adj-in needs a peer');
        return learned.filter((r) => r.source === peer);
      case 'adj-out': {
        if (!peer) throw new Error('adj-out needs a peer');
        const p = this.peers.get(peer);
        return p && p.families.includes(family) ? local : [];
      }
    }
  }

  async setPolicy(direction: 'import' | 'export', policy: BgpPolicy | undefined): Promise<void> {
    this.requireStarted();
    if (policy) this.policies[direction] = structuredClone(policy);
    else delete this.policies[direction];
  }

  watch(listener: (event: BgpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------ test controls

  /** Simulates a route learned from (or withdrawn by) a peer. */
  injectRoute(route: InjectedRoute): BgpRoute {
    const prefix = parseCidr(route.prefix);
    const family = prefix.family;
    if (familyOf(route.nextHop) !== family) throw new Error(`injected ${route.prefix}: next hop ${route.nextHop} is not ${family}`);
    const key = `${route.source} ${prefix.text}`;
    const r: BgpRoute = {
      family,
      prefix: prefix.text,
      nextHop: route.nextHop,
      source: route.source,
      sourceAsn: route.sourceAsn ?? this.peers.get(route.source)?.asn,
      asPath: route.asPath ?? [],
      communities: route.communities ?? [],
      best: !route.withdrawal,
      withdrawal: route.withdrawal || undefined,
    };
    if (route.withdrawal) {
      this.learned.delete(key);
      this.emit({ type: 'withdraw', route: r });
    } else {
      this.learned.set(key, r);
      this.emit({ type: 'best', route: r });
    }
    return r;
  }

  /** Simulates a peer state change (the peer must have been added). */
  setPeerState(address: string, state: BgpPeerStateName): void {
    const p = this.peers.get(address);
    if (!p) throw new Error(`peer ${address} not found`);
    p.state = state;
    this.emit({ type: 'peer', peer: this.peerState(p) });
  }

  /** Simulates a gobgpd restart: desired state stays, listeners hear 'restarted'. */
  simulateRestart(): void {
    this.emit({ type: 'restarted' });
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
