/**
 * A storm of malformed or hostile objects, for the reliability suite: what
 * the API server admits of it must crash no agent, every valid object of it
 * must be programmed, and every bad one must get a Warning event naming it,
 * at most one per agent.
 *
 * The objects are pure functions of a few parameters (`stormObjects`,
 * `refusedObjects`); `runStorm` creates them against a lab, checks the
 * nodes' nftables tables, the events and the agents, and deletes them again.
 *
 * What the agents make of them:
 * - valid but hostile, programmed on every node: Services with 100 ports
 *   (every port in `service-ips-<family>`), selectorless Services whose
 *   EndpointSlices hold addresses outside every pod, node and service range
 *   (served: DNAT to them, as Kubernetes says), NetworkPolicies with huge
 *   selectors or ipBlocks with many exceptions and with many ports (their
 *   chains in `inet krouter-firewall`);
 * - valid, ignored as Kubernetes ignores them: EndpointSlices of a family
 *   their single-stack Service does not have, EndpointSlices of no Service;
 * - bad, one Warning event each: Services with a garbage
 *   `kube-router.io/service.*` value (InvalidAnnotation,
 *   UnsupportedAnnotation; the rest of the Service is served),
 *   NetworkPolicies with a named port no selected pod has
 *   (InvalidNetworkPolicy), EndpointSlices with port 65536 or 70000 (the API
 *   server does not check them; InvalidEndpoint), Nodes without a pod CIDR but a garbage
 *   `kube-router.io/pod-cidrs` (InvalidPodCIDR, from every CNI) or a garbage
 *   `kube-router.io/node.asn` (RouterConfigError, from every router); and,
 *   not counted in the storm as they are patched rather than made, the lab's
 *   own Nodes with garbage `kube-router.io/peers` (RouterConfigError from
 *   their own agent only: peers are read by nobody else).
 */
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import { tryFamilyOf, type Family } from '../../../sdk/src/families.ts';
import { agentHealth, agentPodRecord } from '../../lab/agents.ts';
import { podReady } from '../../lab/api.ts';
import { nodeNetns, type LabSpec } from '../../lab/config.ts';
import { KubeError, R, type KubeClient, type Obj, type ResourcePath } from '../../lab/kube.ts';
import { until } from '../../lab/testing.ts';
import { testPod } from '../../lab/workloads.ts';

const execFileP = promisify(execFile);

export const STORM_NAMESPACE = 'storm';
/** The one pod of the storm namespace: the 100-port Services' endpoint, the policies' target. */
export const STORM_POD = 'storm-target';
const STORM_APP = 'storm-target';
const NP: ResourcePath = { prefix: '/apis/networking.k8s.io/v1', plural: 'networkpolicies', namespaced: true };
/** Endpoints outside every pod, node and service range of the lab (documentation ranges). */
const OUTSIDE: Record<Family, (i: number) => string> = {
  ipv4: (i) => `203.0.113.${(i % 250) + 1}`,
  ipv6: (i) => `2001:db8::${(i + 1).toString(16)}`,
};
const OUTSIDE_PORT = 9000;

/** What one storm object is and what must become of it. */
export type StormKind =
  | 'service-bad-annotation'
  | 'service-100-ports'
  | 'service-selectorless'
  | 'endpointslice-outside-ranges'
  | 'endpointslice-family-not-of-service'
  | 'endpointslice-no-service'
  | 'endpointslice-bad-port'
  | 'policy-huge-selectors'
  | 'policy-many-ports'
  | 'policy-unknown-named-port'
  | 'node-bad-pod-cidrs'
  | 'node-bad-asn';

export interface StormObject {
  kind: StormKind;
  resource: ResourcePath;
  obj: Obj;
  /** The Warning event reasons one of which each reporting agent gives it once; none for a valid object. */
  warning?: readonly string[];
}

/** How many of each kind; the default sums to 1,000. */
export const STORM_COUNTS: Readonly<Record<StormKind, number>> = {
  'service-bad-annotation': 275,
  'service-100-ports': 3,
  'service-selectorless': 100,
  'endpointslice-outside-ranges': 150,
  'endpointslice-family-not-of-service': 50,
  'endpointslice-no-service': 22,
  'endpointslice-bad-port': 25,
  'policy-huge-selectors': 100,
  'policy-many-ports': 100,
  'policy-unknown-named-port': 125,
  'node-bad-pod-cidrs': 25,
  'node-bad-asn': 25,
};

