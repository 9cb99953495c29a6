import type { Family } from '@krouter/sdk';
import { IPSET_IPV6_PREFIX, NFT_TABLES, ROUTE_PROTOCOL, ROUTE_TABLES, isOwnedIpset, isOwnedLink } from './names.ts';

type Json = Record<string, unknown>;

// ---------------------------------------------------------------- ipsets

export interface IpsetInfo {
  name: string;
  type: string;
  /** `inet` / `inet6` from the header; undefined for list:set. */
  family?: string;
  entries: number;
  references: number;
}

/** Parses `ipset list -terse` (7.x): blocks of `Key: value` lines, one per set. */
export function parseIpsetTerse(text: string): IpsetInfo[] {
  const sets: IpsetInfo[] = [];
  let cur: IpsetInfo | undefined;
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z ]+):\s?(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'Name') {
      cur = { name: value.trim(), type: '', entries: 0, references: 0 };
      sets.push(cur);
    } else if (cur && key === 'Type') cur.type = value.trim();
    else if (cur && key === 'Header') {
      const fam = /(?:^|\s)family (\S+)/.exec(value);
      if (fam) cur.family = fam[1];
    } else if (cur && key === 'References') cur.references = Number(value) || 0;
    else if (cur && key === 'Number of entries') cur.entries = Number(value) || 0;
  }
  return sets;
}

export const selectIpsets = (sets: readonly IpsetInfo[]): IpsetInfo[] => sets.filter((s) => isOwnedIpset(s.name));

/**
 * An `ipset restore` script destroying the sets: list:set ones first (they
 * hold references to the others). The rules that match them go first (in
 * the iptables step), or the kernel refuses: the set is in use.
 */
export function renderIpsetRemoval(sets: readonly IpsetInfo[]): string {
  const ordered = [...sets.filter((s) => s.type === 'list:set'), ...sets.filter((s) => s.type !== 'list:set')];
  return ordered.map((s) => `destroy ${s.name}\n`).join('');
}

export const ipsetFamily = (s: IpsetInfo): string => s.family ?? (s.name.startsWith(IPSET_IPV6_PREFIX) ? 'inet6' : 'inet');

// ---------------------------------------------------------------- nftables

export interface NftTable {
  family: string;
  name: string;
}

/** Parses `nft -j list tables`. */
export function parseNftTables(json: string): NftTable[] {
  const doc = JSON.parse(json) as { nftables?: Json[] };
  return (doc.nftables ?? []).flatMap((o) => {
    const t = o.table as Json | undefined;
    return t ? [{ family: String(t.family), name: String(t.name) }] : [];
  });
}

export const selectNftTables = (tables: readonly NftTable[]): NftTable[] =>
  tables.filter((t) => NFT_TABLES.some((k) => k.family === t.family && k.name === t.name));

// ---------------------------------------------------------------- links

export interface LinkInfo {
  name: string;
  kind?: string;
}

/** Parses `ip -details -json link show`. */
export function parseLinks(json: string): LinkInfo[] {
  return (JSON.parse(json) as Json[]).map((l) => {
    const kind = (l.linkinfo as Json | undefined)?.info_kind;
    return { name: String(l.ifname), ...(typeof kind === 'string' ? { kind } : {}) };
  });
}

export const selectLinks = (links: readonly LinkInfo[]): LinkInfo[] => links.filter((l) => isOwnedLink(l.name));

// ---------------------------------------------------------------- routes and rules

/** A route as `ip -N -json route show table all` gives it (numbers for protocol, table, type, scope). */
export interface RouteInfo {
  family: Family;
  dst: string;
  table: number;
  protocol: number;
  type?: number;
  gateway?: string;
  dev?: string;
  metric?: number;
  multipath: boolean;
}

const num = (v: unknown, dflt: number): number => (v === undefined || v === null || v === '' ? dflt : Number(v));

/** Parses `ip -N -json -4|-6 route show table all`; the main table (254) has no `table` key there. */
export function parseRoutes(json: string, family: Family): RouteInfo[] {
  return (JSON.parse(json) as Json[]).map((r) => {
    const route: RouteInfo = {
      family,
      dst: String(r.dst),
      table: num(r.table, 254),
      protocol: num(r.protocol, 0),
      multipath: Array.isArray(r.nexthops),
    };
    if (r.type !== undefined) route.type = Number(r.type);
    if (typeof r.gateway === 'string') route.gateway = r.gateway;
    if (typeof r.dev === 'string') route.dev = r.dev;
    if (r.metric !== undefined) route.metric = Number(r.metric);
    return route;
  });
}

export const selectRoutes = (routes: readonly RouteInfo[]): RouteInfo[] =>
  routes.filter((r) => r.protocol === ROUTE_PROTOCOL || ROUTE_TABLES.has(r.table));

