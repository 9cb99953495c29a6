/**
 * The service proxy end to end, in each family mode (3 nodes, BIRD, every
 * built-in plugin), against Services and EndpointSlices as the real
 * kube-apiserver and controllers make them:
 *
 * - a ClusterIP of each family reaches every endpoint over TCP and UDP from
 *   a pod on another node; in dual mode a RequireDualStack service answers
 *   on both ClusterIPs and a SingleStack IPv6 one on its IPv6 ClusterIP;
 * - a NodePort answers on every node address of every family from the
 *   external router, from a pod and from the node itself;
 * - externalTrafficPolicy Local: the endpoint sees the router's address,
 *   a node without a local endpoint does not forward, and the health check
 *   NodePort says 200 / 503;
 * - a service without endpoints refuses at once; ClientIP affinity keeps a
 *   client on one endpoint; a pod reaches itself through its service;
 * - scaling down under a continuous client fails no new connection, and a
 *   UDP flow moves on when its endpoint goes;
 * - the agent killed (SIGKILL) and restarted under continuous probes to a
 *   ClusterIP and a NodePort: zero failures.
 */
import assert from 'node:assert/strict';
import { tryFamilyOf, type Family } from '../../sdk/src/families.ts';
import { labClient, podReady } from '../lab/api.ts';
import { nodeNetns, nodeUnderlayByName, podNetnsName, ROUTER_NETNS, routerUnderlay, type LabSpec } from '../lab/config.ts';
import { R, type KubeClient, type Obj } from '../lab/kube.ts';
import { controlRequest } from '../lab/kubelet/control.ts';
import { podSocketPath } from '../lab/kubelet/runtime.ts';
import { startProber, type Probe, type ProbeResult, type Prober } from '../lab/prober.ts';
import { labCliAsync, labForSuite, until } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';

const NS = 'svc-e2e';
const TCP = 8080;
const UDP = 8081;

/** Probes from inside a pod. */
function fromPod(spec: LabSpec, name: string) {
  const socket = podSocketPath(spec, podNetnsName(NS, name));
  return {
    probe: async (p: Probe): Promise<ProbeResult> => (await controlRequest(socket, { probe: p }, (p.timeoutMs ?? 1000) + 5000)) as ProbeResult,
    probes: async (ps: readonly Probe[]): Promise<ProbeResult[]> => (await controlRequest(socket, { probes: ps }, 15_000)).results as ProbeResult[],
  };
}

/** The pod name a test server answered with (its reply is `NAME` or `NAME CLIENT`). */
const answeredBy = (r: ProbeResult) => (r.ok ? r.reply!.trim().split(' ')[0]! : `(${r.error})`);
const clientSeen = (r: ProbeResult) => r.reply?.trim().split(' ')[1];

function service(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec } as Obj;
}

const webPorts = [
  { name: 'tcp', port: 80, targetPort: 'tcp', protocol: 'TCP' },
  { name: 'udp', port: 53, targetPort: 'udp', protocol: 'UDP' },
];

