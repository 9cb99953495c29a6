import { ALL_FAMILIES, perFamily, type Family, type PerFamily, type V1NetworkPolicy } from '@krouter/sdk';
import type { V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { shortId } from './ids.ts';
import { intervalToPrefixes, mergeIntervals, readIpBlock, type Interval } from './ip-blocks.ts';
import { compileSelector, isSelectorError, matches, type Labels, type Selector } from './selectors.ts';

/**
 * NetworkPolicies (and namespace labels) compiled into what the table is
 * made of: selector sets, ipBlock prefix sets, named-port sets and per-policy
 * rules that refer to them. Pure. Pods do not enter here: they only fill the
 * sets (membership.ts), so a pod event never changes what is compiled.
 */

export type Direction = 'ingress' | 'egress';
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];
const POLICY_TYPE: Record<string, Direction> = { Ingress: 'ingress', Egress: 'egress' };

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
const PROTOCOLS: ReadonlySet<string> = new Set<Protocol>(['TCP', 'UDP', 'SCTP']);

/** A bad part of a policy: it matches nothing; the rest of the policy still works. */
export interface Problem {
  /** `namespace/name` of the policy. */
  policy: string;
  /** JSON-path-like field, e.g. `spec.ingress[0].from[1].ipBlock.except[0]`. */
  field: string;
  message: string;
}

/**
 * Pods a selector set holds, on any node. The same set serves as a policy's
 * targets (only this node's pods are ever judged against it: the hooks jump
 * to a policy only for an isolated pod of this node) and as a peer set, so
 * equal selectors of all policies make one set: a set costs the kernel far
 * more than an element. Namespaces are fixed at compile time.
 */
export interface SelectorDef {
  id: string;
  podSelector: Selector;
  /** Names of the namespaces whose pods may match. */
  namespaces: ReadonlySet<string>;
}

export interface PortRange {
  protocol: Protocol;
  from: number;
  to: number;
}

/**
 * Port ranges sorted by protocol and start, overlapping or touching ones of a
 * protocol merged: an nft interval set refuses elements that overlap (`tcp .
 * 80` and `tcp . 80-90` fail the whole table), and a policy may list a port
 * twice or inside one of its ranges.
 */
export function mergePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.from - b.from || a.to - b.to);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.protocol === r.protocol && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push({ ...r });
  }
  return out;
}

/** Where a use of a named port looks the name up, for reporting a name no pod there has. */
export type NamedPortLookup = { kind: 'targets'; selector: string } | { kind: 'any' } | { kind: 'peers'; selectors: readonly string[] };

/**
 * One set per port name and protocol (and family): every pod's address,
 * protocol and number of its container port of that name. A rule matches
 * `daddr . l4proto . dport` against it, which is "the destination's own
 * port of that name": the target pod's for ingress, the peer's for egress.
 * Only names some policy uses get a set.
 */
export interface NamedPortDef {
  /** `name-protocol`, e.g. `http-tcp`. */
  id: string;
  name: string;
  protocol: Protocol;
  /** The policy fields that use it, for problem reports. */
  uses: Array<{ policy: string; field: string; lookup: NamedPortLookup }>;
}

export type Peers = 'any' | { selectors: readonly string[]; /** Prefix set id, when the rule has ipBlocks. */ blocks?: string };
export type Ports =
  | 'any'
  | {
      /** Id of the shared set of this rule's numbered ports and ranges, when it has any. */
      portSet?: string;
      /** Named-port set ids. */
      named: readonly string[];
    };

export interface RuleModel {
  index: number;
  peers: Peers;
  ports: Ports;
}

export interface PolicyModel {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  /** Short id used in chain and counter names. */
  id: string;
  /** Selector set of this node's pods the policy applies to. */
  target: string;
  directions: readonly Direction[];
  rules: Record<Direction, RuleModel[]>;
}

export interface CompiledPolicies {
  policies: PolicyModel[];
  selectors: Map<string, SelectorDef>;
  /** Prefix sets of ipBlocks (except already taken out), per family. */
  blocks: Map<string, PerFamily<string[]>>;
  /**
   * Numbered ports and ranges, one set per distinct list, shared by every
   * rule with that list and by both families. (An anonymous set per rule
   * costs the kernel ~2 ms each: 5,000 rules took 11 s to load.)
   */
  portSets: Map<string, PortRange[]>;
  namedPorts: Map<string, NamedPortDef>;
  /** Selector sets that can hold pods of a namespace: the index that keeps pod work small. */
  selectorsByNamespace: Map<string, SelectorDef[]>;
  /** Named-port sets by `name/PROTOCOL` as pods declare them. */
  namedPortsByName: Map<string, NamedPortDef>;
  problems: Problem[];
}

export interface CompileInput {
  policies: readonly V1NetworkPolicy[];
  namespaces: ReadonlyMap<string, Labels>;
  families: readonly Family[];
}

const ALL_PORTS = { from: 0, to: 65535 };

