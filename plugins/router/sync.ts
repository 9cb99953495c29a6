import { readFile } from 'node:fs/promises';
import {
  KROUTER_ROUTE_PROTOCOL,
  parseCidr,
  type AddressFamilies,
  type BgpGlobal,
  type BgpPath,
  type BgpPolicy,
  type BgpPeer,
  type BgpRoute,
  type Family,
  type Gobgp,
  type Informers,
  type Logger,
  type Netlink,
  type Route,
} from '@krouter/sdk';
import { readNodeBgpSettings } from './annotations.ts';
import type { RouterConfig } from './config.ts';
import type { ClusterNode } from './model/cluster.ts';
import { externalPeers, meshPeers } from './model/peers.ts';
import { podCidrPaths, serviceVipPaths } from './model/paths.ts';
import { desiredKernelRoutes, diffRoutes } from './model/routes.ts';
import { desiredGlobal } from './model/speaker.ts';

export interface RouterDeps {
  families: AddressFamilies;
  bgp: Gobgp;
  netlink: Netlink;
  informers: Informers;
}

/** Export policy: external peers get exactly this node's own prefixes. */
export function exportPolicy(externalPeers: readonly string[], ownPrefixes: readonly string[]): BgpPolicy | undefined {
  if (externalPeers.length === 0) return undefined;
  const exact = ownPrefixes.map((prefix) => {
    const c = parseCidr(prefix, undefined, { allowHostBits: true });
    return { prefix: c.text, maskLengthMin: c.prefixLength, maskLengthMax: c.prefixLength };
  });
  return {
    name: 'krouter-export',
    statements: [
      ...(exact.length ? [{ neighbors: [...externalPeers], prefixes: exact, action: 'accept' as const }] : []),
      { neighbors: [...externalPeers], action: 'reject' as const },
    ],
  };
}

/** What the last sync did, for status and metrics. */
export interface SyncReport {
  global?: BgpGlobal;
  peers: BgpPeer[];
  paths: BgpPath[];
  routes: Record<Family, Route[]>;
  errors: string[];
  skipped: number;
}

/**
 * The router's whole reconcile step: caches -> desired BGP speaker, peers,
 * paths and kernel routes -> the differences applied through the services.
 * Keeps what it applied so the next sync only sends changes.
 */
export class RouterSync {
  private appliedGlobal?: string;
  private appliedExport?: string;
  private readonly appliedPeers = new Map<string, string>();
  private readonly appliedPaths = new Map<string, string>();
  /** Until this time, stale kernel routes are kept (graceful restart: peers may not have re-sent yet). */
  private keepStaleUntil = 0;
  /** Whether applied peers and paths have been read from the speaker (once per start of BGP). */
  private seeded = false;
  /** Our own Node object disappeared after we had started (see withdrawDeletedNode). */
  private ownNodeGone = false;
  private readonly reportedErrors = new Set<string>();
  last: SyncReport = { peers: [], paths: [], routes: { ipv4: [], ipv6: [] }, errors: [], skipped: 0 };

  constructor(
    private readonly config: RouterConfig,
    private readonly deps: RouterDeps,
    private readonly logger: Logger,
    private readonly onError: (message: string) => void,
  ) {
    if (config.gracefulRestart.enabled) this.keepStaleUntil = Date.now() + config.gracefulRestart.deferralTime * 1000;
  }

  /**
   * gobgpd was started afresh under us (it died and came back): its RIB is
   * empty until peers re-send, so with graceful restart the kernel routes it
   * taught us are kept, as after an agent start.
   */
  speakerRestarted(): void {
    if (!this.config.gracefulRestart.enabled) return;
    this.keepStaleUntil = Math.max(this.keepStaleUntil, Date.now() + this.config.gracefulRestart.deferralTime * 1000);
  }

  /**
   * What the speaker already has, as if this sync had applied it: a gobgpd
   * adopted from the previous agent holds its peers and originated paths.
   * Leftovers no longer desired are then removed by the normal diff, and
   * desired ones are handed to the service again (a no-op when identical).
   */
  private async seedFromSpeaker(families: readonly Family[]): Promise<void> {
    const { bgp } = this.deps;
    for (const p of await bgp.listPeers()) if (p.address) this.appliedPeers.set(p.address, '');
    for (const family of families) {
      for (const r of await bgp.listPaths(family, 'global')) {
        if (r.source === undefined && !r.withdrawal) this.appliedPaths.set(parseCidr(r.prefix, undefined, { allowHostBits: true }).text, '');
      }
    }
    this.seeded = true;
  }

  /**
   * Once every peer is established again, peers have re-sent their tables
   * within moments: keep stale routes only a few seconds longer.
   */
  private async checkConvergence(): Promise<void> {
    if (Date.now() >= this.keepStaleUntil) return;
    const peers = await this.deps.bgp.listPeers();
    if (peers.length > 0 && peers.every((p) => p.state === 'established')) {
      this.keepStaleUntil = Math.min(this.keepStaleUntil, Date.now() + 5000);
    }
  }