/** Garbage service annotation values, each exactly one problem. */
const BAD_SERVICE_ANNOTATIONS: ReadonlyArray<{ key: string; value: string; reason: string }> = [
  { key: 'kube-router.io/service.local', value: 'sometimes', reason: 'InvalidAnnotation' },
  { key: 'kube-router.io/service.hairpin', value: 'yes please', reason: 'InvalidAnnotation' },
  { key: 'kube-router.io/service.hairpin.externalips', value: '1', reason: 'InvalidAnnotation' },
  { key: 'kube-router.io/service.skiplbips', value: '🤖'.repeat(40), reason: 'InvalidAnnotation' },
  { key: 'kube-router.io/service.local', value: 'x'.repeat(300), reason: 'InvalidAnnotation' },
  { key: 'kube-router.io/service.scheduler', value: 'wlc', reason: 'UnsupportedAnnotation' },
  { key: 'kube-router.io/service.scheduler', value: '$(rm -rf /)', reason: 'UnsupportedAnnotation' },
  { key: 'kube-router.io/service.dsr', value: 'tunnel', reason: 'UnsupportedAnnotation' },
];

/** Garbage pod CIDR annotations of a Node, each exactly one problem (no value of them parses). */
const BAD_POD_CIDRS = ['garbage', '300.1.2.3/24', 'fd00:19::/129', '198.19.7.0/24/8', 'x'.repeat(200), '🤖/24', '::ffff:zzzz/64'];
/** Garbage ASNs, each exactly one problem. */
const BAD_ASNS = ['sixty-five-thousand', '0', '4294967296', '-1', '65000.5', '', '65000 65001', '0x10'];

const label = (i: number) => `v${i}`;
/** Label values: 63 characters, the longest the API server takes. */
const longValue = (i: number, j: number) => `${i}-${j}-`.padEnd(63, 'z');

/** A label selector as large as a policy may sensibly carry: many labels and long value lists. */
function hugeSelector(i: number, j: number): Obj['spec'] {
  return {
    matchLabels: Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`storm.example/l${k}`, label(i)])),
    matchExpressions: [
      { key: `storm.example/in-${j}`, operator: 'In', values: Array.from({ length: 100 }, (_, k) => longValue(i, k)) },
      { key: `storm.example/notin-${j}`, operator: 'NotIn', values: Array.from({ length: 50 }, (_, k) => longValue(i + 1, k)) },
      { key: 'storm.example/exists', operator: 'DoesNotExist' },
    ],
  };
}

/**
 * The storm: `counts` of every kind (default STORM_COUNTS, 1,000 objects),
 * for a cluster of `families` (the first is the single-stack default).
 * Services come before the slices that name them; Nodes last. Pure.
 */