class Compiler {
  readonly selectors = new Map<string, SelectorDef>();
  readonly blocks = new Map<string, PerFamily<string[]>>();
  readonly portSets = new Map<string, PortRange[]>();
  /** readIpBlock results by block: many policies repeat the same blocks. */
  private readonly blockCache = new Map<string, ReturnType<typeof readIpBlock>>();
  readonly namedPorts = new Map<string, NamedPortDef>();
  readonly problems: Problem[] = [];

  constructor(private readonly input: CompileInput) {}

  private readonly prefixCache = new Map<string, string[]>();

  /** Merged blocks as prefixes, remembered: many policies list the same blocks. */
  prefixes(f: Family, intervals: readonly Interval[]): string[] {
    if (intervals.length === 0) return [];
    const key = `${f} ${intervals.map((i) => `${i.start}-${i.end}`).join(' ')}`;
    let out = this.prefixCache.get(key);
    if (!out) this.prefixCache.set(key, (out = mergeIntervals(intervals).flatMap((i) => intervalToPrefixes(i, f))));
    return out;
  }

  problem(policy: string, field: string, message: string) {
    this.problems.push({ policy, field, message });
  }

  selector(podSelector: Selector, namespaces: { fixed: string } | { selector: Selector }): string {
    const nsKey = 'fixed' in namespaces ? ['ns', namespaces.fixed] : ['nsSelector', namespaces.selector.key];
    const id = shortId([nsKey, podSelector.key]);
    if (!this.selectors.has(id)) {
      const names =
        'fixed' in namespaces
          ? new Set([namespaces.fixed])
          : new Set([...this.input.namespaces].filter(([, labels]) => matches(namespaces.selector, labels)).map(([n]) => n));
      this.selectors.set(id, { id, podSelector, namespaces: names });
    }
    return id;
  }

  policy(np: V1NetworkPolicy): PolicyModel | undefined {
    const namespace = np.metadata?.namespace;
    const name = np.metadata?.name;
    if (!namespace || !name) return undefined;
    const key = `${namespace}/${name}`;
    const spec = np.spec ?? {};
    const target = compileSelector(spec.podSelector);
    if (isSelectorError(target)) {
      // A policy whose targets cannot be known selects nothing (and isolates nothing).
      this.problem(key, 'spec.podSelector', target.error);
      return undefined;
    }
    const directions = this.directions(key, spec.policyTypes, spec.egress);
    const model: PolicyModel = {
      key,
      namespace,
      name,
      id: shortId(['policy', key], 10),
      target: this.selector(target, { fixed: namespace }),
      directions,
      rules: { ingress: [], egress: [] },
    };
    for (const direction of directions) {
      const rules = (direction === 'ingress' ? spec.ingress : spec.egress) ?? [];
      rules.forEach((rule, index) => {
        const field = `spec.${direction}[${index}]`;
        // The typed client names the ingress field `_from`; plain JSON (and YAML fixtures) say `from`.
        const r = rule as { _from?: V1NetworkPolicyPeer[]; from?: V1NetworkPolicyPeer[]; to?: V1NetworkPolicyPeer[] };
        const peerList = direction === 'ingress' ? (r._from ?? r.from) : r.to;
        const peerField = direction === 'ingress' ? 'from' : 'to';
        const peers = this.peers(model, `${field}.${peerField}`, peerList);
        const ports = this.ports(model, direction, `${field}.ports`, rule.ports, peers);
        model.rules[direction].push({ index, peers, ports });
      });
    }
    return model;
  }

  directions(key: string, types: string[] | undefined, egress: unknown[] | undefined): Direction[] {
    if (!types || types.length === 0) return egress && egress.length > 0 ? ['ingress', 'egress'] : ['ingress'];
    const out = new Set<Direction>();
    types.forEach((t, i) => {
      const d = POLICY_TYPE[t];
      if (d) out.add(d);
      else this.problem(key, `spec.policyTypes[${i}]`, `${JSON.stringify(t)} is not Ingress or Egress`);
    });
    return DIRECTIONS.filter((d) => out.has(d));
  }

