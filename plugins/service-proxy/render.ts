import { nftWords, type Family } from '@krouter/sdk';
import type { Endpoint, Globals, PortState, ServiceState } from './model.ts';
import { T, affinitySet, chains, endpointChain, maps, portChain, sets } from './names.ts';

/**
 * What one service contributes to the table: its chains (name -> rules), its
 * affinity sets (name -> declaration) and its verdict-map elements (map ->
 * key -> verdict). The full sync concatenates every service's fragment into
 * one table body; a partial sync diffs a service's old and new fragments.
 */
export interface Fragment {
  chains: Map<string, string[]>;
  sets: Map<string, string>;
  elements: Map<string, Map<string, string>>;
}

const emptyFragment = (): Fragment => ({ chains: new Map(), sets: new Map(), elements: new Map() });

/** The "verdict" of an element of a plain set (`elements` holds both maps and sets). */
export const SET_ELEMENT = '';
/**
 * An element's key: `address . protocol . port` (or `protocol . port`).
 * Joined, not a template, so it is one flat string: the claims keep one per
 * element of every service between syncs.
 */
const elementKey = (...parts: Array<string | number>): string => parts.join(' . ');

const elementText = (key: string, value: string) => (value === SET_ELEMENT ? key : `${key} : ${value}`);

function addElement(f: Fragment, map: string, key: string, verdict: string): void {
  let m = f.elements.get(map);
  if (!m) f.elements.set(map, (m = new Map()));
  m.set(key, verdict);
}

/**
 * Up to this many endpoints, load balancing is a short run of rules instead
 * of one `numgen random mod N vmap { ... }`: every such vmap is an anonymous
 * set, and nft 1.0.6 loads many sets in quadratic time (2,000 dual-stack
 * services: 4.4 s with a vmap per service chain, 0.5 s with rules). New
 * connections only walk these rules (nat chains see a flow's first packet).
 * Beyond it (and with ClientIP affinity) each endpoint has a chain.
 */
export const MAX_RULE_BALANCED_ENDPOINTS = 8;

/** Fixed seed, so every rule of a chain hashes a client to the same bucket. */
const HASH_SEED = '0x6b72';

/**
 * Whether a port's endpoints get a chain each. Without affinity and with few
 * endpoints, the service chain DNATs directly: nft's per-transaction cache
 * fetch grows with the number of chains in the table, so a third of the
 * chains makes every partial sync (and the full load) cheaper.
 */
function needsEndpointChains(p: PortState, endpoints: number): boolean {
  return p.affinitySeconds !== undefined || endpoints > MAX_RULE_BALANCED_ENDPOINTS;
}

/**
 * The load-balancing rules, each endpoint with an equal share. `actions`
 * are statements (`goto CHAIN` or a DNAT); a vmap (beyond
 * MAX_RULE_BALANCED_ENDPOINTS) takes verdicts only, so there they are gotos.
 */
function balance(p: PortState, actions: readonly string[]): string[] {
  const n = actions.length;
  if (n === 1) return [actions[0]!];
  const w = nftWords(p.family);
  const hash = p.scheduler === 'source-hash' ? `jhash ${w.ip} saddr mod ${n} seed ${HASH_SEED}` : undefined;
  if (n > MAX_RULE_BALANCED_ENDPOINTS) return [`${hash ?? `numgen random mod ${n}`} vmap { ${actions.map((a, i) => `${i} : ${a}`).join(', ')} }`];
  // numgen: rule i takes 1/(n-i) of what is left, an equal 1/n share each; jhash: bucket i of n.
  return [...actions.slice(0, -1).map((a, i) => (hash ? `${hash} == ${i} ${a}` : `numgen random mod ${n - i} == 0 ${a}`)), actions[n - 1]!];
}

function dnat(p: PortState, e: Endpoint): string {
  const w = nftWords(p.family);
  return `meta l4proto ${p.protocol} dnat ${w.ip} to ${w.dnatTarget(e.address, e.port)}`;
}

/** Hairpin: a pod reaching itself through the service must see the reply come back through the node. */
function hairpinRule(p: PortState, e: Endpoint): string {
  return `${nftWords(p.family).ip} saddr ${e.address} jump ${chains.markForMasquerade}`;
}

