/**
 * The lab's underlay: root bridge `krlab0` (lab addresses only, no
 * forwarding, bridge netfilter off), one namespace per node plus the router
 * namespace, each with `eth0` on the bridge. The router is every node's
 * default gateway and carries the "internet" addresses on its loopback.
 *
 * planTopology() is pure (spec -> steps); applyTopology() records each
 * step's object in the state file before running its commands.
 */
import {
  BRIDGE,
  ROUTER_NETNS,
  UNDERLAY_IF,
  UNDERLAY_PREFIX,
  bridgeAddresses,
  families,
  hostPrefix,
  nodeNetns,
  nodeUnderlay,
  rootVethName,
  routerInternet,
  routerOriginatedHost,
  routerUnderlay,
  type Family,
  type FamilyMap,
  type LabSpec,
} from './config.ts';

export interface TopologyStep {
  title: string;
  /** The object this step makes, recorded before the commands run. */
  makes?: { kind: 'netns' | 'link'; name: string };
  commands: string[][];
}

function addrArgs(ns: string | undefined, dev: string, f: Family, address: string, prefix: number): string[] {
  const base = ns ? ['ip', '-n', ns] : ['ip'];
  const cmd = [...base, `-${f === 'ipv4' ? 4 : 6}`, 'addr', 'add', `${address}/${prefix}`, 'dev', dev];
  if (f === 'ipv6') cmd.push('nodad');
  return cmd;
}

function entries<T>(m: FamilyMap<T>): Array<[Family, T]> {
  return Object.entries(m) as Array<[Family, T]>;
}

/** Sysctls of a lab namespace: forwarding per enabled family, no duplicate address detection. */
export function namespaceSysctls(spec: Pick<LabSpec, 'family'>): string[] {
  const out = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];
  for (const f of families(spec)) {
    if (f === 'ipv4') out.push('net.ipv4.ip_forward=1');
    else out.push('net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.default.forwarding=1');
  }
  return out;
}

function namespaceSteps(spec: LabSpec, ns: string, vethOwner: string, addresses: FamilyMap<string>): TopologyStep[] {
  const veth = rootVethName(vethOwner);
  return [
    {
      title: `namespace ${ns}`,
      makes: { kind: 'netns', name: ns },
      commands: [
        ['ip', 'netns', 'add', ns],
        // Set before eth0 exists so the new link inherits accept_dad=0 from "default".
        ['ip', 'netns', 'exec', ns, 'sysctl', '-qw', ...namespaceSysctls(spec)],
        ['ip', '-n', ns, 'link', 'set', 'lo', 'up'],
      ],
    },
    {
      title: `link ${veth} <-> ${ns}/${UNDERLAY_IF}`,
      makes: { kind: 'link', name: veth },
      commands: [
        ['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', UNDERLAY_IF, 'netns', ns],
        ['ip', 'link', 'set', veth, 'master', BRIDGE, 'up'],
        ...entries(addresses).map(([f, a]) => addrArgs(ns, UNDERLAY_IF, f, a, UNDERLAY_PREFIX[f])),
        ['ip', '-n', ns, 'link', 'set', UNDERLAY_IF, 'up'],
      ],
    },
  ];
}

/** One node's part of the topology: its namespace, its link to the bridge, its default route. */
export function planNodeTopology(spec: LabSpec, node: string): TopologyStep[] {
  const i = spec.nodes.indexOf(node);
  if (i < 0) throw new Error(`unknown lab node ${JSON.stringify(node)}`);
  const ns = nodeNetns(node);
  return [
    ...namespaceSteps(spec, ns, node, nodeUnderlay(spec, i + 1)),
    {
      title: `${node} default route via the router`,
      commands: entries(routerUnderlay(spec)).map(([f, gw]) => ['ip', '-n', ns, `-${f === 'ipv4' ? 4 : 6}`, 'route', 'add', 'default', 'via', gw, 'dev', UNDERLAY_IF]),
    },
  ];
}

export function planTopology(spec: LabSpec): TopologyStep[] {
  const steps: TopologyStep[] = [
    {
      title: `bridge ${BRIDGE}`,
      makes: { kind: 'link', name: BRIDGE },
      commands: [
        // Bridged lab frames must not pass the root namespace's iptables/nftables (br_netfilter).
        ['ip', 'link', 'add', BRIDGE, 'type', 'bridge', 'nf_call_iptables', '0', 'nf_call_ip6tables', '0', 'nf_call_arptables', '0'],
        ['sysctl', '-qw', `net.ipv6.conf.${BRIDGE}.accept_dad=0`],
        ...entries(bridgeAddresses(spec)).map(([f, a]) => addrArgs(undefined, BRIDGE, f, a, UNDERLAY_PREFIX[f])),
        ['ip', 'link', 'set', BRIDGE, 'up'],
      ],
    },
  ];

  steps.push(...namespaceSteps(spec, ROUTER_NETNS, 'router', routerUnderlay(spec)));
  const lo: string[][] = [];
  for (const [f, a] of entries(routerInternet(spec))) lo.push(addrArgs(ROUTER_NETNS, 'lo', f, a, hostPrefix(f)));
  for (const [f, a] of entries(routerOriginatedHost(spec))) lo.push(addrArgs(ROUTER_NETNS, 'lo', f, a, hostPrefix(f)));
  steps.push({ title: `router "internet" addresses`, commands: lo });

  for (const node of spec.nodes) steps.push(...planNodeTopology(spec, node));
  return steps;
}
