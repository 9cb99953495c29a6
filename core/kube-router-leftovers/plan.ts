import type { Family } from '@krouter/sdk';
import { renderIptablesRemoval, type TableLeftovers } from './iptables.ts';
import {
  ipsetFamily,
  ipvsDeleteArgs,
  renderIpsetRemoval,
  routeDeleteLine,
  routeText,
  ruleDeleteLine,
  ruleText,
  type IpsetInfo,
  type IpvsService,
  type LinkInfo,
  type NftTable,
  type RouteInfo,
  type RuleInfo,
} from './kernel.ts';

export type IptablesBackend = 'legacy' | 'nft';

/** kube-router's chains and rules in one backend and family. */
export interface IptablesLeftovers {
  backend: IptablesBackend;
  family: Family;
  tables: TableLeftovers[];
}

/** Everything of kube-router's found on this node. */
export interface Leftovers {
  iptables: IptablesLeftovers[];
  ipsets: IpsetInfo[];
  nftTables: NftTable[];
  links: LinkInfo[];
  routes: RouteInfo[];
  rules: RuleInfo[];
  ipvs: IpvsService[];
  /** What could not be looked at, and why (a tool not installed, no IPVS in the kernel). */
  skipped: string[];
}

/** One command of the removal, with what it removes. */
export interface Step {
  title: string;
  command: string;
  args: string[];
  input?: string;
}

const FAMILY_WORD: Record<Family, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };
const saveTool = (family: Family) => (family === 'ipv4' ? 'iptables' : 'ip6tables');

export function iptablesTool(backend: IptablesBackend, family: Family, what: 'save' | 'restore'): string {
  return `${saveTool(family)}-${backend}-${what}`;
}

export function countObjects(l: Leftovers): number {
  const ipt = l.iptables.reduce((n, d) => n + d.tables.reduce((m, t) => m + t.chains.length + t.rules.length, 0), 0);
  return ipt + l.ipsets.length + l.nftTables.length + l.links.length + l.routes.length + l.rules.length + l.ipvs.length;
}

/** The listing, grouped by kind, for people. */
export function formatLeftovers(l: Leftovers): string {
  const out: string[] = [];
  const section = (title: string, lines: string[]) => {
    if (!lines.length) return;
    out.push(`${title}:`, ...lines.map((x) => `  ${x}`), '');
  };
  for (const d of l.iptables) {
    for (const t of d.tables) {
      section(`iptables (${d.backend}, ${FAMILY_WORD[d.family]}) table ${t.table}`, [
        ...t.chains.map((c) => `chain ${c.name} (${c.rules} rule${c.rules === 1 ? '' : 's'})`),
        ...t.rules.map((r) => `rule in ${r.chain} (${r.reason}): ${r.line}`),
      ]);
    }
  }
  section(
    'ipsets',
    l.ipsets.map((s) => `${s.name} (${s.type}, ${ipsetFamily(s)}, ${s.entries} entr${s.entries === 1 ? 'y' : 'ies'})`),
  );
  section('nftables tables', l.nftTables.map((t) => `${t.family} ${t.name}`));
  section('IPVS services', l.ipvs.map((s) => `${s.protocol} ${s.address}`));
  section('links', l.links.map((k) => `${k.name}${k.kind ? ` (${k.kind})` : ''}`));
  for (const f of ['ipv4', 'ipv6'] as const) {
    section(`policy routing rules (${FAMILY_WORD[f]})`, l.rules.filter((r) => r.family === f).map(ruleText));
    section(`routes (${FAMILY_WORD[f]})`, l.routes.filter((r) => r.family === f).map(routeText));
  }
  section('not looked at', l.skipped);
  const n = countObjects(l);
  out.push(n === 0 ? 'No kube-router leftovers found.' : `${n} kube-router object${n === 1 ? '' : 's'} found.`);
  return out.join('\n') + '\n';
}

/**
 * The commands that remove exactly the listed objects, in an order the
 * kernel accepts: iptables rules and chains (they reference the ipsets),
 * kube-router's nftables tables, the ipsets, IPVS services, then policy
 * rules and routes per family, then links. Each command names only
 * objects of the listing; none flushes, saves or restores anything else.
 */
export function renderSteps(l: Leftovers): Step[] {
  const steps: Step[] = [];
  for (const d of l.iptables) {
    const input = renderIptablesRemoval(d.tables);
    if (!input) continue;
    steps.push({
      title: `iptables (${d.backend}, ${FAMILY_WORD[d.family]}): ${d.tables.map((t) => t.table).join(', ')}`,
      command: iptablesTool(d.backend, d.family, 'restore'),
      args: ['--noflush'],
      input,
    });
  }
  if (l.nftTables.length) {
    steps.push({
      title: 'nftables tables',
      command: 'nft',
      args: ['-f', '-'],
      input: l.nftTables.map((t) => `delete table ${t.family} ${t.name}\n`).join(''),
    });
  }
  if (l.ipsets.length) steps.push({ title: 'ipsets', command: 'ipset', args: ['restore'], input: renderIpsetRemoval(l.ipsets) });
  for (const s of l.ipvs) steps.push({ title: `IPVS service ${s.protocol} ${s.address}`, command: 'ipvsadm', args: ipvsDeleteArgs(s) });
  for (const f of ['ipv4', 'ipv6'] as const) {
    const lines = [...l.rules.filter((r) => r.family === f).map(ruleDeleteLine), ...l.routes.filter((r) => r.family === f).map(routeDeleteLine)];
    if (lines.length) {
      steps.push({ title: `policy rules and routes (${FAMILY_WORD[f]})`, command: 'ip', args: [f === 'ipv4' ? '-4' : '-6', '-force', '-batch', '-'], input: lines.join('\n') + '\n' });
    }
  }
  if (l.links.length) {
    steps.push({ title: 'links', command: 'ip', args: ['-force', '-batch', '-'], input: l.links.map((k) => `link del dev ${k.name}\n`).join('') });
  }
  return steps;
}