/** Rules of a chain that spreads over `endpoints`: ClientIP affinity first when asked, then equal shares. */
function spreadRules(p: PortState, endpoints: readonly Endpoint[], prefix: readonly string[]): string[] {
  const w = nftWords(p.family);
  const rules = [...prefix];
  if (needsEndpointChains(p, endpoints.length)) {
    if (p.affinitySeconds !== undefined) {
      for (const e of endpoints) rules.push(`${w.ip} saddr @${affinitySet(p, e)} goto ${endpointChain(p, e)}`);
    }
    rules.push(...balance(p, endpoints.map((e) => `goto ${endpointChain(p, e)}`)));
    return rules;
  }
  // Only an endpoint on this node can be its own client; marking it before the pick masquerades
  // its traffic to the other endpoints too, which only hides its address from them.
  if (p.hairpin) for (const e of endpoints) if (e.local) rules.push(hairpinRule(p, e));
  rules.push(...balance(p, endpoints.map((e) => dnat(p, e))));
  return rules;
}

function endpointRules(p: PortState, e: Endpoint): string[] {
  const w = nftWords(p.family);
  const rules: string[] = [];
  if (p.hairpin && e.local) rules.push(hairpinRule(p, e));
  if (p.affinitySeconds !== undefined) rules.push(`update @${affinitySet(p, e)} { ${w.ip} saddr timeout ${p.affinitySeconds}s }`);
  rules.push(dnat(p, e));
  return rules;
}

/**
 * The conntrack timeout policies (kube-router's --service-tcp-timeout,
 * --service-tcpfin-timeout, --service-udp-timeout): one `ct timeout` object
 * per family and protocol that has a non-zero timeout, by object name.
 */
export function timeoutPolicies(g: Pick<Globals, 'families' | 'conntrackTimeouts'>): Map<string, { family: Family; protocol: 'tcp' | 'udp'; policy: string }> {
  const out = new Map<string, { family: Family; protocol: 'tcp' | 'udp'; policy: string }>();
  const t = g.conntrackTimeouts;
  for (const family of g.families) {
    const tcp = [...(t.tcp ? [`established: ${t.tcp}`] : []), ...(t.tcpFin ? [`fin_wait: ${t.tcpFin}`] : [])];
    if (tcp.length) out.set(timeoutObject('tcp', family), { family, protocol: 'tcp', policy: tcp.join(', ') });
    if (t.udp) out.set(timeoutObject('udp', family), { family, protocol: 'udp', policy: `unreplied: ${t.udp}, replied: ${t.udp}` });
  }
  return out;
}

function timeoutObject(protocol: 'tcp' | 'udp', family: Family): string {
  return `timeout-${protocol}-${family}`;
}

/** The first rule of a service chain: its connection's conntrack timeouts, when any are configured. */
function timeoutRules(p: PortState, g: Globals): string[] {
  if (p.protocol !== 'tcp' && p.protocol !== 'udp') return [];
  const t = g.conntrackTimeouts;
  const on = p.protocol === 'tcp' ? t.tcp || t.tcpFin : t.udp;
  return on ? [`ct timeout set "${timeoutObject(p.protocol, p.family)}"`] : [];
}

