import { AddressError, hostPrefixLength, parseCidr, parseIP } from '@krouter/sdk';
import type { Address, Family, Link, Route, Rule } from '@krouter/sdk';

/**
 * Pure parsing of `ip -json` output into SDK shapes. `ip` prints names for
 * numbers it finds in its tables (protocols, route tables) and leaves out
 * fields that were part of the query filter, so callers pass those in.
 */

/** Name -> number table (rt_protos, rt_tables). */
export type NameTable = ReadonlyMap<string, number>;

/** iproute2's built-in protocol names, plus krouter's own. */
export const DEFAULT_PROTOCOL_NAMES: NameTable = new Map([
  ['unspec', 0], ['redirect', 1], ['kernel', 2], ['boot', 3], ['static', 4], ['gated', 8], ['ra', 9], ['mrt', 10],
  ['zebra', 11], ['bird', 12], ['dnrouted', 13], ['xorp', 14], ['ntk', 15], ['dhcp', 16], ['keepalived', 18],
  ['babel', 42], ['openr', 99], ['bgp', 186], ['isis', 187], ['ospf', 188], ['rip', 189], ['eigrp', 192],
  ['krouter', 201],
]);

export const DEFAULT_TABLE_NAMES: NameTable = new Map([['unspec', 0], ['default', 253], ['main', 254], ['local', 255]]);

export const MAIN_TABLE = 254;
const RTPROT_BOOT = 3;

/** Parses an iproute2 name file (`NUMBER NAME` per line, `#` comments). */
export function parseNameFile(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^(0x[0-9a-f]+|\d+)\s+(\S+)/i.exec(line);
    if (m) out.set(m[2]!, Number(m[1]));
  }
  return out;
}

/** A number, or a name resolved through `names`; undefined when unknown. */
export function resolveNumber(value: unknown, names: NameTable): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  if (/^0x[0-9a-f]+$/i.test(value)) return Number(value);
  return names.get(value);
}

type Json = Record<string, unknown>;

function asArray(json: unknown, what: string): Json[] {
  if (!Array.isArray(json)) throw new Error(`ip -json ${what}: expected an array`);
  return json as Json[];
}

/** `ip -d -json link show`. */
export function parseLinks(json: unknown): Link[] {
  return asArray(json, 'link').map((l) => {
    const link: Link = {
      name: String(l.ifname),
      index: Number(l.ifindex),
      mtu: Number(l.mtu),
      up: Array.isArray(l.flags) && l.flags.includes('UP'),
    };
    const info = l.linkinfo as Json | undefined;
    if (info && typeof info.info_kind === 'string') link.kind = info.info_kind;
    if (typeof l.master === 'string') link.master = l.master;
    if (typeof l.address === 'string') link.mac = l.address;
    return link;
  });
}

/** `ip -json address show`. */
export function parseAddresses(json: unknown): Address[] {
  const out: Address[] = [];
  for (const l of asArray(json, 'address')) {
    const infos = Array.isArray(l.addr_info) ? (l.addr_info as Json[]) : [];
    for (const a of infos) {
      if (a.family !== 'inet' && a.family !== 'inet6') continue;
      const addr: Address = {
        dev: String(l.ifname),
        family: a.family === 'inet' ? 'ipv4' : 'ipv6',
        cidr: `${String(a.local)}/${Number(a.prefixlen)}`,
      };
      if (typeof a.scope === 'string') addr.scope = a.scope;
      out.push(addr);
    }
  }
  return out;
}

/** `default` -> 0.0.0.0/0 or ::/0; a bare address -> host prefix. */
export function normaliseDst(dst: unknown, family: Family): string {
  if (dst === 'default' || dst === undefined) return family === 'ipv4' ? '0.0.0.0/0' : '::/0';
  const text = String(dst);
  if (text.includes('/')) {
    const c = parseCidr(text);
    if (c.family !== family) throw new AddressError(text, `is ${c.family}, expected ${family}`);
    return c.text;
  }
  const a = parseIP(text);
  if (a.family !== family) throw new AddressError(text, `is ${a.family}, expected ${family}`);
  return `${a.address}/${hostPrefixLength(family)}`;
}

export interface RouteParseContext {
  family: Family;
  /** The table the query asked for (ip leaves `table` out when filtered by it). */
  table?: number;
  /** The protocol the query asked for (ip leaves `protocol` out when filtered by it). */
  protocol?: number;
  protocolNames?: NameTable;
  tableNames?: NameTable;
}

