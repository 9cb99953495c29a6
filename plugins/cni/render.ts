import { nftWords, sysctlWords, type Address, type Family, type Link, type NetlinkOp } from '@krouter/sdk';
import type { CniConfig } from './config.ts';
import type { DesiredConflist } from './conflist.ts';
import type { CniModel } from './model.ts';

/** containernetworking-plugins 1.1.1 (Debian 12) supports CNI spec 0.1.0 .. 1.0.0. */
export const CNI_VERSION = '1.0.0';

export const NFT_TABLE = { family: 'inet', name: 'krouter-cni' } as const;


/**
 * What we need in the conflist: the bridge plugin (host-local IPAM, one
 * range per family) and, when on, portmap. `takeOverConflist` puts it into
 * whatever the file holds now.
 */
export function renderConflist(model: CniModel, config: CniConfig, mtu: number): DesiredConflist {
  const ranges = model.families
    .map((f) => model.gateways[f])
    .filter((g) => g !== undefined)
    .map((g) => ({ subnet: g.subnet, gateway: g.address }));
  return {
    cniVersion: CNI_VERSION,
    name: config.networkName,
    bridge: { bridge: config.bridge, isGateway: true, isDefaultGateway: true, hairpinMode: config.hairpinMode, mtu },
    ipam: config.ipamDataDir ? { dataDir: config.ipamDataDir } : {},
    ranges,
    portmap: config.portmap ? { type: 'portmap', capabilities: { portMappings: true }, snat: true } : undefined,
  };
}

/**
 * Body of `inet krouter-cni`: per family, a set of the cluster's ranges and a
 * masquerade rule for traffic from this node's pods to anything outside
 * them that leaves through a non-bridge interface.
 */
export function renderNftBody(model: CniModel, config: CniConfig): string {
  const lines: string[] = [];
  const rules: string[] = [];
  for (const f of model.families) {
    const local = model.podCIDRs[f];
    if (!local) continue;
    const set = `cluster-${f}`;
    const elements = model.clusterRanges[f];
    lines.push(`  set ${set} {`, `    type ${nftWords(f).addrType}`, '    flags interval', '    auto-merge');
    if (elements.length) lines.push(`    elements = { ${elements.join(', ')} }`);
    lines.push('  }');
    rules.push(
      `    oifname != ${JSON.stringify(config.bridge)} ${nftWords(f).ip} saddr ${local} ${nftWords(f).ip} daddr != @${set} masquerade fully-random`,
    );
  }
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', ...rules, '  }');
  return lines.join('\n') + '\n';
}

export interface Sysctl {
  key: string;
  value: string;
  /** Set only when the key exists (e.g. br_netfilter may not be loaded). */
  ifPresent?: boolean;
}

/** Host-wide sysctls: forwarding per family, bridge netfilter calls where available. */
export function renderSysctls(families: readonly Family[]): Sysctl[] {
  return families.flatMap((f) => [
    { key: sysctlWords(f).forwarding, value: '1' },
    { key: sysctlWords(f).bridgeNfCall, value: '1', ifPresent: true },
  ]);
}

/**
 * Per-bridge sysctls, once the bridge exists: per family, what makes the
 * gateway usable at once (IPv6 on, no DAD), and an announcement of the
 * gateway addresses whenever the bridge's MAC changes (gratuitous ARP,
 * unsolicited NA). The MAC is fixed, but when the sync has to repair it
 * (an adopted bridge, or someone changed it) the pods' neighbour entries
 * for the gateway then follow at once instead of pointing at the old MAC
 * until they go stale.
 */
export function renderBridgeSysctls(families: readonly Family[], bridge: string): Sysctl[] {
  return families.flatMap((f) => [
    ...sysctlWords(f).usableAtOnce(bridge),
    { key: sysctlWords(f).announceOnMacChange(bridge), value: '1' },
  ]);
}

/** The op that creates the bridge: with its own MAC from the start, so no port ever lends it one. */
export function renderBridgeCreate(model: CniModel, bridge: string, mtu: number): NetlinkOp {
  return { op: 'link.bridge', name: bridge, mtu, mac: model.bridgeMac };
}

/** The bridge's MAC when it is not the model's (an adopted bridge, or changed by someone); undefined when it is. */
export function bridgeMacDrift(model: CniModel, link: Link | undefined): { from: string | undefined; to: string } | undefined {
  const now = link?.mac?.toLowerCase();
  return now === model.bridgeMac ? undefined : { from: now, to: model.bridgeMac };
}

/**
 * Netlink ops that make the (existing or new) bridge up, with the MTU, the
 * model's MAC and exactly the gateway addresses of the families that have a
 * pod CIDR. Global addresses of those families that are not ours are
 * removed; families without a known CIDR are left untouched.
 */
export function renderBridgeOps(model: CniModel, bridge: string, mtu: number, link: Link | undefined, addresses: readonly Address[]): NetlinkOp[] {
  const ops: NetlinkOp[] = [];
  const drift = bridgeMacDrift(model, link);
  if (!link || !link.up || link.mtu !== mtu || drift) {
    ops.push({ op: 'link.set', name: bridge, up: true, mtu, ...(drift ? { mac: drift.to } : {}) });
  }
  for (const f of model.families) {
    const gw = model.gateways[f];
    if (!gw) continue;
    const mine = addresses.filter((a) => a.dev === bridge && a.family === f && (a.scope ?? 'global') === 'global');
    for (const a of mine) if (a.cidr !== gw.cidr) ops.push({ op: 'addr.delete', dev: bridge, cidr: a.cidr });
    if (!mine.some((a) => a.cidr === gw.cidr)) ops.push({ op: 'addr.replace', dev: bridge, cidr: gw.cidr, noDad: true });
  }
  return ops;
}
