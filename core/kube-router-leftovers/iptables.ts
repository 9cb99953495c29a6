import { BRIDGE, FORWARD_COMMENTS, isOwnedChain, isOwnedIpset } from './names.ts';

/** One table of an `iptables-save` dump. */
export interface SavedTable {
  name: string;
  /** In dump order; `policy` is `-` for a user-defined chain. */
  chains: Array<{ name: string; policy: string }>;
  /** `-A CHAIN ...` lines as dumped, in order. */
  rules: SavedRule[];
}

export interface SavedRule {
  chain: string;
  /** The whole line, `-A CHAIN ...`. */
  line: string;
  /** Arguments after `-A CHAIN`, unquoted. */
  args: string[];
}

/** Splits a rule line as iptables-save quotes it: double quotes, backslash escapes inside them. */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ') i++;
    if (i >= text.length) break;
    let word = '';
    while (i < text.length && text[i] !== ' ') {
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          word += text[i++];
        }
        i++; // closing quote
      } else word += text[i++];
    }
    out.push(word);
  }
  return out;
}

/** Parses `iptables-save` / `ip6tables-save` output (either backend); comments and counters are ignored. */
export function parseIptablesSave(text: string): SavedTable[] {
  const tables: SavedTable[] = [];
  let table: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      table = { name: line.slice(1), chains: [], rules: [] };
      tables.push(table);
    } else if (line === 'COMMIT') {
      table = undefined;
    } else if (table && line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(' ');
      table.chains.push({ name: name!, policy: policy ?? '-' });
    } else if (table && line.startsWith('-A ')) {
      const args = splitArgs(line.slice(3));
      const chain = args.shift()!;
      table.rules.push({ chain, line, args });
    }
  }
  return tables;
}

/** The value after an option (`-j X` -> X), or undefined. */
function optionValue(args: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length - 1; i++) if (names.includes(args[i]!)) return args[i + 1];
  return undefined;
}

function matchSets(args: readonly string[]): string[] {
  const sets: string[] = [];
  for (let i = 0; i < args.length - 1; i++) if (args[i] === '--match-set') sets.push(args[i + 1]!);
  return sets;
}

/** Why a rule in a chain that is not kube-router's is kube-router's, or undefined when it is not. */
export function ruleReason(table: string, rule: SavedRule): string | undefined {
  const { args, chain } = rule;
  const target = optionValue(args, '-j', '--jump', '-g', '--goto');
  if (target && isOwnedChain(target)) return `jumps to ${target}`;
  const sets = matchSets(args).filter(isOwnedIpset);
  if (sets.length) return `matches ipset ${sets.join(', ')}`;
  const comment = optionValue(args, '--comment');
  if (table === 'filter' && chain === 'FORWARD' && comment !== undefined && FORWARD_COMMENTS.has(comment)) return `kube-router's "${comment}"`;
  // IPVS masquerade/SNAT of kube-router's service proxy: `-m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ ... -j SNAT|MASQUERADE`.
  if (table === 'nat' && chain === 'POSTROUTING' && args.includes('ipvs') && optionValue(args, '--vmethod') === 'MASQ' && (target === 'SNAT' || target === 'MASQUERADE')) {
    return 'masquerade of IPVS service traffic';
  }
  // DSR: `-s VIP -p tcp --sport P -i kube-bridge --tcp-flags SYN,RST SYN -j TCPMSS --set-mss N`.
  if (table === 'mangle' && chain === 'PREROUTING' && target === 'TCPMSS' && optionValue(args, '-i', '--in-interface') === BRIDGE) {
    return 'TCP MSS clamp of DSR service replies';
  }
  return undefined;
}

export interface TableLeftovers {
  table: string;
  /** kube-router's chains with the number of rules in each. */
  chains: Array<{ name: string; rules: number }>;
  /** kube-router's rules in chains that are not its own, with the reason. */
  rules: Array<{ chain: string; line: string; reason: string }>;
}

/** kube-router's chains and rules in a dump; tables without any are left out. */
export function selectIptables(tables: readonly SavedTable[]): TableLeftovers[] {
  const out: TableLeftovers[] = [];
  for (const t of tables) {
    const owned = t.chains.filter((c) => c.policy === '-' && isOwnedChain(c.name)).map((c) => c.name);
    const ownedSet = new Set(owned);
    const chains = owned.map((name) => ({ name, rules: t.rules.filter((r) => r.chain === name).length }));
    const rules: TableLeftovers['rules'] = [];
    for (const r of t.rules) {
      if (ownedSet.has(r.chain)) continue;
      const reason = ruleReason(t.name, r);
      if (reason) rules.push({ chain: r.chain, line: r.line, reason });
    }
    if (chains.length || rules.length) out.push({ table: t.name, chains, rules });
  }
  return out;
}

/**
 * An `iptables-restore --noflush` script that removes exactly the selection:
 * per table, the rules in other chains (`-D` with the rule as dumped), then
 * every kube-router chain is flushed, then deleted (they jump to each other,
 * so none is deleted before all are empty). One COMMIT per table: each table
 * changes at once or not at all. Nothing else in the table is named.
 */
export function renderIptablesRemoval(selection: readonly TableLeftovers[]): string {
  const lines: string[] = [];
  for (const t of selection) {
    lines.push(`*${t.table}`);
    for (const r of t.rules) lines.push(`-D ${r.line.slice(3)}`);
    for (const c of t.chains) lines.push(`-F ${c.name}`);
    for (const c of t.chains) lines.push(`-X ${c.name}`);
    lines.push('COMMIT');
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
