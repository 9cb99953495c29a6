/**
 * NetworkPolicy conformance on the lab, in each family mode (in dual mode
 * every probe runs over both families), modelled on Kubernetes' own network
 * policy e2e: namespaces x, y and z, pods a, b and c in each (a on node-1, b
 * on node-2, c on node-3), serving TCP and UDP on ports 80 and 81. For every
 * case the whole reachability matrix is probed and compared with the
 * expected one; a mismatch prints the wrong cells.
 *
 * Also: a service's ClusterIP reaches a pod only from the allowed client; a
 * NodePort with externalTrafficPolicy Local is filtered by an ipBlock of the
 * external router's address; a pod created under a deny-all policy, probed in a tight loop from the
 * moment its address exists, never answers; the agent killed and restarted
 * keeps denied denied and allowed allowed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { hostPrefixLength, tryFamilyOf, type Family } from '../../sdk/src/families.ts';
import { labClient, podIPsByFamily, podReady } from '../lab/api.ts';
import { clusterCidrs, nodeNetns, nodePaths, nodeUnderlayByName, podNetnsName, ROUTER_NETNS, routerUnderlay } from '../lab/config.ts';
import { R, type KubeClient, type Obj } from '../lab/kube.ts';
import { controlRequest } from '../lab/kubelet/control.ts';
import { podSocketPath } from '../lab/kubelet/runtime.ts';
import { startProber, type Probe, type ProbeResult } from '../lab/prober.ts';
import { labCliAsync, labForSuite, until } from '../lab/testing.ts';

const NAMESPACES = ['x', 'y', 'z'] as const;
const PODS = ['a', 'b', 'c'] as const;
const PORTS = [80, 81] as const;
const PROTOS = ['tcp', 'udp'] as const;
const NP = { prefix: '/apis/networking.k8s.io/v1', plural: 'networkpolicies', namespaced: true };

type Ns = (typeof NAMESPACES)[number];
type PodName = (typeof PODS)[number];
interface Peer {
  ns: Ns;
  pod: PodName;
}
interface Cell {
  from: Peer;
  to: Peer;
  port: number;
  proto: 'tcp' | 'udp';
}
/** Whether a cell is expected to connect (in `family`). */
type Expect = (c: Cell & { family: Family }) => boolean;

const peers: Peer[] = NAMESPACES.flatMap((ns) => PODS.map((pod) => ({ ns, pod })));
const key = (p: Peer) => `${p.ns}/${p.pod}`;
const allow: Expect = () => true;

function policy(ns: Ns, name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec } as Obj;
}

/** A pod serving TCP and UDP on 80 and 81, with upstream's port names. */
function serverPod(p: Peer, node: string): Obj {
  const ports = PORTS.flatMap((port) => PROTOS.map((proto) => ({ name: `serve-${port}-${proto}`, containerPort: port, protocol: proto.toUpperCase() })));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.pod, namespace: p.ns, labels: { pod: p.pod } },
    spec: { nodeName: node, containers: [{ name: 'server', image: 'krouter-lab/pod-server', ports }] },
  } as Obj;
}

interface Matrix {
  cells: Array<Cell & { family: Family; ok: boolean }>;
}

