import type { Family } from '../families.ts';
import { serviceToken } from '../token.ts';

/** Route protocol number krouter marks its routes with (name `krouter` in rt_protos). */
export const KROUTER_ROUTE_PROTOCOL = 201;

export interface Link {
  name: string;
  index: number;
  kind?: string; // 'bridge' | 'veth' | 'vxlan' | ...
  mtu: number;
  up: boolean;
  master?: string;
  /** The link's hardware address as `ip` prints it (lower-case hex octets for Ethernet-like links). */
  mac?: string;
}

export interface Address {
  dev: string;
  family: Family;
  /** address/prefixLength */
  cidr: string;
  scope?: string;
}

export interface Route {
  /** Destination prefix, `default` is not allowed: use 0.0.0.0/0 or ::/0. */
  dst: string;
  via?: string;
  /**
   * An IPv4 destination via an IPv6 gateway (RFC 8950, `via inet6`), as on an
   * IPv6-only underlay. The only cross-family gateway accepted, and only when
   * asked for: any other family mismatch is an error.
   */
  extendedNexthop?: boolean;
  dev?: string;
  /** Routing table number; main when absent. */
  table?: number;
  metric?: number;
  /** Route protocol; the Netlink service fills KROUTER_ROUTE_PROTOCOL on writes when absent. */
  protocol?: number;
  type?: 'unicast' | 'blackhole' | 'unreachable' | 'local';
  onlink?: boolean;
  src?: string;
  mtu?: number;
}

export interface Rule {
  family: Family;
  priority: number;
  from?: string;
  to?: string;
  fwmark?: number;
  table: number;
}

/** One change, rendered to one `ip` batch line. */
export type NetlinkOp =
  | { op: 'route.replace'; route: Route }
  | { op: 'route.delete'; route: Route }
  | { op: 'addr.replace'; dev: string; cidr: string; noDad?: boolean }
  | { op: 'addr.delete'; dev: string; cidr: string }
  /**
   * `mac` gives the bridge an address of its own. Without one Linux lends the
   * bridge the lowest MAC among its ports, which changes as ports come and go.
   */
  | { op: 'link.bridge'; name: string; mtu?: number; mac?: string }
  | { op: 'link.veth'; name: string; peer: string; mtu?: number }
  | { op: 'link.vxlan'; name: string; vni: number; dev?: string; local?: string; port?: number; learning?: boolean; mtu?: number }
  | { op: 'link.set'; name: string; up?: boolean; mtu?: number; master?: string | null; mac?: string }
  | { op: 'link.delete'; name: string }
  | { op: 'rule.add'; rule: Rule }
  | { op: 'rule.delete'; rule: Rule };

export interface OpError {
  /** Index of the op in the array given to apply(). */
  index: number;
  op: NetlinkOp;
  message: string;
}

export interface ApplyResult {
  ok: boolean;
  errors: OpError[];
}

export interface RouteFilter {
  family: Family;
  /** Only routes of this protocol; default: KROUTER_ROUTE_PROTOCOL. 'all' for every route. */
  protocol?: number | 'all';
  table?: number;
}

/**
 * Netlink: links, addresses, routes, rules and sysctls of the network
 * namespace the agent runs in. Writes go through long-lived
 * `ip -force -batch -` children (IPv4 and IPv6 routes of one apply are
 * written to two at once); reads use `ip -json`.
 */
export interface Netlink {
  /**
   * Applies ops in order as one batch; failures are reported per op, the rest
   * still apply. Single-family routes of the two families may be applied
   * side by side (they cannot depend on each other); every other op waits
   * for all ops before it.
   */
  apply(ops: readonly NetlinkOp[]): Promise<ApplyResult>;
  listLinks(): Promise<Link[]>;
  getLink(name: string): Promise<Link | undefined>;
  listAddresses(dev?: string): Promise<Address[]>;
  listRoutes(filter: RouteFilter): Promise<Route[]>;
  listRules(family: Family): Promise<Rule[]>;
  /** Reads a sysctl, e.g. `net.ipv4.ip_forward`. */
  getSysctl(key: string): Promise<string>;
  /** Writes a sysctl of this network namespace. */
  setSysctl(key: string, value: string | number): Promise<void>;
}

export const Netlink = serviceToken<Netlink>('netlink', 1);