/** One service port of one family. */
export function renderPort(p: PortState, g: Globals, out: Fragment = emptyFragment()): Fragment {
  const w = nftWords(p.family);
  const f = p.family;
  const hasEndpoints = p.clusterEndpoints.length > 0;
  const needsLocal = (p.internalLocal || p.externalLocal) && p.localEndpoints.length > 0;
  const svc = portChain('svc', p);
  const local = portChain('local', p);
  const ext = portChain('ext', p);

  const endpoints = new Map<string, Endpoint>();
  const chained = (list: readonly Endpoint[]) => (needsEndpointChains(p, list.length) ? list : []);
  for (const e of [...chained(p.clusterEndpoints), ...(needsLocal ? chained(p.localEndpoints) : [])]) endpoints.set(endpointChain(p, e), e);
  for (const [name, e] of endpoints) {
    out.chains.set(name, endpointRules(p, e));
    if (p.affinitySeconds !== undefined) out.sets.set(affinitySet(p, e), `type ${w.addrType}; flags dynamic,timeout;`);
  }
  // No rule of these chains names a set (affinity aside): a partial sync that rewrites them then
  // needs no nft cache fetch, whose cost grows with the table.
  if (hasEndpoints) out.chains.set(svc, spreadRules(p, p.clusterEndpoints, timeoutRules(p, g)));
  if (needsLocal) out.chains.set(local, spreadRules(p, p.localEndpoints, timeoutRules(p, g)));

  // Internal traffic: the ClusterIP.
  if (p.clusterIP) {
    const key = elementKey(p.clusterIP, p.protocol, p.port);
    addElement(out, sets.clusterIPs(f), key, SET_ELEMENT);
    if (!hasEndpoints) addElement(out, maps.noEndpointServices(f), key, `goto ${chains.reject}`);
    else if (p.internalLocal && !needsLocal) addElement(out, maps.noEndpointServices(f), key, 'drop');
    else addElement(out, maps.serviceIPs(f), key, `goto ${p.internalLocal ? local : svc}`);
  }

  // External traffic: ExternalIPs, LoadBalancer IPs, the NodePort.
  const externalIPs = [...p.externalIPs, ...p.loadBalancerIPs];
  const hasExternal = externalIPs.length > 0 || p.nodePort !== undefined;
  if (hasExternal && hasEndpoints) {
    const rules = p.externalLocal
      ? [
          // The node itself and this node's pods may use any endpoint (only outside clients must stay local).
          `fib saddr type local jump ${chains.markForMasquerade}`,
          `fib saddr type local goto ${svc}`,
          // This node's pod CIDRs written out, not a set, so the chain names no set (see above).
          ...g.localPodCIDRs[f].map((c) => `${w.ip} saddr ${c} goto ${svc}`),
          needsLocal ? `goto ${local}` : 'drop',
        ]
      : [`jump ${chains.markForMasquerade}`, `goto ${svc}`];
    out.chains.set(ext, rules);
  }
  for (const ip of externalIPs) {
    const key = elementKey(ip, p.protocol, p.port);
    addElement(out, hasEndpoints ? maps.serviceIPs(f) : maps.noEndpointServices(f), key, hasEndpoints ? `goto ${ext}` : `goto ${chains.reject}`);
  }
  if (p.nodePort !== undefined) {
    const key = elementKey(p.protocol, p.nodePort);
    addElement(out, hasEndpoints ? maps.nodePorts(f) : maps.noEndpointNodePorts(f), key, hasEndpoints ? `goto ${ext}` : `goto ${chains.reject}`);
  }

  // loadBalancerSourceRanges: judged before DNAT, on the LoadBalancer IPs only.
  if (p.sourceRanges && p.loadBalancerIPs.length > 0) {
    const fw = portChain('fw', p);
    out.chains.set(fw, [p.sourceRanges.length ? `${w.ip} saddr != { ${p.sourceRanges.join(', ')} } drop` : 'drop']);
    for (const ip of p.loadBalancerIPs) addElement(out, maps.firewallIPs(f), elementKey(ip, p.protocol, p.port), `goto ${fw}`);
  }
  return out;
}

export function renderService(s: ServiceState, g: Globals): Fragment {
  const out = emptyFragment();
  for (const p of s.ports) renderPort(p, g, out);
  return out;
}

// ---------------------------------------------------------------- full sync

function setDecl(name: string, family: Family, elements: readonly string[]): string {
  const w = nftWords(family);
  return `  set ${name} { type ${w.addrType}; flags interval; auto-merge;${elements.length ? ` elements = { ${elements.join(', ')} }` : ''} }`;
}

function mapDecl(name: string, keyType: string, elements: readonly string[]): string[] {
  if (!elements.length) return [`  map ${name} { type ${keyType} : verdict; }`];
  return [`  map ${name} {`, `    type ${keyType} : verdict`, `    elements = {`, `      ${elements.join(',\n      ')}`, '    }', '  }'];
}

function chainBlock(name: string, rules: readonly string[], head?: string): string[] {
  return [`  chain ${name} {`, ...(head ? [`    ${head}`] : []), ...rules.map((r) => `    ${r}`), '  }'];
}

