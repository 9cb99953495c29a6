import type { Address, Family, Link, NetlinkOp } from '@krouter/sdk';
import type { CniConfig } from './config.ts';
import type { CniModel } from './model.ts';

/** containernetworking-plugins 1.1.1 (Debian 12) supports CNI spec 0.1.0 .. 1.0.0. */
export const CNI_VERSION = '1.0.0';

/** Plugin types this plugin writes into the list; any other entry belongs to the operator. */
const OUR_PLUGIN_TYPES = new Set(['bridge', 'portmap']);
const OUR_TOP_KEYS = new Set(['cniVersion', 'name', 'plugins']);

export const NFT_TABLE = { family: 'inet', name: 'krouter-cni' } as const;

type Json = Record<string, unknown>;

/** Our part of the conflist: bridge (host-local IPAM, one range set per family) then portmap. */
export function renderConflist(model: CniModel, config: CniConfig, mtu: number): Json {
  const ranges = model.families
    .map((f) => model.gateways[f])
    .filter((g) => g !== undefined)
    .map((g) => [{ subnet: g.subnet, gateway: g.address }]);
  const ipam: Json = { type: 'host-local', ranges };
  if (config.ipamDataDir) ipam.dataDir = config.ipamDataDir;
  const plugins: Json[] = [
    {
      type: 'bridge',
      bridge: config.bridge,
      isGateway: true,
      isDefaultGateway: true,
      hairpinMode: config.hairpinMode,
      mtu,
      ipam,
    },
  ];
  if (config.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
  return { cniVersion: CNI_VERSION, name: config.networkName, plugins };
}

/**
 * Merges our conflist into the file's current text: top-level keys we do not
 * own and list entries of plugin types we do not write are kept (after ours);
 * our keys and entries are replaced. Unreadable existing text is replaced
 * whole, with a warning for the caller to log.
 */
export function mergeConflist(existingText: string | undefined, ours: Json): { text: string; warning?: string } {
  let existing: Json = {};
  let warning: string | undefined;
  if (existingText !== undefined && existingText.trim() !== '') {
    try {
      const parsed: unknown = JSON.parse(existingText);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      existing = parsed as Json;
    } catch (err) {
      warning = `existing CNI config is not valid JSON (${(err as Error).message}); replacing it`;
    }
  }
  const extraKeys = Object.fromEntries(Object.entries(existing).filter(([k]) => !OUR_TOP_KEYS.has(k)));
  const extraPlugins = Array.isArray(existing.plugins)
    ? existing.plugins.filter(
        (p) => typeof p === 'object' && p !== null && !OUR_PLUGIN_TYPES.has(String((p as Json).type)),
      )
    : [];
  const merged = {
    cniVersion: ours.cniVersion,
    name: ours.name,
    ...extraKeys,
    plugins: [...(ours.plugins as Json[]), ...extraPlugins],
  };
  return { text: JSON.stringify(merged, null, 2) + '\n', warning };
}

const addrType: Record<Family, string> = { ipv4: 'ipv4_addr', ipv6: 'ipv6_addr' };
const ipKeyword: Record<Family, string> = { ipv4: 'ip', ipv6: 'ip6' };

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
    lines.push(`  set ${set} {`, `    type ${addrType[f]}`, '    flags interval', '    auto-merge');
    if (elements.length) lines.push(`    elements = { ${elements.join(', ')} }`);
    lines.push('  }');
    rules.push(
      `    oifname != ${JSON.stringify(config.bridge)} ${ipKeyword[f]} saddr ${local} ${ipKeyword[f]} daddr != @${set} masquerade fully-random`,
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
  const out: Sysctl[] = [];
  for (const f of families) {
    if (f === 'ipv4') {
      out.push({ key: 'net.ipv4.ip_forward', value: '1' });
      out.push({ key: 'net.bridge.bridge-nf-call-iptables', value: '1', ifPresent: true });
    } else {
      out.push({ key: 'net.ipv6.conf.all.forwarding', value: '1' });
      out.push({ key: 'net.bridge.bridge-nf-call-ip6tables', value: '1', ifPresent: true });
    }
  }
  return out;
}

/** Per-bridge sysctls, once the bridge exists: IPv6 on, no DAD so the gateway is usable at once. */
export function renderBridgeSysctls(families: readonly Family[], bridge: string): Sysctl[] {
  if (!families.includes('ipv6')) return [];
  return [
    { key: `net.ipv6.conf.${bridge}.disable_ipv6`, value: '0' },
    { key: `net.ipv6.conf.${bridge}.accept_dad`, value: '0' },
  ];
}

/**
 * Netlink ops that make the (existing or new) bridge up, with the MTU and
 * exactly the gateway addresses of the families that have a pod CIDR. Global
 * addresses of those families that are not ours are removed; families
 * without a known CIDR are left untouched.
 */
export function renderBridgeOps(model: CniModel, bridge: string, mtu: number, link: Link | undefined, addresses: readonly Address[]): NetlinkOp[] {
  const ops: NetlinkOp[] = [];
  if (!link || !link.up || link.mtu !== mtu) ops.push({ op: 'link.set', name: bridge, up: true, mtu });
  for (const f of model.families) {
    const gw = model.gateways[f];
    if (!gw) continue;
    const mine = addresses.filter((a) => a.dev === bridge && a.family === f && (a.scope ?? 'global') === 'global');
    for (const a of mine) if (a.cidr !== gw.cidr) ops.push({ op: 'addr.delete', dev: bridge, cidr: a.cidr });
    if (!mine.some((a) => a.cidr === gw.cidr)) ops.push({ op: 'addr.replace', dev: bridge, cidr: gw.cidr, noDad: true });
  }
  return ops;
}
