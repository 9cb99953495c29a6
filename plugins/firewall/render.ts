import { nftFilterWords, nftWords, type Family } from '@krouter/sdk';
import type { ElementChanges } from './membership.ts';
import { diffElements } from './diff.ts';
import type { FirewallModel } from './model.ts';
import { TABLE, chainNames, counterNames, setNames } from './names.ts';
import { DIRECTIONS, type Direction, type PolicyModel, type PortRange, type RuleModel } from './policies.ts';

/**
 * The model as the body of `inet krouter-firewall`, and the element-only
 * script that moves the kernel from one model to the next. Pure.
 *
 * Layout (forward hook, after the service proxy's DNAT, so policies see the
 * real pod addresses of a Service's endpoints):
 *   forward-egress  (priority filter)     replies pass; pending pod addresses
 *                                         drop; a pod isolated for egress
 *                                         goes through `egr`
 *   forward-ingress (priority filter + 1) replies pass; the node's own
 *                                         addresses pass; a pod isolated for
 *                                         ingress goes through `ing`
 *   ing / egr       one jump per policy to its chain (a policy chain accepts
 *                   what one of its rules allows; the union of policies is
 *                   "any chain accepts"), then a named counter per policy
 *                   that selects the pod, an optional rate-limited log, drop
 * An accept in forward-egress ends only that base chain, so a packet between
 * two pods of this node must also pass forward-ingress.
 */

export interface RenderOptions {
  /** Drop this node's pod addresses the firewall has not judged yet. */
  defaultDeny: boolean;
  log: { enabled: boolean; ratePerSecond: number };
}

/** Which address a direction's targets and peers are: ingress targets are destinations. */
const SIDE: Record<Direction, { target: 'daddr' | 'saddr'; peer: 'daddr' | 'saddr' }> = {
  ingress: { target: 'daddr', peer: 'saddr' },
  egress: { target: 'saddr', peer: 'daddr' },
};

function portElement(r: PortRange): string {
  const proto = r.protocol.toLowerCase();
  return r.from === r.to ? `${proto} . ${r.from}` : `${proto} . ${r.from}-${r.to}`;
}

/** The rules of one policy rule in one family; none when it can match nothing there. */
export function ruleLines(policy: PolicyModel, direction: Direction, rule: RuleModel, f: Family, model: FirewallModel): string[] {
  const ip = nftWords(f).ip;
  const side = SIDE[direction];
  const peerMatches: string[] = [];
  if (rule.peers === 'any') peerMatches.push('');
  else {
    for (const s of rule.peers.selectors) peerMatches.push(`${ip} ${side.peer} @${setNames.selector(s, f)} `);
    const blocks = rule.peers.blocks;
    // A block of the other family has no set elements here: no rule at all.
    if (blocks && model.compiled.blocks.get(blocks)![f].length) peerMatches.push(`${ip} ${side.peer} @${setNames.blocks(blocks, f)} `);
  }
  const lines: string[] = [];
  const comment = `comment "${policy.key} ${direction}[${rule.index}]"`;
  if (rule.ports === 'any') {
    for (const p of peerMatches) lines.push(`${p}accept ${comment}`);
    return lines;
  }
  if (rule.ports.portSet) {
    const ports = `meta l4proto . th dport @${setNames.ports(rule.ports.portSet)}`;
    for (const p of peerMatches) lines.push(`${p}${ports} accept ${comment}`);
  }
  for (const id of rule.ports.named) {
    // The destination's own port of that name: the target's (ingress) or the peer's (egress).
    const named = `${ip} daddr . meta l4proto . th dport @${setNames.namedPort(id, f)}`;
    for (const p of peerMatches) lines.push(`${p}${named} accept ${comment}`);
  }
  return lines;
}

function declareSet(name: string, type: string, elements: { size: number; keys(): Iterable<string> } | undefined, flags?: string): string[] {
  const out = [`  set ${name} {`, `    type ${type}`];
  if (flags) out.push(`    flags ${flags}`);
  if (elements?.size) out.push(`    elements = { ${[...elements.keys()].join(', ')} }`);
  out.push('  }');
  return out;
}

/** Every set the model needs, per family, with or without its elements (port sets always: they are policy, not pods). */
function renderSets(model: FirewallModel, withElements: boolean): string[] {
  const els = (name: string) => (withElements ? model.index.elements.get(name) : undefined);
  const out: string[] = [];
  for (const [id, ranges] of [...model.compiled.portSets].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(...declareSet(setNames.ports(id), 'inet_proto . inet_service', new Set(ranges.map(portElement)), 'interval'));
  }
  for (const f of model.families) {
    const addr = nftWords(f).addrType;
    const plain = [setNames.judged(f), setNames.node(f), ...DIRECTIONS.map((d) => setNames.isolated(d, f))];
    for (const id of [...model.compiled.selectors.keys()].sort()) plain.push(setNames.selector(id, f));
    for (const name of plain) out.push(...declareSet(name, addr, els(name)));
    for (const id of [...model.compiled.blocks.keys()].sort()) out.push(...declareSet(setNames.blocks(id, f), addr, els(setNames.blocks(id, f)), 'interval'));
    for (const id of [...model.compiled.namedPorts.keys()].sort()) {
      out.push(...declareSet(setNames.namedPort(id, f), `${addr} . inet_proto . inet_service`, els(setNames.namedPort(id, f))));
    }
  }
  return out;
}

