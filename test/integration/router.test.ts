/**
 * The router plugin against real routers nobody here wrote: `krouter run`
 * agents (the single executable, each with its own gobgpd) in network
 * namespaces on one L2 segment, peering with each other and with BIRD or FRR,
 * in ipv4, ipv6 and dual mode.
 */
import assert from 'node:assert/strict';
import { ensureExecutable } from '../../build/pipeline.ts';
import {
  DEFAULT_ROUTE,
  ROUTER_INDEX,
  ROUTER_PREFIX,
  gobgpRib,
  gobgpRibText,
  kernelRoutes,
  podCidr,
  startCluster,
  underlay,
  waitFor,
  type Cluster,
  type ClusterOptions,
  type Family,
  type FamilyMode,
} from '../helpers/bgp-peers.ts';
import { requireRoot } from '../helpers/netns.ts';

const MODES: FamilyMode[] = ['ipv4', 'ipv6', 'dual'];
const CONVERGE_MS = 90_000;

const familyOfAddress = (a: string): Family => (a.includes(':') ? 'ipv6' : 'ipv4');

let binary: string;

before(async function () {
  this.timeout(600_000);
  requireRoot();
  binary = await ensureExecutable();
});

async function cluster(opts: Omit<ClusterOptions, 'tag'> & { tag?: string }): Promise<Cluster> {
  return startCluster({ tag: 'rt', ...opts }, { command: binary, args: [] });
}

/** What every node's kernel should hold (protocol 201) per family: other nodes' pod CIDRs and the router's prefix. */
function expectedKernel(c: Cluster, nodeIndex: number, family: Family, live = c.nodes.map((n) => n.index), withRouter = true) {
  const want = new Map<string, string>();
  for (const i of live) if (i !== nodeIndex) want.set(podCidr(i)[family], underlay(i)[family]);
  if (withRouter && c.router) want.set(ROUTER_PREFIX[family], underlay(ROUTER_INDEX)[family]);
  return want;
}

function describeMap(m: Map<string, unknown>): string {
  return JSON.stringify([...m].sort());
}

/** Waits until every node's krouter routes equal the expected ones, then asserts it once more. */
async function kernelConverges(c: Cluster, expect: (nodeIndex: number, f: Family) => Map<string, string>, nodes = c.nodes): Promise<void> {
  await waitFor(
    'kernel routes on every node',
    async () => {
      for (const n of nodes) {
        for (const f of c.families) {
          if (describeMap(await kernelRoutes(n.ns, f)) !== describeMap(expect(n.index, f))) return undefined;
        }
      }
      return true;
    },
    CONVERGE_MS,
    250,
  ).catch(async (e: Error) => {
    const have: string[] = [];
    for (const n of nodes) for (const f of c.families) have.push(`${n.name} ${f}: ${describeMap(await kernelRoutes(n.ns, f))}`);
    throw new Error(`${e.message}\n${have.join('\n')}\nagent log of ${nodes[0]!.name}:\n${nodes[0]!.agent.output().slice(-4000)}`);
  });
  for (const n of nodes) {
    for (const f of c.families) assert.deepEqual(await kernelRoutes(n.ns, f), expect(n.index, f), `${n.name} ${f} kernel routes`);
  }
}

async function routerHasPodCidrs(c: Cluster, live: number[]): Promise<void> {
  const r = c.router!;
  const ok = async () => {
    for (const f of c.families) {
      const routes = await r.routes(f);
      for (const i of c.nodes.map((n) => n.index)) {
        const hops = routes.get(podCidr(i)[f]) ?? [];
        const present = hops.includes(underlay(i)[f]);
        if (present !== live.includes(i)) return false;
      }
    }
    return true;
  };
  await waitFor(`${r.kind} holds exactly the live nodes' pod CIDRs`, async () => ((await ok()) ? true : undefined), CONVERGE_MS, 250).catch(
    async (e: Error) => {
      const dump: string[] = [];
      for (const f of c.families) dump.push(`${f}: ${describeMap(await r.routes(f))}`);
      throw new Error(`${e.message}\n${dump.join('\n')}`);
    },
  );
  for (const f of c.families) {
    const routes = await r.routes(f);
    for (const i of live) {
      const hops = routes.get(podCidr(i)[f]);
      assert.ok(hops?.includes(underlay(i)[f]), `${r.kind} ${f}: ${podCidr(i)[f]} via node-${i} ${underlay(i)[f]}; has ${JSON.stringify(hops)}`);
      for (const h of hops!) assert.equal(familyOfAddress(h), f, `${r.kind}: next hop ${h} of ${podCidr(i)[f]} is ${f}`);
    }
  }
}