/** The table's own chains: hooks, dispatch through the verdict maps, masquerade, reject. */
function baseChains(g: Globals): string[] {
  const mark = `0x${g.masqueradeMark.toString(16)}`;
  const services: string[] = [];
  const endpointsCheck: string[] = [];
  const firewallCheck: string[] = [];
  for (const f of g.families) {
    const w = nftWords(f);
    // NodePorts: a local destination inside the NodePort addresses, never loopback (DNAT from 127/8 is martian).
    const nodePortMatch = `${w.ip} daddr @${sets.nodePortAddresses(f)} ${w.ip} daddr != ${w.loopback} fib daddr type local`;
    // ClusterIP traffic from outside the cluster (all of it, with masqueradeAll) is masqueraded, so
    // the endpoint's reply comes back through this node.
    const toClusterIP = `${w.ip} daddr . meta l4proto . th dport @${sets.clusterIPs(f)}`;
    if (g.masqueradeAll) services.push(`${toClusterIP} jump ${chains.markForMasquerade}`);
    else if (g.clusterCIDRs[f].length) services.push(`${toClusterIP} ${w.ip} saddr != @${sets.clusterCIDRs(f)} jump ${chains.markForMasquerade}`);
    services.push(`${w.ip} daddr . meta l4proto . th dport vmap @${maps.serviceIPs(f)}`);
    services.push(`${nodePortMatch} meta l4proto . th dport vmap @${maps.nodePorts(f)}`);
    endpointsCheck.push(`${w.ip} daddr . meta l4proto . th dport vmap @${maps.noEndpointServices(f)}`);
    endpointsCheck.push(`${nodePortMatch} meta l4proto . th dport vmap @${maps.noEndpointNodePorts(f)}`);
    firewallCheck.push(`${w.ip} daddr . meta l4proto . th dport vmap @${maps.firewallIPs(f)}`);
  }
  return [
    ...chainBlock(chains.markForMasquerade, [`meta mark set meta mark or ${mark}`]),
    ...chainBlock(chains.masquerading, [`meta mark & ${mark} == 0 return`, `meta mark set meta mark xor ${mark}`, 'masquerade fully-random']),
    // `reject` is no verdict-map verdict: the maps goto this chain. TCP gets a reset, the rest ICMP port unreachable.
    ...chainBlock(chains.reject, ['meta l4proto tcp reject with tcp reset', 'reject with icmpx type port-unreachable']),
    ...chainBlock(chains.services, services),
    ...chainBlock(chains.endpointsCheck, endpointsCheck),
    ...chainBlock(chains.firewallCheck, firewallCheck),
    ...chainBlock('nat-prerouting', [`jump ${chains.services}`], 'type nat hook prerouting priority dstnat; policy accept;'),
    // nft 1.0.6 wants a numeric priority for nat output in an inet table.
    ...chainBlock('nat-output', [`jump ${chains.services}`], 'type nat hook output priority -100; policy accept;'),
    ...chainBlock('nat-postrouting', [`jump ${chains.masquerading}`], 'type nat hook postrouting priority srcnat; policy accept;'),
    // Filter chains run before DNAT (prerouting/output at -110) for source ranges, and see no-endpoint VIPs un-DNATed.
    ...chainBlock('filter-prerouting', [`ct state new jump ${chains.firewallCheck}`], 'type filter hook prerouting priority -110; policy accept;'),
    ...chainBlock('filter-input', [`ct state new jump ${chains.endpointsCheck}`], 'type filter hook input priority -110; policy accept;'),
    ...chainBlock('filter-forward', [`ct state new jump ${chains.endpointsCheck}`], 'type filter hook forward priority -110; policy accept;'),
    ...chainBlock(
      'filter-output',
      [`ct state new jump ${chains.firewallCheck}`, `ct state new jump ${chains.endpointsCheck}`],
      'type filter hook output priority -110; policy accept;',
    ),
  ];
}

/** Key types of the per-family maps. */
function mapKeyTypes(f: Family): Array<[string, string]> {
  const addr = `${nftWords(f).addrType} . inet_proto . inet_service`;
  return [
    [maps.serviceIPs(f), addr],
    [maps.nodePorts(f), 'inet_proto . inet_service'],
    [maps.noEndpointServices(f), addr],
    [maps.noEndpointNodePorts(f), 'inet_proto . inet_service'],
    [maps.firewallIPs(f), addr],
  ];
}

/**
 * The whole body of `inet krouter-proxy` (the text between its braces).
 * nft resolves names within one transaction, so maps may name chains that
 * come later in the text.
 */
export function renderBody(g: Globals, fragments: Iterable<Fragment>): string {
  const elements = new Map<string, string[]>();
  const lines: string[] = [];
  const serviceChains: string[] = [];
  for (const [name, t] of timeoutPolicies(g)) {
    lines.push(`  ct timeout ${name} { protocol ${t.protocol}; l3proto ${nftWords(t.family).ip}; policy = { ${t.policy} }; }`);
  }
  for (const f of g.families) {
    lines.push(setDecl(sets.nodePortAddresses(f), f, g.nodePortAddresses[f]));
    lines.push(setDecl(sets.clusterCIDRs(f), f, g.clusterCIDRs[f]));
    for (const [name] of mapKeyTypes(f)) elements.set(name, []);
    elements.set(sets.clusterIPs(f), []);
  }
  for (const frag of fragments) {
    for (const [name, decl] of frag.sets) lines.push(`  set ${name} { ${decl} }`);
    for (const [map, els] of frag.elements) {
      const list = elements.get(map);
      if (!list) continue; // a family that is not enabled: nothing renders into it
      for (const [k, v] of els) list.push(elementText(k, v));
    }
    // One string per chain: a full sync renders tens of thousands of them.
    for (const [name, rules] of frag.chains) serviceChains.push(`  chain ${name} {\n    ${rules.join('\n    ')}\n  }`);
  }
  for (const f of g.families) {
    for (const [name, type] of mapKeyTypes(f)) lines.push(...mapDecl(name, type, elements.get(name)!));
    const ips = elements.get(sets.clusterIPs(f))!;
    lines.push(`  set ${sets.clusterIPs(f)} { type ${nftWords(f).addrType} . inet_proto . inet_service;${ips.length ? ` elements = { ${ips.join(', ')} }` : ''} }`);
  }
  // Concatenated, not spread: tens of thousands of lines overflow the argument stack of push(...).
  return [...lines, ...baseChains(g)].join('\n') + '\n' + serviceChains.join('\n') + '\n';
}