/** Route types by number (rtnetlink.h), for `ip route del` which takes names. */
const ROUTE_TYPES: Record<number, string> = { 1: 'unicast', 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat' };

/** The route as `ip route` shows it, numbers kept. */
export function routeText(r: RouteInfo): string {
  const type = r.type && r.type !== 1 ? `${ROUTE_TYPES[r.type] ?? r.type} ` : '';
  return [
    `${type}${r.dst}`,
    r.gateway ? `via ${r.gateway}` : '',
    r.dev ? `dev ${r.dev}` : '',
    r.multipath ? '(multipath)' : '',
    r.table !== 254 ? `table ${r.table}` : '',
    `proto ${r.protocol}`,
    r.metric !== undefined ? `metric ${r.metric}` : '',
  ].filter(Boolean).join(' ');
}

/** `ip -4|-6 -batch` line deleting exactly this route (type, destination, table, protocol, metric, and its one next hop). */
export function routeDeleteLine(r: RouteInfo): string {
  const words = ['route', 'del'];
  if (r.type && r.type !== 1) words.push(ROUTE_TYPES[r.type] ?? String(r.type));
  words.push(r.dst, 'table', String(r.table), 'proto', String(r.protocol));
  if (r.metric !== undefined) words.push('metric', String(r.metric));
  if (!r.multipath) {
    if (r.gateway) words.push('via', r.gateway);
    if (r.dev) words.push('dev', r.dev);
  }
  return words.join(' ');
}

export interface RuleInfo {
  family: Family;
  priority: number;
  table: number;
  src?: string;
  dst?: string;
  fwmark?: string;
}

/** Parses `ip -N -json -4|-6 rule show`. */
export function parseRules(json: string, family: Family): RuleInfo[] {
  return (JSON.parse(json) as Json[]).map((r) => {
    const rule: RuleInfo = { family, priority: num(r.priority, 0), table: num(r.table, 0) };
    if (typeof r.src === 'string' && r.src !== 'all') rule.src = r.srclen !== undefined ? `${r.src}/${r.srclen}` : r.src;
    if (typeof r.dst === 'string' && r.dst !== 'all') rule.dst = r.dstlen !== undefined ? `${r.dst}/${r.dstlen}` : r.dst;
    if (typeof r.fwmark === 'string') rule.fwmark = r.fwmask ? `${r.fwmark}/${r.fwmask}` : r.fwmark;
    return rule;
  });
}

export const selectRules = (rules: readonly RuleInfo[]): RuleInfo[] => rules.filter((r) => ROUTE_TABLES.has(r.table));

export function ruleText(r: RuleInfo): string {
  return [`priority ${r.priority}`, r.src ? `from ${r.src}` : 'from all', r.dst ? `to ${r.dst}` : '', r.fwmark ? `fwmark ${r.fwmark}` : '', `lookup ${r.table}`]
    .filter(Boolean)
    .join(' ');
}

/** `ip -4|-6 -batch` line deleting exactly this rule. */
export function ruleDeleteLine(r: RuleInfo): string {
  const words = ['rule', 'del', 'priority', String(r.priority)];
  if (r.src) words.push('from', r.src);
  if (r.dst) words.push('to', r.dst);
  if (r.fwmark) words.push('fwmark', r.fwmark);
  words.push('table', String(r.table));
  return words.join(' ');
}

// ---------------------------------------------------------------- IPVS

export interface IpvsService {
  /** tcp, udp, sctp, or fwm. */
  protocol: string;
  /** address:port (IPv6 in brackets), or the firewall mark. */
  address: string;
  /** The bare address (undefined for fwm). */
  ip?: string;
}

function hexToIPv4(hex: string): string {
  return [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}

/**
 * Parses /proc/net/ip_vs: virtual services are the lines that do not start
 * with `  ->`, e.g. `TCP  0A600001:0050 rr`, `UDP  [fd00:0000:...:0001]:0035 rr`,
 * `FWM  00000001 rr`.
 */
export function parseProcIpvs(text: string): IpvsService[] {
  const out: IpvsService[] = [];
  for (const line of text.split('\n')) {
    const m = /^(TCP|UDP|SCTP|FWM)\s+(\S+)/.exec(line);
    if (!m) continue;
    const protocol = m[1]!.toLowerCase();
    const addr = m[2]!;
    if (protocol === 'fwm') {
      out.push({ protocol, address: String(parseInt(addr, 16)) });
      continue;
    }
    const v6 = /^\[([0-9a-fA-F:]+)\]:([0-9A-Fa-f]{4})$/.exec(addr);
    if (v6) {
      const ip = v6[1]!.split(':').map((g) => g.replace(/^0+(?=.)/, '')).join(':').toLowerCase();
      const port = parseInt(v6[2]!, 16);
      out.push({ protocol, address: `[${ip}]:${port}`, ip });
      continue;
    }
    const v4 = /^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})$/.exec(addr);
    if (v4) {
      const ip = hexToIPv4(v4[1]!);
      out.push({ protocol, address: `${ip}:${parseInt(v4[2]!, 16)}`, ip });
    }
  }
  return out;
}

/** Expands an IPv6 address to 8 groups without leading zeros, for comparing. */
function normalizeIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => (g.replace(/^0+(?=.)/, '') || '0').toLowerCase()).join(':');
}

/** kube-router's IPVS services: those whose address is on kube-dummy-if (it puts every service IP there). */
export function selectIpvs(services: readonly IpvsService[], dummyAddresses: readonly string[]): IpvsService[] {
  const mine = new Set(dummyAddresses.map(normalizeIp));
  return services.filter((s) => s.ip !== undefined && mine.has(normalizeIp(s.ip)));
}

/** `ipvsadm` arguments deleting a virtual service. */
export function ipvsDeleteArgs(s: IpvsService): string[] {
  const flag = s.protocol === 'udp' ? '-u' : s.protocol === 'sctp' ? '--sctp-service' : s.protocol === 'fwm' ? '-f' : '-t';
  return ['-D', flag, s.address];
}