function renderCounters(model: FirewallModel, opts: RenderOptions): string[] {
  const out: string[] = [];
  for (const f of model.families) {
    if (opts.defaultDeny && model.podCIDRs[f]) out.push(`  counter ${counterNames.pending(f)} {}`);
    for (const p of model.compiled.policies) for (const d of p.directions) out.push(`  counter ${counterNames.denied(d, p.id, f)} {}`);
  }
  return out;
}

function renderHooks(model: FirewallModel, opts: RenderOptions): string[] {
  const always = model.families.flatMap((f) => nftFilterWords(f).alwaysAllowed.map((m) => `    ${m} accept`));
  const egress = [
    `  chain ${chainNames.egressHook} {`,
    '    type filter hook forward priority filter; policy accept;',
    '    ct state established,related accept',
    ...always,
  ];
  const ingress = [
    `  chain ${chainNames.ingressHook} {`,
    '    type filter hook forward priority filter + 1; policy accept;',
    '    ct state established,related accept',
    ...always,
  ];
  for (const f of model.families) {
    const ip = nftWords(f).ip;
    const cidr = model.podCIDRs[f];
    // The node (its bridge gateway lies in the pod CIDR) is never a pending pod, nor a pod at all.
    egress.push(`    ${ip} saddr @${setNames.node(f)} accept`);
    if (opts.defaultDeny && cidr) {
      for (const side of ['saddr', 'daddr'] as const) {
        egress.push(`    ${ip} ${side} ${cidr} ${ip} ${side} != @${setNames.judged(f)} counter name ${counterNames.pending(f)} drop`);
      }
    }
    egress.push(`    ${ip} saddr @${setNames.isolated('egress', f)} jump ${chainNames.direction('egress')}`);
    ingress.push(`    ${ip} saddr @${setNames.node(f)} accept`);
    ingress.push(`    ${ip} daddr @${setNames.isolated('ingress', f)} jump ${chainNames.direction('ingress')}`);
  }
  return [...egress, '  }', ...ingress, '  }'];
}

function renderDirection(model: FirewallModel, opts: RenderOptions, d: Direction): string[] {
  const policies = model.compiled.policies.filter((p) => p.directions.includes(d));
  const side = SIDE[d].target;
  const dispatch: string[] = [];
  const counters: string[] = [];
  const chains: string[] = [];
  for (const p of policies) {
    const body: string[] = [];
    for (const f of model.families) {
      const ip = nftWords(f).ip;
      const target = `${ip} ${side} @${setNames.selector(p.target, f)}`;
      dispatch.push(`    ${target} jump ${chainNames.policy(d, p.id)}`);
      counters.push(`    ${target} counter name ${counterNames.denied(d, p.id, f)}`);
      for (const rule of p.rules[d]) body.push(...ruleLines(p, d, rule, f, model).map((l) => `    ${l}`));
    }
    // A rule without peers reads the same in both families: once is enough.
    chains.push(`  chain ${chainNames.policy(d, p.id)} {`, `    comment "${p.key} ${d}"`, ...new Set(body), '  }');
  }
  const log = opts.log.enabled ? [`    limit rate ${opts.log.ratePerSecond}/second log prefix "krouter-firewall deny ${d}: " level info`] : [];
  return [`  chain ${chainNames.direction(d)} {`, ...dispatch, ...counters, ...log, '    drop', '  }', ...chains];
}

/** The table's body: sets (with elements unless `withElements` is false), counters, chains. */
export function renderBody(model: FirewallModel, opts: RenderOptions, withElements = true): string {
  return [
    ...renderSets(model, withElements),
    ...renderCounters(model, opts),
    ...renderHooks(model, opts),
    ...DIRECTIONS.flatMap((d) => renderDirection(model, opts, d)),
  ].join('\n') + '\n';
}

/** Everything but the elements: two models with the same structure differ by element changes only. */
export function renderStructure(model: FirewallModel, opts: RenderOptions): string {
  return renderBody(model, opts, false);
}

/** Elements per script line: keeps lines short enough to read in an error. */
const CHUNK = 500;

/** `delete element` then `add element` statements for element changes; '' when there are none. */
export function renderElementScript(changes: ElementChanges): string {
  const t = `${TABLE.family} ${TABLE.name}`;
  const deletes: string[] = [];
  const adds: string[] = [];
  for (const [set, ops] of [...changes].sort(([a], [b]) => a.localeCompare(b))) {
    const byOp = { add: [] as string[], delete: [] as string[] };
    for (const [element, op] of ops) byOp[op].push(element);
    for (let i = 0; i < byOp.delete.length; i += CHUNK) deletes.push(`delete element ${t} ${set} { ${byOp.delete.slice(i, i + CHUNK).join(', ')} }`);
    for (let i = 0; i < byOp.add.length; i += CHUNK) adds.push(`add element ${t} ${set} { ${byOp.add.slice(i, i + CHUNK).join(', ')} }`);
  }
  const lines = [...deletes, ...adds];
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * The element-only script from one model to the next, or undefined when
 * their structure differs (policies, pod CIDRs, options) and the table must
 * be replaced whole.
 */
export function renderPatch(old: FirewallModel, next: FirewallModel, opts: RenderOptions): string | undefined {
  if (renderStructure(old, opts) !== renderStructure(next, opts)) return undefined;
  return renderElementScript(diffElements(old.index.elements, next.index.elements));
}
