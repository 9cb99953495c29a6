import {
  POD_CIDRS_ANNOTATION,
  createReconciler,
  perFamily,
  type AddressFamilies,
  type Change,
  type Informers,
  type Logger,
  type Netlink,
  type Nftables,
  type NodeNetwork,
  type PerFamily,
  type PluginContext,
  type PluginInstance,
  type V1Node,
} from '@krouter/sdk';
import { applyOps, applySysctls, deleteTableIfExists, readTextIfExists, removeFile, writeFileAtomic } from './apply.ts';
import type { CniConfig } from './config.ts';
import { takeOverConflist } from './conflist.ts';
import { buildModel, type CniModel, type LastGood, type Problem } from './model.ts';
import { cniStatus, type CniStatus } from './status.ts';
import {
  NFT_TABLE,
  bridgeMacDrift,
  renderBridgeCreate,
  renderBridgeOps,
  renderBridgeSysctls,
  renderConflist,
  renderNftBody,
  renderSysctls,
} from './render.ts';

export interface CniDeps {
  families: AddressFamilies;
  netlink: Netlink;
  nftables: Nftables;
  informers: Informers;
}

const DEFAULT_MTU = 1500;

/**
 * The CNI plugin's state between syncs and its sync step:
 * nodes -> model (pure) -> render (pure) -> apply (netlink, nftables, file).
 */
export class CniAgent {
  private lastGood: LastGood = { nodes: new Map() };
  private model: CniModel | undefined;
  private mtu: number | undefined;
  /** Body last applied; undefined until the first sync adopts/replaces the table. */
  private nftBody: string | undefined;
  private reported = new Set<string>();
  private readonly clusterCIDRs: PerFamily<string[]>;
  private readonly logger: Logger;

  constructor(
    private readonly ctx: PluginContext<CniConfig>,
    private readonly deps: CniDeps,
  ) {
    this.logger = ctx.logger;
    const split = deps.families.split(ctx.config.clusterCIDRs);
    if (split.ignored.length) {
      this.logger.warn('clusterCIDRs of a family that is not enabled are ignored', { clusterCIDRs: split.ignored });
    }
    this.clusterCIDRs = perFamily((f) => split[f]);
  }

  get config(): CniConfig {
    return this.ctx.config;
  }

  async sync(reasons: string[] = []): Promise<void> {
    const { families, netlink, nftables, informers } = this.deps;
    const enabled = families.enabled;
    const nodeName = this.ctx.nodeName;
    const localObject = informers.nodes.get(nodeName);
    if (!localObject) throw new Error(`node ${JSON.stringify(nodeName)} is not known to the API server (yet)`);
    const nodes = informers.nodes.list().map((n) => families.nodeNetwork(n));
    const model = buildModel({ families: enabled, nodeName, nodes, clusterCIDRs: this.clusterCIDRs, lastGood: this.lastGood, bridgeMac: this.config.bridgeMac });
    this.lastGood = model.lastGood;
    this.model = model;
    await this.reportProblems(model.problems);

    const active = enabled.filter((f) => model.podCIDRs[f]);
    if (active.length === 0) {
      this.logger.warn('this node has no usable pod CIDR yet; nothing to set up', { node: nodeName, reasons });
      return;
    }

    const local = nodes.find((n) => n.name === nodeName)!;
    const mtu = await this.resolveMtu(local);
    this.mtu = mtu;

    await applySysctls(netlink, renderSysctls(enabled), this.logger);

    // The bridge: adopt an existing one, create it otherwise.
    const bridge = this.config.bridge;
    let link = await netlink.getLink(bridge);
    if (link && link.kind !== 'bridge') {
      throw new Error(`link ${bridge} exists and is not a bridge (kind ${link.kind ?? 'unknown'}); refusing to adopt it`);
    }
    if (!link) {
      await applyOps(netlink, [renderBridgeCreate(model, bridge, mtu)]);
      this.logger.info('bridge created', { bridge, mtu, mac: model.bridgeMac });
      link = await netlink.getLink(bridge);
    }
    // Sysctls before the ops: a MAC repair below must already be announced to the pods.
    await applySysctls(netlink, renderBridgeSysctls(enabled, bridge), this.logger);
    const ops = renderBridgeOps(model, bridge, mtu, link, await netlink.listAddresses(bridge));
    if (ops.length) {
      await applyOps(netlink, ops);
      const drift = bridgeMacDrift(model, link);
      if (drift) this.logger.info('bridge MAC set', { bridge, from: drift.from ?? null, to: drift.to });
      this.logger.info('bridge updated', { bridge, ops: ops.length });
    }

    if (this.config.masquerade) {
      const body = renderNftBody(model, this.config);
      if (body !== this.nftBody) {
        await nftables.applyTable(NFT_TABLE, body);
        this.nftBody = body;
        this.logger.info('masquerade table applied', { table: `${NFT_TABLE.family} ${NFT_TABLE.name}` });
      }
    } else if (this.nftBody !== '') {
      if (await deleteTableIfExists(nftables, NFT_TABLE)) this.logger.info('masquerade disabled; table removed');
      this.nftBody = '';
    }

    // The config file last: its presence tells the kubelet the network is ready.
    if (!model.complete) {
      this.logger.warn('not writing the CNI config until every enabled family has a pod CIDR', {
        podCIDRs: model.podCIDRs,
      });
      return;
    }
    const path = this.config.confPath;
    const existing = await readTextIfExists(path);
    const merged = takeOverConflist(existing, renderConflist(model, this.config, mtu));
    if (merged.warning) this.logger.warn(merged.warning, { path });
    if (merged.text !== existing) {
      await writeFileAtomic(path, merged.text);
      // Changes to a file someone else wrote (kube-router's, an operator's) are named; the rest of it was kept.
      if (merged.changes.length) this.logger.info('CNI config taken over', { path, changes: merged.changes });
      else this.logger.info('CNI config written', { path });
    }
  }