export function stormObjects(families: readonly Family[], counts: Readonly<Record<StormKind, number>> = STORM_COUNTS, ns = STORM_NAMESPACE): StormObject[] {
  const out: StormObject[] = [];
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: ns, ...extra });
  const dual = families.length > 1;

  for (let i = 0; i < counts['service-bad-annotation']; i++) {
    const a = BAD_SERVICE_ANNOTATIONS[i % BAD_SERVICE_ANNOTATIONS.length]!;
    out.push({
      kind: 'service-bad-annotation',
      resource: R.services,
      warning: [a.reason],
      obj: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(`bad-annotation-${i}`, { annotations: { [a.key]: a.value } }),
        spec: { ports: [{ name: 'tcp', port: 80, protocol: 'TCP' }] },
      },
    });
  }
  for (let i = 0; i < counts['service-100-ports']; i++) {
    out.push({
      kind: 'service-100-ports',
      resource: R.services,
      obj: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(`ports-100-${i}`),
        spec: {
          ipFamilyPolicy: 'PreferDualStack',
          selector: { app: STORM_APP },
          ports: Array.from({ length: 100 }, (_, p) => ({ name: `p${p}`, port: 10000 + p, targetPort: 8080, protocol: 'TCP' })),
        },
      },
    });
  }
  // Selectorless: half dual-stack (a slice per family), half single-stack in the first family
  // (plus a slice of the other family, which is not the Service's and is ignored).
  const selectorless = counts['service-selectorless'];
  for (let i = 0; i < selectorless; i++) {
    const both = dual && i % 2 === 0;
    out.push({
      kind: 'service-selectorless',
      resource: R.services,
      obj: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(`outside-${i}`),
        spec: { ipFamilyPolicy: both ? 'RequireDualStack' : 'SingleStack', ...(both ? {} : { ipFamilies: [families[0] === 'ipv4' ? 'IPv4' : 'IPv6'] }), ports: [{ name: 'tcp', port: 80, targetPort: OUTSIDE_PORT, protocol: 'TCP' }] },
      },
    });
  }
  const slice = (name: string, service: string, f: Family, address: string): Obj => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(name, { labels: { 'kubernetes.io/service-name': service } }),
    addressType: f === 'ipv4' ? 'IPv4' : 'IPv6',
    ports: [{ name: 'tcp', port: OUTSIDE_PORT, protocol: 'TCP' }],
    endpoints: [{ addresses: [address], conditions: { ready: true } }],
  });
  let outside = 0;
  let otherFamily = 0;
  for (let i = 0; i < selectorless; i++) {
    const both = dual && i % 2 === 0;
    for (const f of families) {
      const mine = both || f === families[0];
      const kind: StormKind = mine ? 'endpointslice-outside-ranges' : 'endpointslice-family-not-of-service';
      if (mine ? outside >= counts['endpointslice-outside-ranges'] : otherFamily >= counts['endpointslice-family-not-of-service']) continue;
      if (mine) outside++;
      else otherFamily++;
      out.push({ kind, resource: R.endpointslices, obj: slice(`outside-${i}-${f}`, `outside-${i}`, f, OUTSIDE[f](i)) });
    }
  }
  // The API server does not check an EndpointSlice's port numbers; the proxy skips the port and says so.
  for (let i = 0; i < Math.min(counts['endpointslice-bad-port'], selectorless); i++) {
    const f = families[0]!;
    const bad = slice(`bad-port-${i}`, `outside-${i}`, f, OUTSIDE[f](i + 100));
    bad.ports = [{ name: 'tcp', port: i % 2 ? 70000 : 65536, protocol: 'TCP' }];
    out.push({ kind: 'endpointslice-bad-port', resource: R.endpointslices, warning: ['InvalidEndpoint'], obj: bad });
  }
  for (let i = 0; i < counts['endpointslice-no-service']; i++) {
    const f = families[i % families.length]!;
    out.push({ kind: 'endpointslice-no-service', resource: R.endpointslices, obj: slice(`no-service-${i}`, `no-such-service-${i}`, f, OUTSIDE[f](i)) });
  }

  const policy = (name: string, spec: Record<string, unknown>): Obj => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(name), spec });
  for (let i = 0; i < counts['policy-huge-selectors']; i++) {
    out.push({
      kind: 'policy-huge-selectors',
      resource: NP,
      obj: policy(`huge-selectors-${i}`, {
        podSelector: i % 2 ? hugeSelector(i, 0) : { matchLabels: { app: STORM_APP } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [{ podSelector: hugeSelector(i, 1), namespaceSelector: hugeSelector(i, 2) }, { namespaceSelector: hugeSelector(i, 3) }] },
          {
            from: [
              {
                // Many exceptions, the same in every policy: one set, not one per policy (each exception splits the block in up to 16 prefixes).
                ipBlock: families.includes('ipv4')
                  ? { cidr: '10.0.0.0/8', except: Array.from({ length: 50 }, (_, k) => `10.${k * 5}.0.0/16`) }
                  : { cidr: '2001:db8::/32', except: Array.from({ length: 50 }, (_, k) => `2001:db8:${(k * 5).toString(16)}::/48`) },
              },
            ],
          },
        ],
        egress: [{ to: [{ podSelector: hugeSelector(i, 4) }] }],
      }),
    });
  }
  const protocols = ['TCP', 'UDP', 'SCTP'];
  for (let i = 0; i < counts['policy-many-ports']; i++) {
    out.push({
      kind: 'policy-many-ports',
      resource: NP,
      obj: policy(`many-ports-${i}`, {
        podSelector: { matchLabels: { app: STORM_APP } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            ports: [
              ...Array.from({ length: 100 }, (_, k) => ({ protocol: protocols[k % 3], port: 1 + ((i * 100 + k) % 65535) })),
              { protocol: 'TCP', port: 1, endPort: 65535 },
              { protocol: 'UDP', port: 65535 },
              { protocol: 'SCTP', port: 1024, endPort: 65535 },
            ],
            from: [{ podSelector: {} }],
          },
        ],
      }),
    });
  }
  for (let i = 0; i < counts['policy-unknown-named-port']; i++) {
    out.push({
      kind: 'policy-unknown-named-port',
      resource: NP,
      warning: ['InvalidNetworkPolicy'],
      obj: policy(`unknown-named-port-${i}`, {
        podSelector: { matchLabels: { app: STORM_APP } },
        policyTypes: ['Ingress'],
        // An IANA service name (15 characters at most) no container port has.
        ingress: [{ ports: [{ protocol: 'TCP', port: `nx-port-${i}` }] }],
      }),
    });
  }

  const node = (name: string, annotations: Record<string, string>): Obj => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'storm.example/fake': 'true' }, annotations } });
  for (let i = 0; i < counts['node-bad-pod-cidrs']; i++) {
    out.push({ kind: 'node-bad-pod-cidrs', resource: R.nodes, warning: ['InvalidPodCIDR'], obj: node(`storm-pod-cidrs-${i}`, { 'kube-router.io/pod-cidrs': BAD_POD_CIDRS[i % BAD_POD_CIDRS.length]! }) });
  }
  for (let i = 0; i < counts['node-bad-asn']; i++) {
    out.push({ kind: 'node-bad-asn', resource: R.nodes, warning: ['RouterConfigError'], obj: node(`storm-asn-${i}`, { 'kube-router.io/node.asn': BAD_ASNS[i % BAD_ASNS.length]! }) });
  }
  return out;
}