for (const kind of ['bird', 'frr'] as const) {
  for (const mode of MODES) {
    describe(`router plugin with ${kind} (${mode}, 3 nodes)`, function () {
      this.timeout(300_000);
      let c: Cluster;

      before(async function () {
        this.timeout(300_000);
        c = await cluster({ mode, nodes: 3, router: kind, tag: kind === 'bird' ? 'rtb' : 'rtf' });
      });
      after(async () => {
        await c?.stop();
      });

      it('installs other nodes\' pod CIDRs and the router\'s prefix per family, never its default route', async () => {
        await kernelConverges(c, (i, f) => expectedKernel(c, i, f));
        for (const n of c.nodes) {
          for (const f of c.families) {
            const routes = await kernelRoutes(n.ns, f);
            assert.equal(routes.has(DEFAULT_ROUTE[f]), false, `${n.name}: no ${f} default route from ${kind}`);
            for (const [dst, via] of routes) assert.equal(familyOfAddress(via), f, `${n.name}: ${dst} via ${via} is ${f}`);
          }
        }
      });

      it('each gobgp RIB holds exactly the pod CIDRs (and the router prefix) of its family, with next hops of that family', async () => {
        for (const n of c.nodes) {
          // Both families answer without error whatever the mode.
          for (const f of ['ipv4', 'ipv6'] as const) {
            const text = await gobgpRibText(n.socket, f);
            assert.doesNotMatch(text, /invalid|<nil>|error/i, `${n.name}: gobgp global rib -a ${f}`);
          }
          for (const f of ['ipv4', 'ipv6'] as const) {
            const rib = await gobgpRib(n.socket, f);
            const want = c.families.includes(f) ? [...c.nodes.map((m) => podCidr(m.index)[f]), ROUTER_PREFIX[f]].sort() : [];
            assert.deepEqual([...rib.keys()].sort(), want, `${n.name}: ${f} RIB prefixes`);
            for (const [prefix, hops] of rib) for (const h of hops) assert.equal(familyOfAddress(h), f, `${n.name}: ${prefix} next hop ${h}`);
            // Our own pod CIDR is originated with our own address of that family.
            if (c.families.includes(f)) assert.ok(rib.get(podCidr(n.index)[f])!.includes(underlay(n.index)[f]), `${n.name}: own ${f} path`);
          }
        }
      });

      it(`${kind} receives every node's pod CIDR per family with the node as next hop`, async () => {
        await routerHasPodCidrs(c, [1, 2, 3]);
      });

      it('a node deleted from the API: its routes leave the other nodes\' kernels and the router', async () => {
        await c.deleteNode('node-3');
        const live = [1, 2];
        await kernelConverges(
          c,
          (i, f) => expectedKernel(c, i, f, live),
          c.nodes.filter((n) => live.includes(n.index)),
        );
        await routerHasPodCidrs(c, live);
      });
    });
  }
}

describe('router plugin: malformed peers annotation and MD5 peers (dual, BIRD)', function () {
  this.timeout(300_000);
  let c: Cluster;
  const password = 'krouter-md5-secret';

  before(async function () {
    this.timeout(300_000);
    c = await cluster({
      mode: 'dual',
      nodes: 2,
      router: 'bird',
      password,
      tag: 'rtm',
      annotations: (i) => (i === 1 ? { 'kube-router.io/peers': '- remoteip: [unclosed\n  remoteasn: 64513' } : undefined),
    });
  });
  after(async () => {
    await c?.stop();
  });

  it('logs one error naming the node and the annotation key', async () => {
    const line = await waitFor(
      'error log line',
      async () => c.nodes[0]!.agent.lines.find((l) => l.includes('kube-router.io/peers') && l.includes('node-1')),
      CONVERGE_MS,
    );
    assert.match(line, /"level":"?(error|50)/);
    assert.match(line, /node node-1: annotation kube-router\.io\/peers/);
  });

  it('establishes every MD5 session with BIRD and still installs routes on the node with the bad annotation', async () => {
    await waitFor(
      'all BIRD sessions established',
      async () => ((await c.router!.established()).length === 4 ? true : undefined),
      CONVERGE_MS,
      250,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}; established: ${JSON.stringify(await c.router!.established())}\n${c.router!.output().slice(-3000)}`);
    });
    assert.deepEqual((await c.router!.established()).sort(), ['n1_ipv4', 'n1_ipv6', 'n2_ipv4', 'n2_ipv6']);
    await kernelConverges(c, (i, f) => expectedKernel(c, i, f));
  });
});