  peers(policy: PolicyModel, field: string, list: V1NetworkPolicyPeer[] | undefined): Peers {
    const blockIntervals = perFamily<Interval[]>(() => []);
    if (!list || list.length === 0) return 'any';
    const selectors: string[] = [];
    list.forEach((peer, i) => {
      const at = `${field}[${i}]`;
      if (peer.ipBlock) {
        if (peer.podSelector || peer.namespaceSelector) {
          this.problem(policy.key, at, 'ipBlock cannot be combined with podSelector or namespaceSelector');
          return;
        }
        const blockKey = JSON.stringify([peer.ipBlock.cidr, peer.ipBlock.except]);
        let b = this.blockCache.get(blockKey);
        if (!b) this.blockCache.set(blockKey, (b = readIpBlock(peer.ipBlock)));
        if ('error' in b) this.problem(policy.key, `${at}.ipBlock.${b.field}`, b.error);
        // A family that is not enabled has no traffic to match.
        else if (this.input.families.includes(b.family)) blockIntervals[b.family].push(...b.intervals);
        return;
      }
      if (!peer.podSelector && !peer.namespaceSelector) {
        this.problem(policy.key, at, 'a peer needs podSelector, namespaceSelector or ipBlock');
        return;
      }
      const pods = compileSelector(peer.podSelector);
      if (isSelectorError(pods)) return void this.problem(policy.key, `${at}.podSelector`, pods.error);
      if (peer.namespaceSelector) {
        const ns = compileSelector(peer.namespaceSelector);
        if (isSelectorError(ns)) return void this.problem(policy.key, `${at}.namespaceSelector`, ns.error);
        selectors.push(this.selector(pods, { selector: ns }));
      } else {
        selectors.push(this.selector(pods, { fixed: policy.namespace }));
      }
    });
    const prefixes = perFamily((f) => this.prefixes(f, blockIntervals[f]));
    let blocks: string | undefined;
    if (this.input.families.some((f) => prefixes[f].length)) {
      blocks = shortId(['blocks', ...ALL_FAMILIES.map((f) => prefixes[f])]);
      this.blocks.set(blocks, prefixes);
    }
    return { selectors: [...new Set(selectors)], ...(blocks ? { blocks } : {}) };
  }

  ports(
    policy: PolicyModel,
    direction: Direction,
    field: string,
    list: V1NetworkPolicyPort[] | undefined,
    peers: Peers,
  ): Ports {
    if (!list || list.length === 0) return 'any';
    const ranges: PortRange[] = [];
    const named: string[] = [];
    list.forEach((p, i) => {
      const at = `${field}[${i}]`;
      const protocol = p.protocol ?? 'TCP';
      if (!PROTOCOLS.has(protocol)) return void this.problem(policy.key, `${at}.protocol`, `${JSON.stringify(protocol)} is not TCP, UDP or SCTP`);
      const proto = protocol as Protocol;
      const port = p.port as number | string | undefined;
      if (port === undefined || port === null) {
        if (p.endPort !== undefined) return void this.problem(policy.key, `${at}.endPort`, 'endPort needs a numeric port');
        ranges.push({ protocol: proto, ...ALL_PORTS });
        return;
      }
      if (typeof port === 'string') {
        if (p.endPort !== undefined) return void this.problem(policy.key, `${at}.endPort`, 'endPort cannot follow a named port');
        if (!/^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/.test(port) || !/[a-z]/.test(port)) {
          return void this.problem(policy.key, `${at}.port`, `${JSON.stringify(port)} is neither a port number nor a port name`);
        }
        const lookup: NamedPortLookup =
          direction === 'ingress'
            ? { kind: 'targets', selector: policy.target }
            : peers === 'any'
              ? { kind: 'any' }
              : { kind: 'peers', selectors: peers.selectors };
        const id = `${port}-${proto.toLowerCase()}`;
        const use = { policy: policy.key, field: `${at}.port`, lookup };
        const known = this.namedPorts.get(id);
        if (known) known.uses.push(use);
        else this.namedPorts.set(id, { id, name: port, protocol: proto, uses: [use] });
        if (!named.includes(id)) named.push(id);
        return;
      }
      if (!Number.isInteger(port) || port < 1 || port > 65535) return void this.problem(policy.key, `${at}.port`, `${port} is not a port 1..65535`);
      const end = p.endPort ?? port;
      if (!Number.isInteger(end) || end < port || end > 65535) {
        return void this.problem(policy.key, `${at}.endPort`, `${p.endPort} must be a port ${port}..65535`);
      }
      ranges.push({ protocol: proto, from: port, to: end });
    });
    if (ranges.length === 0) return { named };
    const sorted = mergePortRanges(ranges);
    const portSet = shortId(['ports', sorted.map((r) => [r.protocol, r.from, r.to])]);
    this.portSets.set(portSet, sorted);
    return { portSet, named };
  }
}

/** Compiles every policy; a policy or a part of one that cannot be read becomes a problem. */
export function compilePolicies(input: CompileInput): CompiledPolicies {
  const c = new Compiler(input);
  const sorted = [...input.policies].sort((a, b) =>
    `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`),
  );
  const policies = sorted.map((p) => c.policy(p)).filter((p): p is PolicyModel => p !== undefined);

  const selectorsByNamespace = new Map<string, SelectorDef[]>();
  for (const s of c.selectors.values()) {
    for (const ns of s.namespaces) {
      const list = selectorsByNamespace.get(ns) ?? [];
      list.push(s);
      selectorsByNamespace.set(ns, list);
    }
  }
  const namedPortsByName = new Map([...c.namedPorts.values()].map((d) => [`${d.name}/${d.protocol}`, d]));
  return {
    policies,
    selectors: c.selectors,
    blocks: c.blocks,
    portSets: c.portSets,
    namedPorts: c.namedPorts,
    selectorsByNamespace,
    namedPortsByName,
    problems: c.problems,
  };
}