/** Objects the API server's validation must refuse: they never reach the agents. Pure. */
export function refusedObjects(families: readonly Family[], ns = STORM_NAMESPACE): Array<{ what: string; resource: ResourcePath; obj: Obj }> {
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: ns, ...extra });
  const other: Family = families[0] === 'ipv4' ? 'ipv6' : 'ipv4';
  const slice = (name: string, addressType: string, addresses: string[], port = 80, count = 1): Obj => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(name, { labels: { 'kubernetes.io/service-name': 'outside-0' } }),
    addressType,
    ports: [{ name: 'tcp', port, protocol: 'TCP' }],
    endpoints: Array.from({ length: count }, (_, i) => ({ addresses: count > 1 ? [`10.${Math.floor(i / 250)}.0.${(i % 250) + 1}`] : addresses })),
  });
  const service = (name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(name, annotations ? { annotations } : {}), spec });
  const policy = (name: string, spec: Record<string, unknown>): Obj => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(name), spec });
  return [
    { what: `EndpointSlice of addressType ${families[0] === 'ipv4' ? 'IPv4' : 'IPv6'} holding an ${other} address`, resource: R.endpointslices, obj: slice('refused-other-family', families[0] === 'ipv4' ? 'IPv4' : 'IPv6', [OUTSIDE[other](0)]) },
    { what: 'EndpointSlice holding a hostname as address', resource: R.endpointslices, obj: slice('refused-not-an-ip', 'IPv4', ['not-an-ip.example']) },
    { what: 'EndpointSlice with 1,001 endpoints', resource: R.endpointslices, obj: slice('refused-slice-size', 'IPv4', [], 80, 1001) },
    { what: 'Service with port 70000', resource: R.services, obj: service('refused-port', { ports: [{ port: 70000 }] }) },
    { what: 'Service with the same port twice', resource: R.services, obj: service('refused-duplicate', { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }) },
    { what: 'Service with protocol ICMP', resource: R.services, obj: service('refused-protocol', { ports: [{ port: 80, protocol: 'ICMP' }] }) },
    { what: 'Service with a kube-router.io annotation key that is no qualified name', resource: R.services, obj: service('refused-annotation-key', { ports: [{ port: 80 }] }, { 'kube-router.io/service local': 'true' }) },
    { what: 'NetworkPolicy with port 0', resource: NP, obj: policy('refused-policy-port', { podSelector: {}, ingress: [{ ports: [{ port: 0 }] }] }) },
    { what: 'NetworkPolicy with endPort below port', resource: NP, obj: policy('refused-end-port', { podSelector: {}, ingress: [{ ports: [{ port: 2000, endPort: 1000 }] }] }) },
    { what: 'NetworkPolicy with a named port of 16 characters', resource: NP, obj: policy('refused-port-name', { podSelector: {}, ingress: [{ ports: [{ port: 'sixteen-chars-xx' }] }] }) },
    { what: 'NetworkPolicy with an ipBlock that is no CIDR', resource: NP, obj: policy('refused-ipblock', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] }) },
    { what: 'Node with spec.podCIDRs ["garbage"]', resource: R.nodes, obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'storm-refused-pod-cidrs' }, spec: { podCIDRs: ['garbage'] } } },
  ];
}

