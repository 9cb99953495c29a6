import { familyOf, nextHopMayCarry, parseCidr, parseIP, type Family } from '../families.ts';
import type {
  BgpApplyResult,
  BgpDesiredState,
  BgpEvent,
  BgpGlobal,
  BgpPath,
  BgpPeer,
  BgpPeerState,
  BgpPeerStateName,
  BgpPolicy,
  BgpRejection,
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

/** What apply() changed, per kind of object: how a test tells a no-op from a change. */
export interface FakeGobgpCalls {
  startBgp: number;
  stopBgp: number;
  addPeer: number;
  updatePeer: number;
  deletePeer: number;
  addPath: number;
  deletePath: number;
  setPolicy: number;
}

/**
 * BGP in memory, declaratively like the real service: apply() diffs the
 * desired state against what it holds and changes (and counts, in `calls`)
 * only the difference. Derives each path's family from its prefix and
 * rejects a next hop of the other family (the check gobgpd itself does not
 * make). Emits 'best' / 'withdraw' events for originated and injected routes
 * and 'peer' events for injected peer states.
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

  readonly calls: FakeGobgpCalls = { startBgp: 0, stopBgp: 0, addPeer: 0, updatePeer: 0, deletePeer: 0, addPath: 0, deletePath: 0, setPolicy: 0 };
  /** How many apply() calls were made. */
  applies = 0;

  async apply(desired: BgpDesiredState): Promise<BgpApplyResult> {
    this.applies++;
    const rejected: BgpRejection[] = [];
    if (!desired.global) {
      if (this.global) this.stopBgp();
      return { rejected };
    }
    parseIP(desired.global.routerId, 'ipv4');
    const asn = desired.global.asn;
    if (!Number.isInteger(asn) || asn < 1 || asn > 4294967295) throw new Error(`asn ${asn} out of range`);
    if (this.global && JSON.stringify(this.global) !== JSON.stringify(desired.global)) this.stopBgp();
    if (!this.global) {
      this.global = structuredClone(desired.global);
      this.calls.startBgp++;
    }

    const paths = new Map<string, BgpPath & { family: Family }>();
    for (const path of desired.paths) {
      try {
        const stored = this.checkPath(path);
        paths.set(`${stored.family} ${stored.prefix}`, stored);
      } catch (e) {
        rejected.push({ object: 'path', key: path.prefix, kind: 'invalid', message: (e as Error).message });
      }
    }
    for (const [key, old] of [...this.paths]) {
      if (paths.has(key)) continue;
      this.paths.delete(key);
      this.calls.deletePath++;
      this.emit({ type: 'withdraw', route: { ...this.toRoute(old), best: false, withdrawal: true } });
    }
    for (const [key, path] of paths) {
      if (JSON.stringify(this.paths.get(key)) === JSON.stringify(path)) continue;
      this.paths.set(key, path);
      this.calls.addPath++;
      this.emit({ type: 'best', route: this.toRoute(path) });
    }

    for (const direction of ['import', 'export'] as const) {
      const policy = desired.policies?.[direction];
      if (JSON.stringify(this.policies[direction]) === JSON.stringify(policy)) continue;
      this.calls.setPolicy++;
      if (policy) this.policies[direction] = structuredClone(policy);
      else delete this.policies[direction];
    }

    const peers = new Map<string, BgpPeer>();
    for (const peer of desired.peers) {
      try {
        const address = parseIP(peer.address).address;
        if (peers.has(address)) throw new Error(`bgp peer ${address}: configured twice`);
        peers.set(address, { ...structuredClone(peer), address });
      } catch (e) {
        rejected.push({ object: 'peer', key: peer.address, kind: 'invalid', message: (e as Error).message });
      }
    }
    for (const address of [...this.peers.keys()]) {
      if (peers.has(address)) continue;
      this.removePeer(address);
      this.calls.deletePeer++;
    }
    for (const [address, peer] of peers) {
      const existing = this.peers.get(address);
      if (existing) {
        const { state, ...config } = existing;
        if (JSON.stringify(config) === JSON.stringify(peer)) continue;
        this.calls.updatePeer++;
      } else this.calls.addPeer++;
      this.peers.set(address, { ...peer, state: existing?.state ?? 'active' });
    }
    return { rejected };
  }

  private stopBgp(): void {
    this.calls.stopBgp++;
    this.global = undefined;
    this.peers.clear();
    this.paths.clear();
    this.learned.clear();
  }

  private checkPath(path: BgpPath): BgpPath & { family: Family } {
    const prefix = parseCidr(path.prefix);
    const nh = parseIP(path.nextHop);
    if (!nextHopMayCarry(nh.family, prefix.family, { extendedNexthop: path.extendedNexthop === true })) {
      throw new Error(`path ${path.prefix}: next hop ${path.nextHop} is ${nh.family}, prefix is ${prefix.family}`);
    }
    return { ...structuredClone(path), prefix: prefix.text, family: prefix.family };
  }

  private removePeer(address: string): void {
    this.peers.delete(address);
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

  /** Simulates a gobgpd restart: the desired state stays (replayed), listeners hear 'restarted'. */
  simulateRestart(): void {
    this.emit({ type: 'restarted' });
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