  private clusterNodes(): ClusterNode[] {
    return this.deps.informers.nodes.list().map((node) => {
      const name = node.metadata?.name ?? '';
      return { name, net: this.deps.families.nodeNetwork(node), bgp: readNodeBgpSettings(name, node.metadata?.annotations) };
    });
  }

  private async passwordsFromFile(): Promise<(string | undefined)[]> {
    if (!this.config.peerRouterPasswordsFile) return [];
    try {
      const text = await readFile(this.config.peerRouterPasswordsFile, 'utf8');
      return text
        .trim()
        .split(',')
        .map((p) => (p.trim() ? Buffer.from(p.trim(), 'base64').toString('utf8') : undefined));
    } catch (e) {
      this.report(`plugins.router.peerRouterPasswordsFile: cannot read ${this.config.peerRouterPasswordsFile}: ${(e as Error).message}`);
      return [];
    }
  }

  /** Logs an error once per distinct message (a resync does not repeat it). */
  private report(message: string): void {
    if (this.reportedErrors.has(message)) return;
    this.reportedErrors.add(message);
    this.onError(message);
  }

  async sync(): Promise<SyncReport> {
    const { families: af, bgp, informers } = this.deps;
    const families = af.enabled;
    const nodes = this.clusterNodes();
    const local = nodes.find((n) => n.name === af.nodeName);
    if (!local) {
      if (this.appliedGlobal === undefined) throw new Error(`node ${af.nodeName} is not in the API yet`);
      return this.withdrawDeletedNode(af.nodeName);
    }
    this.ownNodeGone = false;
    const errors: string[] = [...local.net.errors, ...local.bgp.errors];
    for (const n of nodes) if (n !== local) errors.push(...n.bgp.errors.filter((e) => e.includes('node.asn') || e.includes('rr.')));

    // 1. The speaker.
    const { global, error } = desiredGlobal(local, this.config, families);
    if (!global) throw new Error(error);
    const globalKey = JSON.stringify(global);
    if (this.appliedGlobal !== globalKey) {
      if (this.appliedGlobal !== undefined) {
        this.logger.info('BGP global settings changed, restarting the speaker', { global });
        await bgp.stopBgp();
        this.appliedPeers.clear();
        this.appliedPaths.clear();
      }
      await bgp.startBgp(global);
      await bgp.setPolicy('import', this.importPolicy(families));
      this.appliedGlobal = globalKey;
    }
    if (!this.seeded) await this.seedFromSpeaker(families);

    // Desired peers: cluster mesh (or reflectors) and external routers.
    const external = externalPeers(local, this.config, families, await this.passwordsFromFile());
    errors.push(...external.errors);
    const peers = new Map<string, BgpPeer>();
    for (const p of [...meshPeers(local, nodes, this.config, families), ...external.peers]) {
      if (!peers.has(p.address)) peers.set(p.address, p);
    }

    // 2. Paths we originate, before peers: a session that comes up gets the
    // whole table at once (an empty table then End-of-RIB would make a
    // graceful-restart helper flush our routes).
    const pod = this.config.advertisePodCidr ? podCidrPaths(local, families) : { paths: [], errors: [] };
    const vip = serviceVipPaths(local, informers.services.list(), informers.endpointSlices.list(), this.config, families);
    errors.push(...pod.errors, ...vip.errors);
    const paths = new Map<string, BgpPath>([...pod.paths, ...vip.paths].map((p) => [p.prefix, p]));
    for (const [prefix, path] of paths) {
      const key = JSON.stringify(path);
      if (this.appliedPaths.get(prefix) === key) continue;
      try {
        await bgp.addPath(path);
        this.appliedPaths.set(prefix, key);
      } catch (e) {
        errors.push(`path ${prefix}: ${(e as Error).message}`);
      }
    }
    for (const prefix of [...this.appliedPaths.keys()]) {
      if (paths.has(prefix)) continue;
      await bgp.deletePath({ prefix });
      this.appliedPaths.delete(prefix);
    }

    // Towards external routers a node speaks only for itself: its own pod
    // CIDRs and VIPs, never what it learned from other nodes or routers
    // (else a router may reach node-2's pods through node-1, or through us
    // reach another router).
    const externalAddresses = external.peers.map((p) => p.address).filter((a) => peers.get(a)?.description === 'external');
    const exportKey = JSON.stringify([externalAddresses, [...paths.keys()]]);
    if (this.appliedExport !== exportKey) {
      await bgp.setPolicy('export', exportPolicy(externalAddresses, [...paths.keys()]));
      this.appliedExport = exportKey;
    }

    // 3. Peers: cluster mesh (or reflectors) and external routers.
    for (const [address, peer] of peers) {
      const key = JSON.stringify(peer);
      if (this.appliedPeers.get(address) === key) continue;
      try {
        await bgp.addPeer(peer);
        this.appliedPeers.set(address, key);
      } catch (e) {
        errors.push(`peer ${address}: ${(e as Error).message}`);
      }
    }
    for (const address of [...this.appliedPeers.keys()]) {
      if (peers.has(address)) continue;
      await bgp.deletePeer(address);
      this.appliedPeers.delete(address);
    }

    // 4. Kernel routes for what peers taught us.
    const routes: Record<Family, Route[]> = { ipv4: [], ipv6: [] };
    let skipped = 0;
    if (this.config.installRoutes) {
      await this.checkConvergence();
      const result = await this.syncKernelRoutes(local, families);
      Object.assign(routes, result.routes);
      skipped = result.skipped;
    }

    for (const e of errors) this.report(e);
    this.last = { global, peers: [...peers.values()], paths: [...paths.values()], routes, errors, skipped };
    return this.last;
  }