for (const family of ['ipv4', 'ipv6', 'dual'] as const) {
  describe(`network policy conformance (${family})`, function () {
    this.timeout(900_000);
    const lab = labForSuite(`krlab-np-${family}-`, ['--family', family, '--nodes', '3', '--router', 'bird']);
    let client: KubeClient;
    const ips = new Map<string, Partial<Record<Family, string>>>();

    const socketOf = (p: Peer) => podSocketPath(lab.spec, podNetnsName(p.ns, p.pod));

    /** Probes every cell (not a pod to itself) over every family. */
    async function probeMatrix(timeoutMs = 1000): Promise<Matrix> {
      const cells: Matrix['cells'] = [];
      await Promise.all(
        peers.map(async (from) => {
          const plan: Array<Cell & { family: Family; probe: Probe }> = [];
          for (const to of peers) {
            if (key(to) === key(from)) continue;
            for (const f of lab.fams) {
              for (const port of PORTS) for (const proto of PROTOS) plan.push({ from, to, port, proto, family: f, probe: { host: ips.get(key(to))![f]!, port, proto, timeoutMs } });
            }
          }
          const res = (await controlRequest(socketOf(from), { probes: plan.map((p) => p.probe) }, 60_000)).results as ProbeResult[];
          plan.forEach((p, i) => cells.push({ from: p.from, to: p.to, port: p.port, proto: p.proto, family: p.family, ok: res[i]!.ok }));
        }),
      );
      return { cells };
    }

    /** The cells that differ from `expect`, as text. */
    function wrong(m: Matrix, expect: Expect): string[] {
      return m.cells
        .filter((c) => c.ok !== expect(c))
        .map((c) => `${key(c.from)} -> ${key(c.to)} ${c.family} ${c.proto}/${c.port}: ${c.ok ? 'connected' : 'blocked'}, expected ${c.ok ? 'blocked' : 'connected'}`);
    }

    /** Probes until the matrix matches (policies take effect asynchronously), then asserts it. */
    async function assertMatrix(what: string, expect: Expect): Promise<void> {
      let last: string[] = [];
      const deadline = Date.now() + 30_000;
      for (;;) {
        last = wrong(await probeMatrix(), expect);
        if (last.length === 0) return;
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.fail(`${what}: ${last.length} wrong cells\n  ${last.slice(0, 40).join('\n  ')}${last.length > 40 ? `\n  ... ${last.length - 40} more` : ''}`);
    }

    async function apply(...policies: Obj[]): Promise<void> {
      for (const p of policies) await client.create(NP, p);
    }

    async function clearPolicies(): Promise<void> {
      for (const ns of NAMESPACES) for (const p of (await client.list(NP, { namespace: ns })).items) await client.delete(NP, ns, p.metadata.name);
    }

    before(async function () {
      client = labClient(lab.spec);
      for (const ns of NAMESPACES) await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { ns } } });
      for (const p of peers) await client.create(R.pods, serverPod(p, lab.spec.nodes[PODS.indexOf(p.pod)]!));
      await until('the 9 pods Ready', async () => {
        const ready = (await Promise.all(NAMESPACES.map((ns) => client.list(R.pods, { namespace: ns })))).flatMap((l) => l.items).filter((p) => podReady(p));
        if (ready.length < peers.length) return undefined;
        for (const p of ready) ips.set(`${p.metadata.namespace}/${p.metadata.name}`, podIPsByFamily(p));
        return true;
      }, 120_000, 250);
      await assertMatrix('no policy: everything connects', allow);
    });

    /**
     * Forgets the probes' flows: a UDP probe that happens to reuse the source port of a probe
     * made before a policy took effect would match that flow's conntrack entry and pass as an
     * established flow, which policies rightly do not cut.
     */
    const forgetFlows = () => {
      for (const node of lab.spec.nodes) execFileSync('ip', ['netns', 'exec', nodeNetns(node), 'conntrack', '-F'], { stdio: 'ignore' });
    };

    afterEach(async () => {
      await clearPolicies();
      forgetFlows();
    });
    after(async () => client?.close());

    const toXA = (c: Cell) => c.to.ns === 'x' && c.to.pod === 'a';

    it('deny all ingress in x', async () => {
      await apply(policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }));
      await assertMatrix('deny all ingress in x', (c) => c.to.ns !== 'x');
    });

    it('deny all egress in x (and ingress stays open)', async () => {
      await apply(policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }));
      await assertMatrix('deny all egress in x', (c) => c.from.ns !== 'x');
    });

    it('ingress to x/a from pods labelled pod=b of its own namespace', async () => {
      await apply(policy('x', 'allow-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }));
      await assertMatrix('x/a from x/b only', (c) => !toXA(c) || (c.from.ns === 'x' && c.from.pod === 'b'));
    });

    it('ingress to x/a from namespace y (namespaceSelector)', async () => {
      await apply(policy('x', 'allow-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }));
      await assertMatrix('x/a from y/*', (c) => !toXA(c) || c.from.ns === 'y');
    });

    it('namespaceSelector AND podSelector in one peer: only y/b', async () => {
      await apply(policy('x', 'and', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] }));
      await assertMatrix('x/a from y/b', (c) => !toXA(c) || (c.from.ns === 'y' && c.from.pod === 'b'));
    });

    it('two peers are OR: namespace y, or pod=b of x', async () => {
      await apply(policy('x', 'or', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }] }));
      await assertMatrix('x/a from y/* or x/b', (c) => !toXA(c) || c.from.ns === 'y' || (c.from.ns === 'x' && c.from.pod === 'b'));
    });

    it('matchExpressions: namespaces NotIn [x], pods In [b, c]', async () => {
      await apply(
        policy('x', 'expr', {
          podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a'] }] },
          ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] } }] }],
        }),
      );
      await assertMatrix('x/a from {y,z}/{b,c}', (c) => !toXA(c) || (c.from.ns !== 'x' && c.from.pod !== 'a'));
    });

    it('ports: TCP 80 only', async () => {
      await apply(policy('x', 'tcp-80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 80, protocol: 'TCP' }] }] }));
      await assertMatrix('x/a on tcp/80 only', (c) => !toXA(c) || (c.port === 80 && c.proto === 'tcp'));
    });

    it('named port: serve-81-udp', async () => {
      await apply(policy('x', 'named', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-81-udp', protocol: 'UDP' }] }] }));
      await assertMatrix('x/a on udp/81 only', (c) => !toXA(c) || (c.port === 81 && c.proto === 'udp'));
    });

    it('named port for egress: x/* may reach only serve-80-tcp', async () => {
      await apply(policy('x', 'egress-named', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-tcp', protocol: 'TCP' }] }] }));
      await assertMatrix('x/* out on tcp/80 only', (c) => c.from.ns !== 'x' || (c.port === 80 && c.proto === 'tcp'));
    });

    it('port range with endPort: 80-81 TCP', async () => {
      await apply(policy('x', 'range', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 80, endPort: 81, protocol: 'TCP' }] }] }));
      await assertMatrix('x/a on tcp/80-81', (c) => !toXA(c) || c.proto === 'tcp');
    });

    it('ipBlock with except, in its own family: the pod ranges except y/b', async () => {
      const cidrs = clusterCidrs(lab.spec).pods;
      const yb = ips.get('y/b')!;
      const blocks = lab.fams.map((f) => ({ ipBlock: { cidr: cidrs[f]!, except: [`${yb[f]}/${hostPrefixLength(f)}`] } }));
      await apply(policy('x', 'ipblock', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: blocks }] }));
      await assertMatrix('x/a from every pod but y/b', (c) => !toXA(c) || !(c.from.ns === 'y' && c.from.pod === 'b'));
    });

    if (family === 'dual') {
      it('an ipBlock applies in its own family only: an IPv4 block leaves IPv6 isolated', async () => {
        await apply(policy('x', 'v4-block', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: clusterCidrs(lab.spec).pods.ipv4! } }] }] }));
        await assertMatrix('x/a over IPv4 only', (c) => !toXA(c) || c.family === 'ipv4');
      });
    }

    it('stacked policies select x/a: the union of what they allow', async () => {
      await apply(
        policy('x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
        policy('x', 'from-z-c', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } }, podSelector: { matchLabels: { pod: 'c' } } }] }] }),
      );
      await assertMatrix('x/a from y/* and z/c', (c) => !toXA(c) || c.from.ns === 'y' || (c.from.ns === 'z' && c.from.pod === 'c'));
    });

    it('egress and ingress both must allow: x/a may only send to y, and y/b admits only z', async () => {
      await apply(
        policy('x', 'a-to-y', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
        policy('y', 'b-from-z', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] }),
      );
      const fromXA = (c: Cell) => c.from.ns === 'x' && c.from.pod === 'a';
      const toYB = (c: Cell) => c.to.ns === 'y' && c.to.pod === 'b';
      await assertMatrix('egress of x/a, ingress of y/b', (c) => (!fromXA(c) || c.to.ns === 'y') && (!toYB(c) || c.from.ns === 'z'));
    });

    it('policy updates, pod label changes and policy deletes take effect', async () => {
      await apply(policy('x', 'moving', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }));
      await assertMatrix('from x/b', (c) => !toXA(c) || (c.from.ns === 'x' && c.from.pod === 'b'));
      const cur = await client.get(NP, 'x', 'moving');
      await client.update(NP, { ...cur, spec: { ...cur.spec, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }] } } as Obj);
      await assertMatrix('updated: from x/c', (c) => !toXA(c) || (c.from.ns === 'x' && c.from.pod === 'c'));
      await client.patch(R.pods, 'x', 'b', { metadata: { labels: { pod: 'b', extra: 'yes' } } });
      await client.patch(NP, 'x', 'moving', { spec: { ingress: [{ from: [{ podSelector: { matchLabels: { extra: 'yes' } } }] }] } });
      await assertMatrix('from the pod labelled extra=yes (x/b)', (c) => !toXA(c) || (c.from.ns === 'x' && c.from.pod === 'b'));
      await client.patch(R.pods, 'x', 'b', { metadata: { labels: { extra: null } } });
      await assertMatrix('label removed: nobody', (c) => !toXA(c));
      await client.delete(NP, 'x', 'moving');
      await assertMatrix('policy deleted: everything', allow);
    });

    it('through a ClusterIP, only the allowed client reaches the pod (judged after DNAT)', async () => {
      const svc = await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'to-a', namespace: 'x' }, spec: { ...(family === 'dual' ? { ipFamilyPolicy: 'PreferDualStack' } : {}), selector: { pod: 'a' }, ports: [{ name: 'tcp', port: 8080, targetPort: 80 }] } } as Obj);
      await apply(policy('x', 'only-y-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] }));
      try {
        for (const clusterIP of svc.spec.clusterIPs as string[]) {
          const probeFrom = async (p: Peer) => ((await controlRequest(socketOf(p), { probe: { host: clusterIP, port: 8080, proto: 'tcp', timeoutMs: 1000 } }, 10_000)) as ProbeResult).ok;
          await until(`y/b reaches x/a through ${clusterIP}`, async () => ((await probeFrom({ ns: 'y', pod: 'b' })) ? true : undefined), 30_000, 250);
          for (const p of [{ ns: 'y', pod: 'c' }, { ns: 'z', pod: 'b' }, { ns: 'x', pod: 'b' }] as Peer[]) {
            assert.equal(await probeFrom(p), false, `${key(p)} must not reach x/a through ${tryFamilyOf(clusterIP)} ClusterIP ${clusterIP}`);
          }
        }
      } finally {
        await client.delete(R.services, 'x', 'to-a');
      }
    });

    it('a NodePort with externalTrafficPolicy Local is filtered by an ipBlock of the external client (the router)', async () => {
      const svc = await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'np-a', namespace: 'x' }, spec: { ...(family === 'dual' ? { ipFamilyPolicy: 'PreferDualStack' } : {}), type: 'NodePort', externalTrafficPolicy: 'Local', selector: { pod: 'a' }, ports: [{ name: 'tcp', port: 8080, targetPort: 80 }] } } as Obj);
      const router = await startProber(ROUTER_NETNS, lab.stateDir, 'np-router');
      try {
        const nodePort = (svc.spec.ports as Array<{ nodePort: number }>)[0]!.nodePort;
        // x/a runs on the first node: the only node that serves the Local NodePort.
        const targets = lab.fams.map((f) => ({ f, host: nodeUnderlayByName(lab.spec, lab.spec.nodes[0]!)[f]!, client: routerUnderlay(lab.spec)[f]! }));
        const reach = async (t: (typeof targets)[number]) => (await router.probe({ host: t.host, port: nodePort, proto: 'tcp', timeoutMs: 1000 })).ok;
        const onlyFrom = (cidrOf: (t: (typeof targets)[number]) => string) =>
          policy('x', 'from-block', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: targets.map((t) => ({ ipBlock: { cidr: cidrOf(t) } })) }] });
        // Allowed: the router's own address.
        await apply(onlyFrom((t) => `${t.client}/${hostPrefixLength(t.f)}`));
        for (const t of targets) await until(`the router reaches x/a through ${t.host}:${nodePort} (its address allowed)`, async () => ((await reach(t)) ? true : undefined), 30_000, 250);
        // Not allowed: a block that leaves the router's address out.
        await client.delete(NP, 'x', 'from-block');
        await apply(onlyFrom((t) => clusterCidrs(lab.spec).pods[t.f]!));
        for (const t of targets) await until(`the router blocked at ${t.host}:${nodePort}`, async () => ((await reach(t)) ? undefined : true), 30_000, 250);
        forgetFlows();
        for (const t of targets) assert.equal(await reach(t), false, `${t.f}: the router's address is outside the allowed block`);
      } finally {
        router.stop();
        await client.delete(R.services, 'x', 'np-a');
      }
    });

    it('a pod created under deny-all, probed in a tight loop from the moment its address exists, never answers', async () => {
      await apply(policy('z', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }));
      // Wait until deny-all holds for the existing pods, so the new pod's namespace is policed.
      await assertMatrix('deny all in z', (c) => c.to.ns !== 'z');
      const node = lab.spec.nodes[0]!;
      const record = path.join(nodePaths(lab.spec, node).podsDir, `${podNetnsName('z', 'new')}.json`);
      await client.create(R.pods, serverPod({ ns: 'z', pod: 'new' as PodName }, node));
      // The kubelet writes the pod's addresses to its record right after CNI ADD, before the pod is Ready.
      const addresses = await until('the new pod has addresses', () => {
        if (!existsSync(record)) return undefined;
        try {
          const r = JSON.parse(readFileSync(record, 'utf8')) as { ips?: Partial<Record<Family, string>> };
          return r.ips && Object.keys(r.ips).length ? r.ips : undefined;
        } catch {
          return undefined;
        }
      }, 60_000, 5);
      let connected = 0;
      let probes = 0;
      let ready = false;
      const readyAt = until('the new pod Ready', async () => (podReady(await client.get(R.pods, 'z', 'new')) ? true : undefined), 60_000, 100).then(() => (ready = true));
      let after = 0;
      while (!ready || after < 20) {
        const res = (await controlRequest(socketOf({ ns: 'x', pod: 'a' }), { probes: Object.values(addresses).flatMap((host) => [{ host, port: 80, proto: 'tcp', timeoutMs: 150 }, { host, port: 80, proto: 'udp', timeoutMs: 150 }]) }, 10_000)).results as ProbeResult[];
        probes += res.length;
        connected += res.filter((r) => r.ok).length;
        if (ready) after++;
      }
      await readyAt;
      await client.delete(R.pods, 'z', 'new', { gracePeriodSeconds: 0 });
      assert.ok(probes > 40, `probed ${probes} times`);
      assert.equal(connected, 0, `${connected} of ${probes} probes reached a pod its policy isolates`);
    });

    it('the agent killed and restarted: denied stays denied, allowed never fails', async () => {
      await apply(policy('x', 'only-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }));
      const expect: Expect = (c) => c.to.ns !== 'x' || c.from.ns === 'y';
      await assertMatrix('x admits only y', expect);
      forgetFlows();
      const violations: string[] = [];
      let rounds = 0;
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          violations.push(...wrong(await probeMatrix(1000), expect));
          rounds++;
        }
      })();
      try {
        // node-1 runs x/a, y/a and z/a.
        await labCliAsync(lab.stateDir, ['restart-agent', lab.spec.nodes[0]!, '--kill']);
        const seen = rounds;
        await until('three matrices after the restart', () => (rounds >= seen + 3 ? true : undefined), 120_000, 100);
      } finally {
        stop = true;
        await loop;
      }
      assert.deepEqual(violations, [], `over ${rounds} matrices`);
    });
  });
}