// ---------------------------------------------------------------- partial sync

export interface FragmentChange {
  old?: Fragment;
  new?: Fragment;
}

const sameRules = (a: readonly string[] | undefined, b: readonly string[]) => a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);

/**
 * One transaction that turns the old fragments of the changed services into
 * their new ones, touching nothing else: new sets and chains are created
 * (all empty first, so their rules may name each other), changed chains
 * flushed and refilled, map elements deleted and added, and
 * the chains and sets no longer needed removed last, once nothing refers to
 * them. Unchanged chains and elements are not in the script.
 */
export function renderPartial(changes: Iterable<FragmentChange>): string {
  const addSets: string[] = [];
  const addChains: string[] = [];
  const fill: string[] = [];
  const delElements = new Map<string, string[]>();
  const addElements = new Map<string, string[]>();
  const flushGone: string[] = [];
  const delChains: string[] = [];
  const delSets: string[] = [];
  const push = (m: Map<string, string[]>, k: string, v: string) => {
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(v);
  };

  for (const { old, new: next } of changes) {
    const o = old ?? emptyFragment();
    const n = next ?? emptyFragment();
    // nft resolves a set that a rule of the script names from the script alone once the script adds
    // a set (it then does not read the kernel's sets): a rewritten chain naming an affinity set that
    // already exists failed with "No such file or directory" whenever an endpoint joined a ClientIP
    // service, and the full sync that followed forgot every client's affinity. So when a service's
    // chains are rewritten, its existing sets are declared again too (`add set` of an existing set
    // is a no-op that keeps its elements).
    const rewritesChains = [...n.chains].some(([name, rules]) => !sameRules(o.chains.get(name), rules));
    for (const [name, decl] of n.sets) if (o.sets.get(name) !== decl || rewritesChains) addSets.push(`add set ${T} ${name} { ${decl} }`);
    for (const [name, rules] of n.chains) {
      const before = o.chains.get(name);
      if (sameRules(before, rules)) continue;
      if (before === undefined) addChains.push(`add chain ${T} ${name}`);
      else fill.push(`flush chain ${T} ${name}`);
      // `add chain NAME { rules }`, not `add rule`: nft then fetches no cache (about 0.4 s at 30,000
      // dual-stack services) unless a rule names a set.
      fill.push(`add chain ${T} ${name} {\n  ${rules.join('\n  ')}\n}`);
    }
    for (const [map, els] of o.elements) {
      const now = n.elements.get(map);
      for (const [k, v] of els) if (now?.get(k) !== v) push(delElements, map, k);
    }
    for (const [map, els] of n.elements) {
      const before = o.elements.get(map);
      for (const [k, v] of els) if (before?.get(k) !== v) push(addElements, map, elementText(k, v));
    }
    for (const name of o.chains.keys()) {
      if (n.chains.has(name)) continue;
      flushGone.push(`flush chain ${T} ${name}`);
      delChains.push(`delete chain ${T} ${name}`);
    }
    for (const name of o.sets.keys()) if (!n.sets.has(name)) delSets.push(`delete set ${T} ${name}`);
  }
  const elementLines = (verb: string, m: Map<string, string[]>) => [...m].map(([map, els]) => `${verb} element ${T} ${map} { ${els.join(', ')} }`);
  const lines = [
    ...addSets,
    ...addChains,
    ...fill,
    ...elementLines('delete', delElements),
    ...elementLines('add', addElements),
    ...flushGone,
    ...delChains,
    ...delSets,
  ];
  return lines.length ? lines.join('\n') + '\n' : '';
}