  /** MTU of the interface holding the node's primary IP (no overlay, so nothing is subtracted). */
  private async resolveMtu(local: NodeNetwork): Promise<number> {
    if (typeof this.config.mtu === 'number') return this.config.mtu;
    const ips = this.deps.families.enabled.map((f) => local.primaryIP[f]).filter((ip): ip is string => !!ip);
    const addresses = await this.deps.netlink.listAddresses();
    for (const ip of ips) {
      const holder = addresses.find((a) => a.cidr.split('/')[0] === ip);
      if (!holder) continue;
      const link = await this.deps.netlink.getLink(holder.dev);
      if (link) return link.mtu;
    }
    if (this.mtu === undefined) {
      this.logger.warn('no interface holds the node primary IP; using the default MTU', { primaryIPs: ips, mtu: DEFAULT_MTU });
    }
    return DEFAULT_MTU;
  }

  /** One error line and one Warning event per new problem; a problem that goes away may be reported again later. */
  private async reportProblems(problems: Problem[]): Promise<void> {
    const now = new Set<string>();
    for (const p of problems) {
      now.add(p.message);
      if (this.reported.has(p.message)) continue;
      this.logger.error('bad node network data; keeping the last good state', { node: p.node, problem: p.message });
      const uid = this.deps.informers.nodes.get(p.node)?.metadata?.uid;
      const reason = / has no (ipv4|ipv6) pod CIDR/.test(p.message) ? 'MissingPodCIDR' : 'InvalidPodCIDR';
      await this.deps.informers.api
        .recordEvent({ kind: 'Node', name: p.node, ...(uid ? { uid } : {}) }, 'Warning', reason, p.message)
        .catch(() => undefined);
    }
    this.reported = now;
  }

  async status(): Promise<CniStatus> {
    const bridge = this.config.bridge;
    const link = await this.deps.netlink.getLink(bridge);
    const addresses = link ? await this.deps.netlink.listAddresses(bridge) : [];
    return cniStatus({
      confPath: this.config.confPath,
      bridge,
      link: link ? { up: link.up ?? false, mtu: link.mtu ?? null, mac: link.mac ?? null } : undefined,
      addresses: addresses.filter((a) => (a.scope ?? 'global') === 'global').map((a) => a.cidr),
      families: this.deps.families.enabled,
      familyOf: (cidr) => this.deps.families.familyOf(cidr),
      podCIDRs: this.model?.podCIDRs,
      masquerade: this.config.masquerade,
      problems: this.model?.problems.map((p) => p.message) ?? [],
    });
  }
}

/** Removes everything the plugin owns: the config file, the bridge, the nft table. */
export async function cleanupCni(config: CniConfig, deps: Pick<CniDeps, 'netlink' | 'nftables'>, logger: Logger): Promise<void> {
  await removeFile(config.confPath);
  if (await deps.netlink.getLink(config.bridge)) await applyOps(deps.netlink, [{ op: 'link.delete', name: config.bridge }]);
  await deleteTableIfExists(deps.nftables, NFT_TABLE);
  logger.info('CNI state removed', { confPath: config.confPath, bridge: config.bridge, table: NFT_TABLE.name });
}

/** Fields of a Node whose change can change this plugin's output. */
function fingerprint(node: V1Node | undefined): string {
  return JSON.stringify([
    node?.spec?.podCIDRs,
    node?.spec?.podCIDR,
    node?.metadata?.annotations?.[POD_CIDRS_ANNOTATION],
    node?.status?.addresses,
  ]);
}

export interface StartOptions {
  debounceMs?: number;
  minIntervalMs?: number;
  resyncIntervalMs?: number;
}

/** Starts the agent under the SDK's reconcile loop, resyncing on node pod-CIDR changes. */
export async function startCni(ctx: PluginContext<CniConfig>, deps: CniDeps, opts: StartOptions = {}): Promise<
  PluginInstance & {
    agent: CniAgent;
    syncCount(): number;
    /** Stops the agent and removes what it made (the host's `krouter cleanup` uses the plugin's own cleanup instead). */
    cleanup(): Promise<void>;
  }
> {
  const agent = new CniAgent(ctx, deps);
  const reconciler = createReconciler({
    name: 'cni',
    sync: (reasons) => agent.sync(reasons),
    logger: ctx.logger,
    metrics: ctx.metrics,
    health: ctx.health,
    signal: ctx.signal,
    ...opts,
  });
  const off = deps.informers.nodes.onChange((change: Change<V1Node>) => {
    if (change.type === 'update' && fingerprint(change.old) === fingerprint(change.object)) return;
    reconciler.trigger(`node ${change.type} ${change.object.metadata?.name ?? ''}`);
  });
  try {
    await deps.informers.waitForSync();
  } catch (err) {
    ctx.logger.warn('informers not synced yet; syncing when the node appears', { error: (err as Error).message });
  }
  await reconciler.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    off();
    await reconciler.stop();
  };
  return {
    agent,
    syncCount: () => reconciler.syncCount,
    stop,
    status: () => agent.status(),
    cleanup: async () => {
      await stop();
      await cleanupCni(ctx.config, deps, ctx.logger);
    },
  };
}
