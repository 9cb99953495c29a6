import { readFile } from 'node:fs/promises';
import {
  parseCidr,
  type AddressFamilies,
  type BgpGlobal,
  type BgpPath,
  type BgpPolicy,
  type BgpPeer,
  type Family,
  type Gobgp,
  type Informers,
  type Logger,
  type Netlink,
} from '@krouter/sdk';
import { readNodeBgpSettings } from './annotations.ts';
import type { RouterConfig } from './config.ts';
import type { ClusterNode } from './model/cluster.ts';
import { externalPeers, meshPeers } from './model/peers.ts';
import { podCidrPaths, serviceVipPaths } from './model/paths.ts';
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
  errors: string[];
}

/**
 * The router's whole reconcile step: caches -> desired BGP speaker, peers,
 * paths -> the differences applied through the Gobgp service. (Kernel
 * routes are KernelRouteSync's job, driven by the speaker's events.)
 * Keeps what it applied so the next sync only sends changes.
 */
export class RouterSync {
  private appliedGlobal?: string;
  private appliedExport?: string;
  private readonly appliedPeers = new Map<string, string>();
  private readonly appliedPaths = new Map<string, string>();
  /** Whether applied peers and paths have been read from the speaker (once per start of BGP). */
  private seeded = false;
  /** Our own Node object disappeared after we had started (see withdrawDeletedNode). */
  private ownNodeGone = false;
  private readonly reportedErrors = new Set<string>();
  private waitingLogged = false;

  /** True once the BGP speaker runs with this node's settings. */
  get started(): boolean {
    return this.appliedGlobal !== undefined;
  }
  last: SyncReport = { peers: [], paths: [], errors: [] };

  constructor(
    private readonly config: RouterConfig,
    private readonly deps: RouterDeps,
    private readonly logger: Logger,
    private readonly onError: (message: string) => void,
  ) {}

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
  report(message: string): void {
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
      if (this.appliedGlobal === undefined) {
        // Normal at first start (the kubelet registers the Node): wait for the Node informer, not an error.
        if (!this.waitingLogged) this.logger.info('waiting for this node to appear in the API', { node: af.nodeName });
        this.waitingLogged = true;
        return this.last;
      }
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
    const pod = this.config.advertisePodCidr
      ? podCidrPaths(local, families, { extendedNexthop: this.config.sessionMode === 'single' })
      : { paths: [], errors: [] };
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

    for (const e of errors) this.report(e);
    this.last = { global, peers: [...peers.values()], paths: [...paths.values()], errors };
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
}
