import { cidrContains, familyOf, parseIP, type Family } from '@krouter/sdk';

/**
 * A tiny interpreter of the nft rule forms the firewall renders, so unit
 * tests can ask "would this new connection pass?" of a rendered table
 * without root. The integration tests check the same verdicts against the
 * real kernel. Rule forms it does not know make it throw, never guess.
 */

export interface Packet {
  saddr: string;
  daddr: string;
  proto: 'tcp' | 'udp' | 'sctp';
  dport: number;
}

interface Chain {
  hook?: string;
  priority: number;
  rules: string[];
}

export class NftTable {
  readonly sets = new Map<string, Set<string>>();
  readonly chains = new Map<string, Chain>();
  readonly counters = new Map<string, number>();

  constructor(body: string) {
    const lines = body.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      let m: RegExpExecArray | null;
      if ((m = /^set (\S+) \{$/.exec(line))) {
        const set = new Set<string>();
        for (i++; lines[i]!.trim() !== '}'; i++) {
          const e = /^elements = \{ (.*) \}$/.exec(lines[i]!.trim());
          if (e) for (const x of e[1]!.split(', ')) set.add(x);
        }
        this.sets.set(m[1]!, set);
      } else if ((m = /^counter (\S+) \{\}$/.exec(line))) {
        this.counters.set(m[1]!, 0);
      } else if ((m = /^chain (\S+) \{$/.exec(line))) {
        const chain: Chain = { priority: 0, rules: [] };
        for (i++; lines[i]!.trim() !== '}'; i++) {
          const r = lines[i]!.trim();
          const hook = /^type filter hook (\S+) priority filter(?: \+ (\d+))?; policy accept;$/.exec(r);
          if (hook) {
            chain.hook = hook[1];
            chain.priority = Number(hook[2] ?? 0);
          } else if (!r.startsWith('comment ')) chain.rules.push(r);
        }
        this.chains.set(m[1]!, chain);
      } else if (line) throw new Error(`nft interpreter: unknown line ${JSON.stringify(line)}`);
    }
  }

  /** Applies an element script (`add element` / `delete element`); fails as nft would on a missing or present element. */
  applyScript(script: string): void {
    for (const line of script.split('\n').filter(Boolean)) {
      const m = /^(add|delete) element inet krouter-firewall (\S+) \{ (.*) \}$/.exec(line);
      if (!m) throw new Error(`nft interpreter: not an element statement: ${line}`);
      const set = this.sets.get(m[2]!);
      if (!set) throw new Error(`no set ${m[2]}`);
      for (const e of m[3]!.split(', ')) {
        if (m[1] === 'add') {
          if (set.has(e)) throw new Error(`element ${e} already in ${m[2]}`);
          set.add(e);
        } else {
          if (!set.has(e)) throw new Error(`element ${e} not in ${m[2]}`);
          set.delete(e);
        }
      }
    }
  }

  private inSet(name: string, value: string): boolean {
    const set = this.sets.get(name);
    if (!set) throw new Error(`rule refers to missing set @${name}`);
    if (set.has(value)) return true;
    for (const e of set) if (e.includes('/') && tryContains(e, value)) return true;
    return false;
  }

  /** Does the rule's match part hold for the packet? */
  private matches(rule: string, p: Packet, family: Family): boolean {
    let rest = rule;
    const take = (re: RegExp) => {
      const m = re.exec(rest);
      if (m) rest = rest.slice(m[0].length).trimStart();
      return m;
    };
    while (rest.length) {
      let m: RegExpExecArray | null;
      if ((m = take(/^(ip6?) daddr \. meta l4proto \. th dport @(\S+)/))) {
        if (fam(m[1]!) !== family) return false;
        if (!this.inSet(m[2]!, `${norm(p.daddr)} . ${p.proto} . ${p.dport}`)) return false;
      } else if ((m = take(/^(ip6?) (saddr|daddr) (!= )?(@\S+|\S+)/))) {
        if (fam(m[1]!) !== family) return false;
        const addr = m[2] === 'saddr' ? p.saddr : p.daddr;
        const target = m[4]!;
        const hit = target.startsWith('@') ? this.inSet(target.slice(1), norm(addr)) : tryContains(target, addr);
        if (hit === !!m[3]) return false;
      } else if ((m = take(/^meta l4proto \. th dport @(\S+)/))) {
        const set = this.sets.get(m[1]!);
        if (!set) throw new Error(`rule refers to missing set @${m[1]}`);
        const ok = [...set].some((e) => {
          const [proto, ports] = e.split(' . ') as [string, string];
          const [from, to] = ports.split('-').map(Number) as [number, number?];
          return proto === p.proto && p.dport >= from && p.dport <= (to ?? from);
        });
        if (!ok) return false;
      } else if (take(/^ct state established,related/)) {
        return false; // every probe is a new connection
      } else if (take(/^icmpv6 type \{[^}]*\}/)) {
        return false;
      } else if (take(/^limit rate \S+ log prefix "[^"]*" level \S+/)) {
        return false; // logging only
      } else break;
    }
    this.lastTail = rest;
    return true;
  }

  private lastTail = '';

  private run(chainName: string, p: Packet, family: Family, depth = 0): 'accept' | 'drop' | 'continue' {
    if (depth > 8) throw new Error('jump loop');
    const chain = this.chains.get(chainName);
    if (!chain) throw new Error(`no chain ${chainName}`);
    for (const rule of chain.rules) {
      if (!this.matches(rule, p, family)) continue;
      let tail = this.lastTail.replace(/ comment "[^"]*"$/, '').replace(/^comment "[^"]*"$/, '');
      const counter = /^counter name (\S+)\s*/.exec(tail);
      if (counter) {
        this.counters.set(counter[1]!, (this.counters.get(counter[1]!) ?? 0) + 1);
        tail = tail.slice(counter[0].length);
      }
      if (tail === '') continue;
      if (tail === 'accept' || tail === 'drop') return tail;
      const jump = /^jump (\S+)$/.exec(tail);
      if (!jump) throw new Error(`nft interpreter: unknown statement ${JSON.stringify(tail)} in ${JSON.stringify(rule)}`);
      const v = this.run(jump[1]!, p, family, depth + 1);
      if (v !== 'continue') return v;
    }
    return 'continue';
  }

  /** The verdict for a new connection's first packet through the forward hook. */
  forward(p: Packet): 'accept' | 'drop' {
    const family = familyOf(p.saddr);
    const bases = [...this.chains].filter(([, c]) => c.hook === 'forward').sort((a, b) => a[1].priority - b[1].priority);
    for (const [name] of bases) if (this.run(name, p, family) === 'drop') return 'drop';
    return 'accept';
  }
}

function fam(word: string): Family {
  return word === 'ip' ? 'ipv4' : 'ipv6';
}

function norm(address: string): string {
  return parseIP(address).address;
}

function tryContains(cidr: string, address: string): boolean {
  try {
    return cidrContains(cidr, address);
  } catch {
    return false;
  }
}