for (const family of ['ipv4', 'ipv6', 'dual'] as const) {
  describe(`service proxy e2e (${family})`, function () {
    this.timeout(600_000);
    const lab = labForSuite(`krlab-svc-${family}-`, ['--family', family, '--nodes', '3', '--router', 'bird']);
    let client: KubeClient;
    let fams: Family[];
    let nodes: string[];
    let router: Prober;
    const svc: Record<string, Obj> = {};
    /** ClusterIP of a service per family. */
    const clusterIP = (name: string, f: Family) => (svc[name]!.spec.clusterIPs as string[]).find((ip) => tryFamilyOf(ip) === f);
    const nodePort = (name: string, port = 'tcp') => (svc[name]!.spec.ports as Array<{ name: string; nodePort: number }>).find((p) => p.name === port)!.nodePort;

    before(async function () {
      fams = lab.fams;
      nodes = lab.spec.nodes;
      client = labClient(lab.spec);
      await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      const pod = (name: string, node: string, labels: Record<string, string>, extra: (p: Record<string, any>) => void = () => undefined) => {
        const p = testPod({ name, namespace: NS, nodeName: node, labels, tcp: [TCP], udp: [UDP] }) as Record<string, any>;
        p.spec.containers[0].args = ['--echo-source'];
        extra(p);
        return p as Obj;
      };
      // A draining backend: after a delete it keeps serving for a while (preStop), as real servers do.
      const draining = (p: Record<string, any>) => {
        p.spec.containers[0].lifecycle = { preStop: { sleep: { seconds: 4 } } };
      };
      const pods = [
        pod('be-1', nodes[0]!, { app: 'be', self: 'yes' }),
        pod('be-2', nodes[1]!, { app: 'be' }, draining),
        pod('be-local', nodes[0]!, { app: 'be-local' }),
        pod('cl', nodes[2]!, { app: 'client' }),
      ];
      for (const p of pods) await client.create(R.pods, p);
      const policy = family === 'dual' ? { ipFamilyPolicy: 'PreferDualStack' } : {};
      const defs: Record<string, Record<string, unknown>> = {
        web: { ...policy, selector: { app: 'be' }, ports: webPorts },
        'web-np': { ...policy, type: 'NodePort', selector: { app: 'be' }, ports: [webPorts[0]] },
        local: { ...policy, type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'be-local' }, ports: [webPorts[0]] },
        empty: { ...policy, selector: { app: 'nothing' }, ports: webPorts },
        sticky: { ...policy, sessionAffinity: 'ClientIP', selector: { app: 'be' }, ports: [webPorts[0]] },
        self: { ...policy, selector: { self: 'yes' }, ports: [webPorts[0]] },
      };
      if (family === 'dual') {
        defs.both = { ipFamilyPolicy: 'RequireDualStack', selector: { app: 'be' }, ports: [webPorts[0]] };
        defs.v6only = { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'], selector: { app: 'be' }, ports: [webPorts[0]] };
      }
      for (const [name, spec] of Object.entries(defs)) svc[name] = await client.create(R.services, service(name, spec));
      await until('the test pods Ready', async () => {
        const items = (await client.list(R.pods, { namespace: NS })).items;
        return items.length === pods.length && items.every((p) => podReady(p)) ? true : undefined;
      }, 120_000, 250);
      // Endpoints programmed: the client reaches both backends of `web` in every family.
      await until('web served by both backends from the client', async () => {
        for (const f of fams) {
          const seen = new Set((await fromPod(lab.spec, 'cl').probes(Array.from({ length: 12 }, () => ({ host: clusterIP('web', f)!, port: 80, proto: 'tcp' as const })))).map(answeredBy));
          if (!seen.has('be-1') || !seen.has('be-2')) return undefined;
        }
        return true;
      }, 60_000, 500);
      router = await startProber(ROUTER_NETNS, lab.stateDir, 'router');
    });

    after(async () => {
      router?.stop();
      await client?.close();
    });

    it('a ClusterIP of each family reaches every endpoint over TCP and UDP from a pod on another node', async () => {
      for (const f of fams) {
        const host = clusterIP('web', f)!;
        assert.ok(host, `web has a ${f} ClusterIP: ${svc.web!.spec.clusterIPs}`);
        for (const [proto, port] of [['tcp', 80], ['udp', 53]] as const) {
          const replies = await fromPod(lab.spec, 'cl').probes(Array.from({ length: 20 }, () => ({ host, port, proto, timeoutMs: 2000 })));
          assert.deepEqual([...new Set(replies.map(answeredBy))].sort(), ['be-1', 'be-2'], `${f} ${proto} ${host}:${port}`);
        }
      }
    });

    if (family === 'dual') {
      it('RequireDualStack answers on both ClusterIPs; SingleStack IPv6 has one IPv6 ClusterIP and answers there', async () => {
        assert.deepEqual(svc.both!.spec.ipFamilies, ['IPv4', 'IPv6']);
        for (const f of ['ipv4', 'ipv6'] as const) {
          const r = await fromPod(lab.spec, 'cl').probe({ host: clusterIP('both', f)!, port: 80, proto: 'tcp' });
          assert.ok(r.ok, `both ${f}: ${r.error}`);
        }
        assert.deepEqual(svc.v6only!.spec.ipFamilies, ['IPv6']);
        assert.equal(clusterIP('v6only', 'ipv4'), undefined);
        const r = await fromPod(lab.spec, 'cl').probe({ host: clusterIP('v6only', 'ipv6')!, port: 80, proto: 'tcp' });
        assert.ok(r.ok, `v6only: ${r.error}`);
      });
    }

    it('a NodePort answers on every node address of every family: from the router, from a pod, from the node itself', async () => {
      const port = nodePort('web-np');
      for (const node of nodes) {
        for (const f of fams) {
          const host = nodeUnderlayByName(lab.spec, node)[f]!;
          const r = await router.probe({ host, port, proto: 'tcp', timeoutMs: 2000 });
          assert.ok(r.ok, `router -> ${node} ${host}:${port}: ${r.error}`);
          const p = await fromPod(lab.spec, 'cl').probe({ host, port, proto: 'tcp', timeoutMs: 2000 });
          assert.ok(p.ok, `pod cl -> ${node} ${host}:${port}: ${p.error}`);
        }
        const self = await startProber(nodeNetns(node), lab.stateDir, `self-${node}`);
        try {
          for (const f of fams) {
            const host = nodeUnderlayByName(lab.spec, node)[f]!;
            const r = await self.probe({ host, port, proto: 'tcp', timeoutMs: 2000 });
            assert.ok(r.ok, `${node} itself -> ${host}:${port}: ${r.error}`);
          }
        } finally {
          self.stop();
        }
      }
    });

    it('externalTrafficPolicy Local: the endpoint sees the router; a node without a local endpoint does not forward; the health check says 200 / 503', async () => {
      const port = nodePort('local');
      const hc = svc.local!.spec.healthCheckNodePort as number;
      assert.ok(hc > 0, 'the API server allocated a healthCheckNodePort');
      for (const f of fams) {
        const withEndpoint = nodeUnderlayByName(lab.spec, nodes[0]!)[f]!;
        const without = nodeUnderlayByName(lab.spec, nodes[1]!)[f]!;
        const r = await router.probe({ host: withEndpoint, port, proto: 'tcp', timeoutMs: 2000 });
        assert.equal(answeredBy(r), 'be-local');
        assert.equal(clientSeen(r), routerUnderlay(lab.spec)[f], `${f}: the client address is preserved`);
        const none = await router.probe({ host: without, port, proto: 'tcp', timeoutMs: 1500 });
        assert.equal(none.ok, false, `${f}: ${nodes[1]} has no local endpoint and must not forward (got ${none.reply})`);
        const get = 'GET / HTTP/1.0\r\n\r\n';
        const ok = await router.probe({ host: withEndpoint, port: hc, proto: 'tcp', send: get, timeoutMs: 2000 });
        assert.match(ok.reply ?? ok.error!, /^HTTP\/1\.[01] 200/, `${f} health check on ${nodes[0]}`);
        const bad = await router.probe({ host: without, port: hc, proto: 'tcp', send: get, timeoutMs: 2000 });
        assert.match(bad.reply ?? bad.error!, /^HTTP\/1\.[01] 503/, `${f} health check on ${nodes[1]}`);
      }
    });

    it('a service without endpoints refuses a connection at once (TCP reset, ICMP unreachable for UDP)', async () => {
      for (const f of fams) {
        const host = clusterIP('empty', f)!;
        const [tcp, udp] = await fromPod(lab.spec, 'cl').probes([
          { host, port: 80, proto: 'tcp', timeoutMs: 1000 },
          { host, port: 53, proto: 'udp', timeoutMs: 1000 },
        ]);
        assert.equal(tcp!.error, 'ECONNREFUSED', `${f} tcp: refused, not a timeout (${JSON.stringify(tcp)})`);
        assert.equal(udp!.error, 'ECONNREFUSED', `${f} udp: refused, not a timeout (${JSON.stringify(udp)})`);
      }
    });

    it('ClientIP affinity: 20 connections land on one endpoint', async () => {
      for (const f of fams) {
        const replies = await fromPod(lab.spec, 'cl').probes(Array.from({ length: 20 }, () => ({ host: clusterIP('sticky', f)!, port: 80, proto: 'tcp' as const })));
        const seen = new Set(replies.map(answeredBy));
        assert.equal(seen.size, 1, `${f}: ${[...seen].join(', ')}`);
        assert.ok(['be-1', 'be-2'].includes([...seen][0]!));
      }
    });

    it('hairpin: a pod reaches itself through its ClusterIP', async () => {
      for (const f of fams) {
        const r = await fromPod(lab.spec, 'be-1').probe({ host: clusterIP('self', f)!, port: 80, proto: 'tcp', timeoutMs: 2000 });
        assert.equal(answeredBy(r), 'be-1', `${f}: ${JSON.stringify(r)}`);
      }
    });

    it('the agent killed and restarted under continuous probes to a ClusterIP and a NodePort: zero failures', async () => {
      const targets: Probe[] = fams.flatMap((f) => [
        { host: clusterIP('web', f)!, port: 80, proto: 'tcp' as const, timeoutMs: 2000 },
        { host: nodeUnderlayByName(lab.spec, nodes[2]!)[f]!, port: nodePort('web-np'), proto: 'tcp' as const, timeoutMs: 2000 },
      ]);
      const failures: string[] = [];
      let rounds = 0;
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          const results = await fromPod(lab.spec, 'cl').probes(targets);
          results.forEach((r, i) => r.ok || failures.push(`${targets[i]!.host}:${targets[i]!.port} ${r.error}`));
          rounds++;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        await labCliAsync(lab.stateDir, ['restart-agent', nodes[2]!, '--kill']);
        const seen = rounds;
        await until('ten probe rounds after the restart', () => (rounds >= seen + 10 ? true : undefined), 60_000, 100);
      } finally {
        stop = true;
        await loop;
      }
      assert.ok(rounds > 10, `probed ${rounds} rounds`);
      assert.deepEqual(failures, []);
    });

    // Changes the service: last.
    it('scaling down under a continuous client fails no new connection; a UDP flow moves when its endpoint goes', async () => {
      const f = fams[fams.length - 1]!;
      const host = clusterIP('web', f)!;
      // One UDP flow (fixed source port) answered by be-2, the backend that goes.
      let localPort = 41000;
      let first: ProbeResult | undefined;
      for (; localPort < 41200; localPort++) {
        first = await fromPod(lab.spec, 'cl').probe({ host, port: 53, proto: 'udp', localPort, timeoutMs: 1500 });
        if (answeredBy(first) === 'be-2') break;
      }
      assert.equal(answeredBy(first!), 'be-2', 'found a UDP flow to be-2');

      const failures: string[] = [];
      const answered = new Set<string>();
      let stop = false;
      let rounds = 0;
      const loop = (async () => {
        while (!stop) {
          const rs = await fromPod(lab.spec, 'cl').probes(Array.from({ length: 4 }, () => ({ host, port: 80, proto: 'tcp' as const, timeoutMs: 2000 })));
          for (const r of rs) (r.ok ? answered.add(answeredBy(r)) : failures.push(String(r.error)));
          rounds++;
        }
      })();
      try {
        await client.delete(R.pods, NS, 'be-2', { gracePeriodSeconds: 30 });
        await until('be-2 gone', async () => ((await client.tryGet(R.pods, NS, 'be-2')) ? undefined : true), 90_000, 250);
        const seen = rounds;
        await until('five probe rounds after be-2 is gone', () => (rounds >= seen + 5 ? true : undefined), 60_000, 100);
      } finally {
        stop = true;
        await loop;
      }
      assert.deepEqual(failures, [], `new connections failed while be-2 went (${rounds} rounds)`);
      // The same UDP flow is answered by the remaining backend (its conntrack entry to be-2 was removed).
      const moved = await until('the UDP flow answered by be-1', async () => {
        const r = await fromPod(lab.spec, 'cl').probe({ host, port: 53, proto: 'udp', localPort, timeoutMs: 1000 });
        return answeredBy(r) === 'be-1' ? r : undefined;
      }, 20_000, 500);
      assert.ok(moved.ok);
    });
  });
}