/** Garbage `kube-router.io/peers` put on the lab's own Nodes (each agent reads only its own Node's peers). */
export const BAD_PEERS_ANNOTATION = { key: 'kube-router.io/peers', value: '- remoteip: [this is not\n  remoteasn: an address' } as const;

export interface StormParams {
  client: KubeClient;
  spec: LabSpec;
  families: readonly Family[];
  /** The kube-controller-manager's pid: held (SIGSTOP) while the fake Nodes are made, so that they have no spec.podCIDRs and their annotation is read. */
  controllerManagerPid: number;
  log: (line: string) => void;
  counts?: Readonly<Record<StormKind, number>>;
  /** Requests in flight while creating or deleting. */
  concurrency?: number;
}

export interface StormReport {
  sent: Partial<Record<StormKind, number>>;
  refused: Array<{ what: string; code: number; reason: string }>;
  eventsByReason: Record<string, number>;
  programmedAfterMs: number;
  reportedAfterMs: number;
  removedAfterMs: number;
}

async function inBatches<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function nft(node: string, ...args: string[]): Promise<string> {
  return (await execFileP('ip', ['netns', 'exec', nodeNetns(node), 'nft', ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })).stdout;
}

/** One node's proxy maps (service-ips and no-endpoint-services, every family) and firewall table, as text. */
async function tables(node: string, families: readonly Family[]): Promise<{ serving: string; noEndpoints: string; proxy: string; firewall: string }> {
  const map = (name: string) => Promise.all(families.map((f) => nft(node, 'list', 'map', 'inet', 'krouter-proxy', `${name}-${f}`))).then((t) => t.join('\n'));
  const [serving, noEndpoints, proxy, firewall] = await Promise.all([map('service-ips'), map('no-endpoint-services'), nft(node, 'list', 'table', 'inet', 'krouter-proxy'), nft(node, 'list', 'table', 'inet', 'krouter-firewall')]);
  return { serving, noEndpoints, proxy, firewall };
}

const keyOfEvent = (kind: string, namespace: string | undefined, name: string) => `${kind} ${namespace ? `${namespace}/` : ''}${name}`;

/** The names of the events in `default` now: what the storm's checks leave out. */
async function eventNames(client: KubeClient): Promise<Set<string>> {
  return new Set((await client.list(R.events, { namespace: 'default' })).items.map((e) => e.metadata.name));
}

/** krouter's Warning events about storm objects (not in `earlier`): by `Kind ns/name`, each with reason, reporting agent and count. */
async function stormEvents(client: KubeClient, ns: string, earlier: ReadonlySet<string>): Promise<Map<string, Array<{ reason: string; agent: string; count: number }>>> {
  const out = new Map<string, Array<{ reason: string; agent: string; count: number }>>();
  for (const namespace of [ns, 'default']) {
    for (const e of (await client.list(R.events, { namespace })).items) {
      if (earlier.has(e.metadata.name)) continue;
      if (e.type !== 'Warning' || (e.reportingComponent ?? e.source?.component) !== 'krouter') continue;
      const o = e.involvedObject ?? {};
      const k = keyOfEvent(o.kind, o.namespace, o.name);
      const list = out.get(k) ?? [];
      list.push({ reason: e.reason, agent: e.reportingInstance ?? e.source?.host ?? '?', count: e.count ?? 1 });
      out.set(k, list);
    }
  }
  return out;
}

/** Each agent's pid and restart count, and /healthz. */
function agents(spec: LabSpec): Array<{ node: string; pid?: number; restarts?: number; health: number }> {
  return spec.nodes.map((node) => {
    const rec = agentPodRecord(spec, node);
    return { node, pid: rec?.container.pid, restarts: rec?.container.restarts, health: agentHealth(node) };
  });
}

/**
 * The storm case: the refused objects are refused; the fake Nodes (with the
 * controller manager held) and every other object are made concurrently;
 * then every valid object is programmed on every node, every bad one has its
 * Warning events (at least one agent, at most one event per agent), no agent
 * restarted or became unhealthy. Everything is deleted again and its removal
 * from every node waited for.
 */