/** Kernel route type numbers (RTN_*), printed by `ip -N`. */
const ROUTE_TYPE_NUMBERS: ReadonlyMap<string, string> = new Map([
  ['1', 'unicast'], ['2', 'local'], ['3', 'broadcast'], ['4', 'anycast'], ['5', 'multicast'],
  ['6', 'blackhole'], ['7', 'unreachable'], ['8', 'prohibit'], ['9', 'throw'], ['10', 'nat'],
]);

/** Types for which the kernel shows a placeholder `dev lo`. */
const DEVLESS_TYPES: ReadonlySet<string> = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);

/**
 * `ip -4|-6 -json route show ...`, best with `-N` (numbers): names from
 * rt_protos can be ambiguous (FRR's drop-in file names 196 `static` too). The main table is reported as an absent
 * `table` (the SDK's convention); other types than the SDK's four (broadcast,
 * prohibit, ...) are passed through as text.
 */
export function parseRoutes(json: unknown, ctx: RouteParseContext): Route[] {
  const protocolNames = ctx.protocolNames ?? DEFAULT_PROTOCOL_NAMES;
  const tableNames = ctx.tableNames ?? DEFAULT_TABLE_NAMES;
  const out: Route[] = [];
  for (const r of asArray(json, 'route')) {
    const route: Route = { dst: normaliseDst(r.dst, ctx.family) };
    const type = r.type === undefined ? 'unicast' : (ROUTE_TYPE_NUMBERS.get(String(r.type)) ?? String(r.type));
    if (type !== 'unicast') route.type = type as Route['type'];
    if (typeof r.gateway === 'string') route.via = r.gateway;
    else if (r.via && typeof r.via === 'object') {
      // `via inet6 ADDR` on an IPv4 route (RFC 8950) is printed as an object.
      const via = r.via as { family?: unknown; host?: unknown };
      if (typeof via.host === 'string') {
        route.via = via.host;
        if (via.family === 'inet6' && ctx.family === 'ipv4') route.extendedNexthop = true;
      }
    }
    if (typeof r.dev === 'string' && !(DEVLESS_TYPES.has(type) && r.dev === 'lo')) route.dev = r.dev;
    const table = r.table !== undefined ? resolveNumber(r.table, tableNames) : (ctx.table ?? MAIN_TABLE);
    if (table !== undefined && table !== MAIN_TABLE) route.table = table;
    if (typeof r.metric === 'number') route.metric = r.metric;
    // ip leaves `protocol` out for RTPROT_BOOT (3), the default of `ip route add`.
    const protocol = r.protocol !== undefined ? resolveNumber(r.protocol, protocolNames) : (ctx.protocol ?? RTPROT_BOOT);
    if (protocol !== undefined) route.protocol = protocol;
    if (Array.isArray(r.flags) && r.flags.includes('onlink')) route.onlink = true;
    if (typeof r.prefsrc === 'string') route.src = r.prefsrc;
    if (Array.isArray(r.metrics)) {
      for (const m of r.metrics as Json[]) if (typeof m?.mtu === 'number') route.mtu = m.mtu;
    }
    out.push(route);
  }
  return out;
}

function rulePrefix(addr: unknown, len: unknown, family: Family): string | undefined {
  if (addr === undefined || addr === 'all') return undefined;
  const bits = typeof len === 'number' ? len : hostPrefixLength(family);
  const c = parseCidr(`${String(addr)}/${bits}`, undefined, { allowHostBits: true });
  if (c.family !== family) throw new AddressError(String(addr), `is ${c.family}, expected ${family}`);
  return c.text;
}

/** `ip -4|-6 -json rule show`; rules without a lookup table (goto, nop, ...) are left out. */
export function parseRules(json: unknown, family: Family, tableNames: NameTable = DEFAULT_TABLE_NAMES): Rule[] {
  const out: Rule[] = [];
  for (const r of asArray(json, 'rule')) {
    const table = resolveNumber(r.table, tableNames);
    if (table === undefined) continue;
    const rule: Rule = { family, priority: Number(r.priority ?? 0), table };
    const from = rulePrefix(r.src, r.srclen, family);
    const to = rulePrefix(r.dst, r.dstlen, family);
    if (from) rule.from = from;
    if (to) rule.to = to;
    if (r.fwmark !== undefined) {
      const mark = resolveNumber(r.fwmark, new Map());
      if (mark !== undefined) rule.fwmark = mark;
    }
    out.push(rule);
  }
  return out;
}
