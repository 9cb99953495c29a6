/**
 * The router plugin with FRR (bgpd) as the external router, dual-stack,
 * 3 nodes: FRR receives every node's pod CIDR per family from that node with
 * the node's own address as next hop; FRR's originated prefix is installed on
 * every node and its default route is not; `lab check` passes. Root.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Family } from '../../sdk/src/families.ts';
import { requireRoot } from '../helpers/netns.ts';
import { kernelRoutes, nodeKrouterRoutes, routerRoutes } from '../lab/bgp-inspect.ts';
import { families, loadLabState, nodeNetns, routerOriginated, routerUnderlay, type LabSpec } from '../lab/config.ts';
import { runDemoWorkloads } from '../lab/demo.ts';
import { labCli, labNodes, until, type LabNodeInfo } from '../lab/testing.ts';

describe('router e2e: FRR as the external router (dual, 3 nodes)', function () {
  this.timeout(300_000);
  let stateDir: string | undefined;
  let spec: LabSpec;
  let nodes: LabNodeInfo[];
  let fams: Family[];

  before(async function () {
    requireRoot();
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'krlab-router-frr-'));
    labCli(stateDir, ['up', '--family', 'dual', '--nodes', '3', '--router', 'frr']);
    const state = loadLabState(stateDir)!;
    spec = state.spec;
    fams = families(spec);
    await runDemoWorkloads(state, () => undefined);
    nodes = await labNodes(spec);
  });

  after(function () {
    if (!stateDir) return;
    try {
      labCli(stateDir, ['down']);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it("FRR receives every node's pod CIDR per family from that node only, next hop the node's own address", async function () {
    for (const f of fams) {
      const want = nodes.map((n) => `${n.podCidrs[f]} from ${n.addresses[f]} via ${n.addresses[f]}`).sort();
      // `up` waited for the nodes' routes, not for FRR's table: give it the moment it needs.
      const got = await until(`FRR ${f} table`, () => {
        const learned = routerRoutes(spec, f).filter((r) => r.fromBgp).map((r) => `${r.prefix} from ${r.source} via ${r.nextHop}`).sort();
        return learned.length >= want.length ? learned : undefined;
      });
      assert.deepEqual(got, want, `FRR ${f} routes learned over BGP`);
    }
  });

  it("FRR's originated prefix is installed on every node, its default route is not", function () {
    const originated = routerOriginated(spec);
    const router = routerUnderlay(spec);
    for (const f of fams) {
      // FRR does originate a default route: the nodes must refuse it.
      assert.ok(routerRoutes(spec, f).some((r) => !r.fromBgp && /^(0\.0\.0\.0|::)\/0$/.test(r.prefix)), `FRR originates a ${f} default route`);
      for (const node of nodes) {
        const routes = nodeKrouterRoutes(node.name, f);
        assert.ok(routes.some((r) => r.dst === originated[f] && r.gateway === router[f]), `${node.name}: ${originated[f]} via ${router[f]}: ${JSON.stringify(routes)}`);
        assert.deepEqual(routes.filter((r) => r.dst === 'default'), [], `${node.name}: no ${f} default route from krouter`);
        const defaults = kernelRoutes(nodeNetns(node.name), f).filter((r) => r.dst === 'default');
        assert.equal(defaults.length, 1, `${node.name}: only the lab's static ${f} default route`);
      }
    }
  });

  it('`lab check` passes: cross-node pod to pod TCP and UDP over every family', function () {
    const res = JSON.parse(labCli(stateDir!, ['check', '--json'])) as { ok: boolean; rows: Array<{ kind: string; family: Family; proto: string; result: string }> };
    assert.equal(res.ok, true);
    for (const f of fams) {
      for (const proto of ['tcp', 'udp']) {
        const rows = res.rows.filter((r) => r.kind === 'cross-node' && r.family === f && r.proto === proto);
        assert.equal(rows.length, 24, `cross-node ${f}/${proto} probes`);
        assert.ok(rows.every((r) => r.result === 'ok'));
      }
    }
  });
});