export async function runStorm(p: StormParams): Promise<StormReport> {
  const { client, spec, families, log } = p;
  const concurrency = p.concurrency ?? 32;
  const ns = STORM_NAMESPACE;
  const before = agents(spec);
  for (const a of before) assert.ok(a.pid && a.health === 200, `${a.node}: agent running and healthy before the storm (${JSON.stringify(a)})`);

  const earlier = await eventNames(client);
  const objects = stormObjects(families, p.counts);
  const made: StormObject[] = [];
  const report: StormReport = { sent: {}, refused: [], eventsByReason: {}, programmedAfterMs: 0, reportedAfterMs: 0, removedAfterMs: 0 };
  for (const o of objects) report.sent[o.kind] = (report.sent[o.kind] ?? 0) + 1;
  /** Storm objects the API server refused after all: a wrong expectation, reported at the end. */
  const notAdmitted: string[] = [];
  const create = async (o: StormObject) => {
    try {
      o.obj = await client.create(o.resource, o.obj);
      made.push(o);
    } catch (e) {
      if (!(e instanceof KubeError)) throw e;
      notAdmitted.push(`${o.kind} ${o.obj.metadata.name}: ${e.code} ${e.message.slice(0, 200)}`);
    }
  };
  const realNodes = spec.nodes;
  try {
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await client.create(R.pods, testPod({ name: STORM_POD, namespace: ns, nodeName: spec.nodes[0], labels: { app: STORM_APP }, tcp: [8080], udp: [8081] }) as Obj);
    await until('the storm pod Ready', async () => (podReady(await client.get(R.pods, ns, STORM_POD)) ? true : undefined), 120_000, 250);
    const admitted: string[] = [];
    for (const r of refusedObjects(families, ns)) {
      try {
        await client.create(r.resource, r.obj);
        admitted.push(r.what);
        await client.delete(r.resource, r.obj.metadata.namespace, r.obj.metadata.name);
      } catch (e) {
        if (!(e instanceof KubeError)) throw e;
        report.refused.push({ what: r.what, code: e.code, reason: e.reason });
      }
    }
    for (const r of report.refused) assert.ok(r.code === 422 || r.code === 400, `refused for its content, not for something else: ${JSON.stringify(r)}`);

    const t0 = Date.now();
    const fakeNodes = objects.filter((o) => o.resource === R.nodes);
    const rest = objects.filter((o) => o.resource !== R.nodes);
    // Held only while the fake Nodes appear: left running, it gives them pod CIDRs at once and their annotation is never read.
    process.kill(p.controllerManagerPid, 'SIGSTOP');
    try {
      await Promise.all([
        inBatches(fakeNodes, concurrency, create),
        ...realNodes.map((n) => client.patch(R.nodes, undefined, n, { metadata: { annotations: { [BAD_PEERS_ANNOTATION.key]: BAD_PEERS_ANNOTATION.value } } })),
      ]);
      let unreported: string[] = [];
      await until('a Warning event on every fake Node', async () => {
        const ev = await stormEvents(client, ns, earlier);
        unreported = made.filter((o) => o.resource === R.nodes && !ev.get(keyOfEvent('Node', undefined, o.obj.metadata.name))?.some((e) => o.warning!.includes(e.reason))).map((o) => o.obj.metadata.name);
        return unreported.length === 0 ? true : undefined;
      }, 120_000, 500).catch(async (e: Error) => {
        const ev = await stormEvents(client, ns, earlier);
        throw new Error(`${e.message}: ${unreported.length} without, e.g. ${unreported.slice(0, 5).join(', ')}; krouter Warning events since the storm began: ${JSON.stringify([...ev].slice(0, 10))}`);
      });
    } finally {
      process.kill(p.controllerManagerPid, 'SIGCONT');
    }
    log(`${fakeNodes.length} fake Nodes made and reported (controller manager held meanwhile) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await inBatches(rest, concurrency, create);
    log(`storm: ${objects.length} objects made in ${((Date.now() - t0) / 1000).toFixed(1)} s (${concurrency} requests in flight): ${Object.entries(report.sent).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    if (notAdmitted.length) log(`NOT ADMITTED (${notAdmitted.length}): ${notAdmitted.slice(0, 10).join('; ')}`);
    if (admitted.length) log(`ADMITTED though expected refused: ${admitted.join('; ')}`);
    log(`refused by the API server (${report.refused.length}, not counted): ${report.refused.map((r) => `${r.what} (${r.code} ${r.reason})`).join('; ')}`);

    // Valid objects programmed on every node.
    const clusterIPs = (o: StormObject) => ((o.obj.spec?.clusterIPs ?? []) as string[]).map((ip) => ({ ip, family: tryFamilyOf(ip) as Family }));
    const expect = (node: string, t: Awaited<ReturnType<typeof tables>>): string[] => {
      const missing: string[] = [];
      for (const o of made) {
        const name = `${o.obj.metadata.namespace}/${o.obj.metadata.name}`;
        if (o.kind === 'service-100-ports') {
          for (const { ip } of clusterIPs(o)) for (const port of o.obj.spec.ports as Array<{ port: number }>) if (!t.serving.includes(`${ip} . tcp . ${port.port} : goto `)) missing.push(`${node}: ${name} ${ip} tcp ${port.port} in service-ips`);
        } else if (o.kind === 'service-selectorless') {
          const i = Number(o.obj.metadata.name.split('-').pop());
          for (const { ip, family } of clusterIPs(o)) {
            if (!t.serving.includes(`${ip} . tcp . 80 : goto `)) missing.push(`${node}: ${name} ${ip} tcp 80 in service-ips`);
            const target = family === 'ipv4' ? `${OUTSIDE.ipv4(i)}:${OUTSIDE_PORT}` : `[${OUTSIDE.ipv6(i)}]:${OUTSIDE_PORT}`;
            if (!t.proxy.includes(` to ${target}`)) missing.push(`${node}: ${name} DNAT to ${target}`);
          }
        } else if (o.kind === 'service-bad-annotation') {
          // The bad annotation is reported; the rest of the Service is served (no endpoints: rejected).
          for (const { ip } of clusterIPs(o)) if (!t.noEndpoints.includes(`${ip} . tcp . 80 : goto `)) missing.push(`${node}: ${name} ${ip} tcp 80 in no-endpoint-services`);
        } else if (o.resource === NP) {
          if (!t.firewall.includes(`comment "${name} ingress"`)) missing.push(`${node}: ${name}'s ingress chain`);
        }
      }
      return missing;
    };
    let lastMissing: string[] = [];
    await until('every valid storm object programmed on every node', async () => {
      const all = await Promise.all(realNodes.map(async (n) => expect(n, await tables(n, families))));
      lastMissing = all.flat();
      return lastMissing.length === 0 ? true : undefined;
    }, 180_000, 1000).catch((e: Error) => {
      throw new Error(`${e.message}; ${lastMissing.length} missing, e.g. ${lastMissing.slice(0, 5).join('; ')}`);
    });
    report.programmedAfterMs = Date.now() - t0;

    // The single-stack Services have no element of the other family (the slice of that family is not theirs).
    const ignoredFamily = made.filter((o) => o.kind === 'endpointslice-family-not-of-service');
    if (ignoredFamily.length) {
      const t = await tables(realNodes[0]!, families);
      for (const o of ignoredFamily) {
        const address = (o.obj.endpoints as Array<{ addresses: string[] }>)[0]!.addresses[0]!;
        assert.ok(!t.proxy.includes(address.includes(':') ? `[${address}]` : `${address}:`), `${o.obj.metadata.name}: an endpoint of a family its Service lacks is not served`);
      }
    }

    // Bad objects reported: at least one agent each; at most one event per agent, object and reason.
    const bad = made.filter((o) => o.warning);
    const keyOf = (o: StormObject) => keyOfEvent(o.obj.kind as string, o.obj.metadata.namespace, o.obj.metadata.name);
    let events = new Map<string, Array<{ reason: string; agent: string; count: number }>>();
    await until('a Warning event on every bad storm object', async () => {
      events = await stormEvents(client, ns, earlier);
      const unreported = bad.filter((o) => !events.get(keyOf(o))?.some((e) => o.warning!.includes(e.reason)));
      const own = realNodes.filter((n) => !events.get(keyOfEvent('Node', undefined, n))?.some((e) => e.reason === 'RouterConfigError' && e.agent === n));
      return unreported.length === 0 && own.length === 0 ? true : undefined;
    }, 120_000, 1000);
    report.reportedAfterMs = Date.now() - t0;
    // Late duplicates would show after a few resyncs (every 5 s in this suite).
    await new Promise((r) => setTimeout(r, 12_000));
    events = await stormEvents(client, ns, earlier);
    for (const o of bad) {
      const mine = events.get(keyOf(o)) ?? [];
      const perAgent = new Map<string, number>();
      for (const e of mine) {
        assert.ok(o.warning!.includes(e.reason), `${keyOf(o)}: unexpected event reason ${e.reason} (expected ${o.warning!.join(' or ')})`);
        perAgent.set(`${e.agent} ${e.reason}`, (perAgent.get(`${e.agent} ${e.reason}`) ?? 0) + e.count);
        report.eventsByReason[e.reason] = (report.eventsByReason[e.reason] ?? 0) + e.count;
      }
      assert.ok(perAgent.size >= 1, `${keyOf(o)}: no Warning event`);
      for (const [k, n] of perAgent) assert.equal(n, 1, `${keyOf(o)}: ${n} events from ${k}`);
      assert.ok(new Set([...perAgent.keys()].map((k) => k.split(' ')[0])).size <= realNodes.length, `${keyOf(o)}: reported by more agents than there are`);
    }
    for (const n of realNodes) {
      const mine = (events.get(keyOfEvent('Node', undefined, n)) ?? []).filter((e) => e.reason === 'RouterConfigError' && e.count > 0);
      const peers = mine.filter((e) => e.agent === n);
      assert.equal(peers.length, 1, `${n}: one RouterConfigError from its own agent for its garbage peers annotation: ${JSON.stringify(mine)}`);
      report.eventsByReason['RouterConfigError (own Node)'] = (report.eventsByReason['RouterConfigError (own Node)'] ?? 0) + peers.length;
    }
    // Valid objects: no Warning at all.
    const noisy = made.filter((o) => !o.warning && events.has(keyOf(o)));
    assert.deepEqual(noisy.map((o) => `${keyOf(o)}: ${JSON.stringify(events.get(keyOf(o)))}`), [], 'Warning events on valid storm objects');

    assert.deepEqual(admitted, [], 'the API server admitted objects it should refuse');
    assert.deepEqual(notAdmitted, [], 'the API server refused storm objects');
    const after = agents(spec);
    after.forEach((a, i) => {
      assert.equal(a.pid, before[i]!.pid, `${a.node}: the agent is the same process after the storm (restarts ${before[i]!.restarts} -> ${a.restarts})`);
      assert.equal(a.health, 200, `${a.node}: /healthz after the storm`);
    });
    log(`programmed on ${realNodes.length} nodes ${(report.programmedAfterMs / 1000).toFixed(1)} s after the first object (100-port Services: every port in service-ips-<family>; out-of-range endpoints DNATed; every policy's chain); every bad object reported ${(report.reportedAfterMs / 1000).toFixed(1)} s after`);
    log(`Warning events (reason: events, at most one per agent and object): ${Object.entries(report.eventsByReason).sort().map(([r, n]) => `${r} ${n}`).join(', ')} for ${bad.length} bad objects + ${realNodes.length} own Nodes' garbage peers`);
    log(`agents: ${after.map((a) => `${a.node} pid ${a.pid} (same), /healthz ${a.health}`).join(', ')}`);
  } finally {
    const t1 = Date.now();
    await Promise.all(realNodes.map((n) => client.patch(R.nodes, undefined, n, { metadata: { annotations: { [BAD_PEERS_ANNOTATION.key]: null } } })));
    await inBatches([...made].reverse(), concurrency, (o) => client.delete(o.resource, o.obj.metadata.namespace, o.obj.metadata.name));
    // The DaemonSet controller gave every fake Node an agent pod that no kubelet will run: gone with them.
    const fakeNodes = made.filter((o) => o.resource === R.nodes).map((o) => o.obj.metadata.name);
    const stranded = (await Promise.all(fakeNodes.map(async (n) => (await client.list(R.pods, { fieldSelector: `spec.nodeName=${n}` })).items))).flat();
    await inBatches(stranded, concurrency, (pod) => client.delete(R.pods, pod.metadata.namespace, pod.metadata.name, { gracePeriodSeconds: 0 }));
    await client.delete(R.pods, ns, STORM_POD, { gracePeriodSeconds: 0 });
    await client.delete(R.namespaces, undefined, ns);
    const ips = made.flatMap((o) => ((o.obj.spec?.clusterIPs ?? []) as string[]).filter(Boolean));
    await until('the storm removed from every node', async () => {
      for (const n of realNodes) {
        const t = await tables(n, families);
        if (ips.some((ip) => t.serving.includes(`${ip} . `) || t.noEndpoints.includes(`${ip} . `)) || t.firewall.includes(`comment "${ns}/`)) return undefined;
      }
      return true;
    }, 180_000, 1000);
    await until('the storm namespace gone', async () => ((await client.tryGet(R.namespaces, undefined, ns)) ? undefined : true), 180_000, 500);
    report.removedAfterMs = Date.now() - t1;
    log(`deleted ${made.length} objects, ${stranded.length} agent pods the DaemonSet controller gave the fake Nodes, the storm pod and namespace; removed from every node's tables after ${(report.removedAfterMs / 1000).toFixed(1)} s`);
  }
  return report;
}