  /**
   * Our Node object was deleted after we had started: its pod CIDRs are no
   * longer this node's (they may be given to another node), so withdraw every
   * path we originate. Sessions and kernel routes stay until the agent stops
   * or the node comes back, when the next sync originates again.
   */
  private async withdrawDeletedNode(nodeName: string): Promise<SyncReport> {
    if (!this.ownNodeGone) {
      this.logger.warn('this node was deleted from the API; withdrawing the paths it originated', { node: nodeName, paths: this.appliedPaths.size });
      this.ownNodeGone = true;
    }
    for (const prefix of [...this.appliedPaths.keys()]) {
      await this.deps.bgp.deletePath({ prefix });
      this.appliedPaths.delete(prefix);
    }
    this.last = { ...this.last, paths: [] };
    return this.last;
  }

  /**
   * Import policy per family: never accept a default route or a service range
   * from a peer. gobgpd runs the global import policy on locally originated
   * paths too, so the statements match only paths from a neighbor (any
   * address): else the service VIPs this node advertises would be dropped.
   */
  private importPolicy(families: readonly Family[]) {
    const fromPeers = ['0.0.0.0/0', '::/0'];
    const excluded = [...this.config.serviceClusterIPRanges, ...this.config.serviceExternalIPRanges];
    const defaults = families.map((f) => (f === 'ipv4' ? '0.0.0.0/0' : '::/0'));
    return {
      name: 'krouter-import',
      statements: [
        { prefixes: defaults.map((prefix) => ({ prefix, maskLengthMin: 0, maskLengthMax: 0 })), neighbors: fromPeers, action: 'reject' as const },
        ...(excluded.length
          ? [
              {
                prefixes: excluded.map((prefix) => {
                  const c = parseCidr(prefix, undefined, { allowHostBits: true });
                  return { prefix: c.text, maskLengthMin: c.prefixLength, maskLengthMax: c.family === 'ipv4' ? 32 : 128 };
                }),
                neighbors: fromPeers,
                action: 'reject' as const,
              },
            ]
          : []),
      ],
    };
  }

  private async syncKernelRoutes(local: ClusterNode, families: readonly Family[]) {
    const { bgp, netlink } = this.deps;
    const addresses = await netlink.listAddresses();
    const connected = addresses.map((a) => parseCidr(a.cidr, undefined, { allowHostBits: true }));
    const localAddresses = addresses.map((a) => a.cidr.split('/')[0]!);
    const routes: Record<Family, Route[]> = { ipv4: [], ipv6: [] };
    let skipped = 0;
    const ops = [];
    for (const family of families) {
      const learned: BgpRoute[] = await bgp.listPaths(family, 'global');
      const desired = desiredKernelRoutes(learned, {
        families,
        ownPrefixes: local.net.podCIDRs[family],
        localAddresses,
        connected,
        excluded: [...this.config.serviceClusterIPRanges, ...this.config.serviceExternalIPRanges],
        table: this.config.routeTable,
      });
      skipped += desired.skipped.length;
      const actual = await netlink.listRoutes({ family, protocol: KROUTER_ROUTE_PROTOCOL, table: this.config.routeTable });
      const diff = diffRoutes(desired.routes, actual);
      for (const route of diff.replace) ops.push({ op: 'route.replace' as const, route: { ...route, protocol: KROUTER_ROUTE_PROTOCOL } });
      if (Date.now() >= this.keepStaleUntil) {
        for (const route of diff.remove) ops.push({ op: 'route.delete' as const, route: { ...route, protocol: KROUTER_ROUTE_PROTOCOL } });
      }
      routes[family] = desired.routes;
    }
    if (ops.length) {
      const result = await netlink.apply(ops);
      for (const e of result.errors) this.report(`route ${'route' in e.op ? e.op.route.dst : ''}: ${e.message}`);
      this.logger.info('kernel routes updated', {
        replaced: ops.filter((o) => o.op === 'route.replace').length,
        removed: ops.filter((o) => o.op === 'route.delete').length,
        failed: result.errors.length,
      });
    }
    return { routes, skipped };
  }
}
