/**
 * The loadbalancer plugin end to end, in each family mode (3 nodes, BIRD
 * installing what it learns, the agents running cni, router with
 * advertiseLoadBalancerIP, service-proxy and loadbalancer), against the real
 * kube-apiserver:
 *
 * - a LoadBalancer Service gets one address of every family of the mode, from
 *   the lab's ranges, in status.loadBalancer.ingress;
 * - the nodes advertise it to BIRD, and a TCP connection from the router's
 *   namespace (a client outside the cluster) to it reaches an endpoint;
 * - `krouter status` on every node shows the allocation per family, and
 *   exactly one node, the Lease's holder, says it is the leader;
 * - under continuous probes from the router the address stays while the
 *   endpoints move (one added on another node, one deleted): no failure;
 * - the agent holding the allocator Lease stopped: another takes the Lease
 *   and serves the next Service;
 * - deleting the Service releases the address (the next Service gets it)
 *   and the route is withdrawn from BIRD.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cidrContains, tryFamilyOf, type Family } from '../../sdk/src/families.ts';
import { labClient, podReady } from '../lab/api.ts';
import { routerRoutes } from '../lab/bgp-inspect.ts';
import { AGENT_HEALTH_PORT, hostPrefix, loadBalancerRanges, nodeNetns, ROUTER_NETNS } from '../lab/config.ts';
import { R, type KubeClient, type Obj } from '../lab/kube.ts';
import { startProber, type Probe, type ProbeResult, type Prober } from '../lab/prober.ts';
import { labCliAsync, labForSuite, until } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';

const NS = 'lb-e2e';
const TCP = 8080;

const answeredBy = (r: ProbeResult) => (r.ok ? r.reply!.trim().split(' ')[0]! : `(${r.error})`);

for (const family of ['ipv4', 'ipv6', 'dual'] as const) {
  describe(`loadbalancer e2e (${family})`, function () {
    this.timeout(600_000);
    const lab = labForSuite(`krlab-lb-${family}-`, [
      '--family', family, '--nodes', '3', '--router', 'bird', '--router-kernel-routes',
      '--plugins', 'cni,router,service-proxy,loadbalancer',
      '--router-config', '{"advertiseLoadBalancerIP":true}',
    ]);
    let client: KubeClient;
    let fams: Family[];
    let nodes: string[];
    let router: Prober;
    /** The addresses `web` got, per family. */
    const webIPs: Partial<Record<Family, string>> = {};

    const policy = () => (family === 'dual' ? { ipFamilyPolicy: 'RequireDualStack' } : {});
    const lbService = (name: string, app: string): Obj =>
      ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ...policy(), type: 'LoadBalancer', selector: { app }, ports: [{ name: 'tcp', port: 80, targetPort: 'tcp', protocol: 'TCP' }] } }) as Obj;
    const ingressOf = async (name: string): Promise<string[]> => {
      const svc = await client.tryGet(R.services, NS, name);
      return ((svc?.status as { loadBalancer?: { ingress?: Array<{ ip?: string }> } } | undefined)?.loadBalancer?.ingress ?? []).map((i) => i.ip!).filter(Boolean);
    };
    /** The Service's ingress once it has one address of every family of the mode. */
    const allocated = (name: string) =>
      until(`${name} has an address of every family`, async () => {
        const ips = await ingressOf(name);
        return fams.every((f) => ips.some((ip) => tryFamilyOf(ip) === f)) ? ips : undefined;
      }, 60_000, 250);
    const byFamily = (ips: string[]) => Object.fromEntries(ips.map((ip) => [tryFamilyOf(ip)!, ip])) as Partial<Record<Family, string>>;
    const birdHas = (f: Family, ip: string) => routerRoutes(lab.spec, f).some((r) => r.fromBgp && r.prefix === `${ip}/${hostPrefix(f)}`);
    const pod = (name: string, node: string, app: string) => {
      const p = testPod({ name, namespace: NS, nodeName: node, labels: { app }, tcp: [TCP], udp: [] }) as Record<string, any>;
      // A draining backend: after a delete it keeps serving a while (preStop), as real servers do.
      p.spec.containers[0].lifecycle = { preStop: { sleep: { seconds: 4 } } };
      return p as Obj;
    };
    const podsReady = (names: string[]) =>
      until(`pods ${names.join(', ')} Ready`, async () => {
        const items = (await client.list(R.pods, { namespace: NS })).items;
        return names.every((n) => items.some((p) => p.metadata.name === n && podReady(p))) ? true : undefined;
      }, 120_000, 250);

    before(async function () {
      fams = lab.fams;
      nodes = lab.spec.nodes;
      client = labClient(lab.spec);
      await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } as Obj);
      await client.create(R.pods, pod('be-1', nodes[0]!, 'web'));
      await client.create(R.pods, pod('be-2', nodes[1]!, 'web'));
      await podsReady(['be-1', 'be-2']);
      await client.create(R.services, lbService('web', 'web'));
      router = await startProber(ROUTER_NETNS, lab.stateDir, 'router');
    });

    after(async () => {
      router?.stop();
      await client?.close();
    });

    it('a LoadBalancer Service gets one address of every family of the mode, from the ranges, in its status', async () => {
      const ips = await allocated('web');
      assert.equal(ips.length, fams.length, `one address per family: ${ips.join(', ')}`);
      const ranges = loadBalancerRanges(lab.spec);
      for (const f of fams) {
        const ip = byFamily(ips)[f]!;
        assert.ok(cidrContains(ranges[f]!, ip), `${ip} is in ${ranges[f]}`);
        webIPs[f] = ip;
      }
    });

    it('the nodes advertise it to BIRD; a TCP connection from the router namespace to it reaches an endpoint', async () => {
      for (const f of fams) {
        const ip = webIPs[f]!;
        await until(`BIRD learns ${ip}`, () => (birdHas(f, ip) ? true : undefined), 60_000, 500);
        const replies = await until(`${ip}:80 answers from the router`, async () => {
          const rs = await router.probes(Array.from({ length: 10 }, () => ({ host: ip, port: 80, proto: 'tcp' as const, timeoutMs: 2000 })));
          return rs.every((r) => r.ok) ? rs : undefined;
        }, 60_000, 500);
        assert.ok(replies.every((r) => ['be-1', 'be-2'].includes(answeredBy(r))), `${f}: ${replies.map(answeredBy).join(', ')}`);
      }
    });

    it('`krouter status` on every node shows the allocation per family; exactly one node, the Lease holder, is the leader', async () => {
      const status = (node: string) =>
        JSON.parse(execFileSync('ip', ['netns', 'exec', nodeNetns(node), lab.spec.krouterBin, 'status', '--port', String(AGENT_HEALTH_PORT), '--json'], { encoding: 'utf8' })) as {
          plugins: { loadbalancer: { leader: boolean; holder: string | null; allocations: Record<string, string[]>; ranges: Record<string, string[]> } };
        };
      const lease = await client.tryGet(R.leases, 'kube-system', 'kube-router-lballoc');
      const holder = (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
      const leaders: string[] = [];
      for (const node of nodes) {
        const lb = status(node).plugins.loadbalancer;
        if (lb.leader) leaders.push(node);
        assert.deepEqual(Object.keys(lb.ranges), fams, `${node}: ranges of the families of the mode`);
        for (const f of fams) assert.deepEqual(lb.allocations[f], [`${NS}/web ${webIPs[f]}`], `${node}: ${f} allocations`);
        assert.equal(lb.holder, holder, `${node} sees the holder`);
      }
      assert.deepEqual(leaders, [holder]);
    });

    it('under continuous probes from the router the address stays while the endpoints move: no failure', async () => {
      const targets: Probe[] = fams.map((f) => ({ host: webIPs[f]!, port: 80, proto: 'tcp' as const, timeoutMs: 2000 }));
      const failures: string[] = [];
      const answered = new Set<string>();
      let rounds = 0;
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          const results = await router.probes(targets);
          results.forEach((r, i) => (r.ok ? answered.add(answeredBy(r)) : failures.push(`${targets[i]!.host} ${r.error}`)));
          rounds++;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        await client.create(R.pods, pod('be-3', nodes[2]!, 'web'));
        await podsReady(['be-3']);
        await client.delete(R.pods, NS, 'be-1', { gracePeriodSeconds: 30 });
        await until('be-1 gone', async () => ((await client.tryGet(R.pods, NS, 'be-1')) ? undefined : true), 90_000, 250);
        const seen = rounds;
        await until('ten probe rounds after be-1 is gone', () => (rounds >= seen + 10 ? true : undefined), 60_000, 100);
      } finally {
        stop = true;
        await loop;
      }
      assert.deepEqual(failures, [], `probes failed while the endpoints moved (${rounds} rounds)`);
      assert.deepEqual(byFamily(await ingressOf('web')), webIPs, 'the addresses stayed');
      // The moved endpoints serve: the last rounds reach be-2 or be-3 only.
      for (const f of fams) {
        const rs = await router.probes(Array.from({ length: 12 }, () => ({ host: webIPs[f]!, port: 80, proto: 'tcp' as const, timeoutMs: 2000 })));
        assert.ok(rs.every((r) => ['be-2', 'be-3'].includes(answeredBy(r))), `${f}: ${rs.map(answeredBy).join(', ')}`);
      }
    });

    it('the agent holding the allocator Lease stopped: another takes the Lease and serves the next Service', async () => {
      const holder = async () => ((await client.tryGet(R.leases, 'kube-system', 'kube-router-lballoc'))?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
      const before = await holder();
      assert.ok(before && nodes.includes(before), `a node holds the Lease: ${before}`);
      // SIGTERM: the agent hands the Lease back as it stops; the kubelet starts it again.
      await labCliAsync(lab.stateDir, ['restart-agent', before]);
      await client.create(R.services, lbService('after-restart', 'web'));
      const ips = await allocated('after-restart');
      assert.equal(ips.length, fams.length);
      for (const ip of ips) assert.ok(!Object.values(webIPs).includes(ip), `${ip} is not one of web's`);
      const now = await holder();
      assert.ok(now && nodes.includes(now), `a node holds the Lease again: ${now}`);
      await client.delete(R.services, NS, 'after-restart');
    });

    // Changes the service: last.
    it('deleting the Service releases its addresses (the next Service gets them) and BIRD loses the routes', async () => {
      await client.delete(R.services, NS, 'web');
      await until('the routes withdrawn from BIRD', () => (fams.every((f) => !birdHas(f, webIPs[f]!)) ? true : undefined), 60_000, 500);
      // Lowest free first: the released addresses (and after-restart's) are the lowest again.
      await until('after-restart gone', async () => ((await client.tryGet(R.services, NS, 'after-restart')) ? undefined : true), 30_000, 250);
      await client.create(R.services, lbService('web-again', 'web'));
      const ips = await allocated('web-again');
      assert.deepEqual(byFamily(ips), webIPs, 'the released addresses are handed out again');
    });
  });
}
