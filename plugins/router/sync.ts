import { readFile } from 'node:fs/promises';
import type { AddressFamilies, BgpGlobal, BgpPath, BgpPeer, Gobgp, Informers, Logger, Netlink } from '@krouter/sdk';
import { readNodeBgpSettings } from './annotations.ts';
import type { RouterConfig } from './config.ts';
import { desiredBgp, type BgpModel } from './model/bgp.ts';
import type { ClusterNode } from './model/cluster.ts';
import { ProblemLog } from './problem-log.ts';

export interface RouterDeps {
  families: AddressFamilies;
  bgp: Gobgp;
  netlink: Netlink;
  informers: Informers;
}

/** What the last sync did, for status and metrics. */
export interface SyncReport {
  global?: BgpGlobal;
  peers: BgpPeer[];
  paths: BgpPath[];
  errors: string[];
}

/**
 * The router's whole reconcile step: caches -> this node's desired BGP
 * state (model/bgp.ts) -> one apply through the Gobgp service, which alone
 * diffs, adopts and replays. (Kernel routes are KernelRouteSync's job,
 * driven by the speaker's events.)
 */
export class RouterSync {
  /** Our own Node object disappeared after we had started: originate nothing until it is back. */
  private ownNodeGone = false;
  private readonly problems: ProblemLog;
  private waitingLogged = false;
  /** The last desired state built from our own Node object (kept, without paths, while it is gone). */
  private lastDesired?: BgpModel['desired'];

  /** True once the BGP speaker runs with this node's settings. */
  get started(): boolean {
    return this.last.global !== undefined;
  }
  last: SyncReport = { peers: [], paths: [], errors: [] };

  constructor(
    private readonly config: RouterConfig,
    private readonly deps: RouterDeps,
    private readonly logger: Logger,
    /** An error line and the Node it is about (this node unless the line names another node's annotation). */
    onError: (message: string, node: string) => void,
  ) {
    this.problems = new ProblemLog(onError);
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

  /** Logs an error once while it lasts (a resync does not repeat it); `node`: the Node it is about, this one by default. */
  report(message: string, node: string = this.deps.families.nodeName): void {
    this.problems.report(message, node);
  }

  async sync(): Promise<SyncReport> {
    const { families: af, bgp, informers } = this.deps;
    this.problems.beginRound();
    const nodes = this.clusterNodes();
    const local = nodes.find((n) => n.name === af.nodeName);
    if (!local) {
      if (!this.started) {
        // Normal at first start (the kubelet registers the Node): wait for the Node informer, not an error.
        if (!this.waitingLogged) this.logger.info('waiting for this node to appear in the API', { node: af.nodeName });
        this.waitingLogged = true;
        return this.last;
      }
      // Our Node object was deleted after we had started: its pod CIDRs are no
      // longer this node's (they may be given to another node), so withdraw
      // every path we originate. Sessions and kernel routes stay until the
      // agent stops or the node comes back, when the next sync originates again.
      if (!this.ownNodeGone) {
        this.logger.warn('this node was deleted from the API; withdrawing the paths it originated', { node: af.nodeName, paths: this.last.paths.length });
      }
      this.ownNodeGone = true;
    } else this.ownNodeGone = false;

    const model = this.ownNodeGone
      ? { desired: this.lastDesired!, errors: [], problems: [] }
      : desiredBgp({
          local: local!,
          nodes,
          config: this.config,
          families: af.enabled,
          services: informers.services.list(),
          endpointSlices: informers.endpointSlices.list(),
          passwordsFromFile: await this.passwordsFromFile(),
        });
    if ('error' in model) throw new Error(model.error);
    const desired = this.ownNodeGone ? { ...model.desired, paths: [] } : model.desired;
    if (!this.ownNodeGone) this.lastDesired = model.desired;

    if (this.last.global && JSON.stringify(this.last.global) !== JSON.stringify(desired.global)) {
      this.logger.info('BGP global settings changed, restarting the speaker', { global: desired.global });
    }
    const result = await bgp.apply(desired);
    const rejected = new Map(result.rejected.map((r) => [`${r.object} ${r.key}`, r]));
    const rejectedLines = result.rejected.map((r) => `${r.object} ${r.key}: ${r.message}`);
    const errors = [...model.errors, ...rejectedLines];
    for (const p of model.problems) this.report(p.message, p.node);
    for (const e of rejectedLines) this.report(e);
    this.problems.endRound();
    this.last = {
      global: desired.global,
      peers: desired.peers.filter((p) => !rejected.has(`peer ${p.address}`)),
      paths: desired.paths.filter((p) => !rejected.has(`path ${p.prefix}`)),
      errors,
    };
    return this.last;
  }
}
