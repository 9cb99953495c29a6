/**
 * Reading BGP state out of a running lab, for tests and people: a node's
 * gobgp RIB per family, a node's krouter kernel routes, and what the external
 * router (BIRD or FRR) learned. Parsers are pure; the readers run the tools
 * inside the lab's namespaces and throw with the tool's error text.
 */
import { ROUTER_NETNS, nodeNetns, nodePaths, type Family, type LabSpec } from './config.ts';
import { run } from './proc.ts';
import { routerControlArgv } from './router/index.ts';

/** krouter's kernel route protocol number (sdk KROUTER_ROUTE_PROTOCOL). */
export const KROUTER_PROTO = 201;

export interface RibPath {
  prefix: string;
  nextHop: string;
  best: boolean;
  /** The peer the path came from (undefined = originated by this node). */
  neighbor?: string;
  stale: boolean;
}

/** `gobgp global rib -a <family> -j` output -> paths. Pure. */
export function parseGobgpRib(json: string): RibPath[] {
  const doc = JSON.parse(json || '{}') as Record<string, Array<Record<string, any>>> | null;
  const out: RibPath[] = [];
  for (const [prefix, paths] of Object.entries(doc ?? {})) {
    for (const p of paths ?? []) {
      let nextHop = '';
      for (const a of (p.attrs ?? []) as Array<Record<string, any>>) {
        // 3 = NEXT_HOP (IPv4 unicast), 14 = MP_REACH_NLRI (IPv6, or IPv4 with extended next hop).
        if ((a.type === 3 || a.type === 14) && typeof a.nexthop === 'string') nextHop = a.nexthop;
      }
      out.push({ prefix, nextHop, best: p.best === true, neighbor: p['neighbor-ip'], stale: p.stale === true });
    }
  }
  return out;
}

/** A node's gobgp global RIB of one family; throws when gobgp answers with an error. */
export function gobgpRib(spec: Pick<LabSpec, 'stateDir'>, node: string, family: Family): RibPath[] {
  const sock = nodePaths(spec, node).gobgpSocket;
  const out = run(['ip', 'netns', 'exec', nodeNetns(node), 'gobgp', '--target', `unix://${sock}`, 'global', 'rib', '-a', family, '-j']);
  return parseGobgpRib(out);
}

export interface BgpNeighbor {
  address: string;
  asn: number;
  state: string;
}

/** gobgp's session states (its API enum; `neighbor -j` prints the number). */
const SESSION_STATES = ['unknown', 'idle', 'connect', 'active', 'opensent', 'openconfirm', 'established'];

/** A node's BGP neighbors (`gobgp neighbor -j`). */
export function gobgpNeighbors(spec: Pick<LabSpec, 'stateDir'>, node: string): BgpNeighbor[] {
  const sock = nodePaths(spec, node).gobgpSocket;
  const out = run(['ip', 'netns', 'exec', nodeNetns(node), 'gobgp', '--target', `unix://${sock}`, 'neighbor', '-j']);
  const list = (JSON.parse(out || '[]') ?? []) as Array<Record<string, any>>;
  return list.map((n) => ({
    address: n.state?.neighbor_address ?? n.conf?.neighbor_address ?? '',
    asn: Number(n.state?.peer_asn ?? n.conf?.peer_asn ?? 0),
    state: typeof n.state?.session_state === 'number' ? (SESSION_STATES[n.state.session_state] ?? String(n.state.session_state)) : String(n.state?.session_state ?? '').toLowerCase(),
  }));
}

export interface KernelRoute {
  dst: string;
  gateway?: string;
  protocol?: string;
}

/** Kernel routes in a namespace, of one family, optionally only one protocol. */
export function kernelRoutes(netns: string, family: Family, protocol?: number): KernelRoute[] {
  const argv = ['ip', '-n', netns, '-j', family === 'ipv4' ? '-4' : '-6', 'route', 'show', ...(protocol !== undefined ? ['proto', String(protocol)] : [])];
  const list = JSON.parse(run(argv) || '[]') as Array<Record<string, any>>;
  return list.map((r) => ({ dst: r.dst, gateway: r.gateway, protocol: r.protocol }));
}

/** krouter's routes (protocol 201) on a node. */
export function nodeKrouterRoutes(node: string, family: Family): KernelRoute[] {
  return kernelRoutes(nodeNetns(node), family, KROUTER_PROTO);
}

export interface RouterRoute {
  prefix: string;
  /** BIRD protocol name (node_1_v4, originate4 ...) or FRR peer address ('' = originated locally). */
  source: string;
  /** BGP next hop ('' for routes the router originates). */
  nextHop: string;
  fromBgp: boolean;
}

/** BIRD `show route all` text -> routes (every route of every prefix, not only the best). Pure. */
export function parseBirdRoutes(text: string): RouterRoute[] {
  const out: RouterRoute[] = [];
  let prefix = '';
  let current: RouterRoute | undefined;
  for (const line of text.split('\n')) {
    // A route line: "PREFIX  TYPE [PROTO TIME] ..." or, for further routes of the same prefix, indented "TYPE [PROTO ...".
    const head = /^(\S+\/\d+)\s+(\w+)\s+\[(\S+)/.exec(line);
    const more = /^\s+(unicast|unreachable|blackhole|prohibited|multipath)\s+\[(\S+)/.exec(line);
    if (head) {
      prefix = head[1]!;
      current = { prefix, source: head[3]!, nextHop: '', fromBgp: false };
      out.push(current);
    } else if (more && prefix) {
      current = { prefix, source: more[2]!, nextHop: '', fromBgp: false };
      out.push(current);
    } else if (current) {
      const nh = /^\s+BGP\.next_hop:\s+(\S+)/.exec(line);
      if (nh) current.nextHop = nh[1]!;
      if (/^\s+Type: BGP/.test(line)) current.fromBgp = true;
    }
  }
  return out;
}

/** FRR `show bgp <afi> unicast json` -> routes (every path). Pure. */
export function parseFrrRoutes(json: string): RouterRoute[] {
  const doc = JSON.parse(json) as { routes?: Record<string, Array<Record<string, any>>> };
  const out: RouterRoute[] = [];
  for (const [prefix, paths] of Object.entries(doc.routes ?? {})) {
    for (const p of paths) {
      const hops = (p.nexthops ?? []) as Array<{ ip: string; scope?: string }>;
      const global = hops.find((h) => h.scope !== 'link-local') ?? hops[0];
      const fromBgp = p.peerId !== undefined && p.peerId !== '(unspec)';
      out.push({ prefix, source: fromBgp ? String(p.peerId) : '', nextHop: fromBgp ? (global?.ip ?? '') : '', fromBgp });
    }
  }
  return out;
}

/** Every route the external router holds, of one family. */
export function routerRoutes(spec: LabSpec, family: Family): RouterRoute[] {
  const inNs = ['ip', 'netns', 'exec', ROUTER_NETNS];
  if (spec.router === 'bird') {
    const text = run([...inNs, ...routerControlArgv(spec, ['show', 'route', 'table', family === 'ipv4' ? 'master4' : 'master6', 'all'])]);
    return parseBirdRoutes(text);
  }
  if (spec.router === 'frr') {
    return parseFrrRoutes(run([...inNs, ...routerControlArgv(spec, ['show', 'bgp', family, 'unicast', 'json'])]));
  }
  throw new Error('this lab has no external router');
}
