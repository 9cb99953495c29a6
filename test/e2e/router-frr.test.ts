/**
 * The router plugin with FRR (bgpd) as the external router, dual-stack,
 * 3 nodes: FRR receives every node's pod CIDR per family from that node with
 * the node's own address as next hop; FRR's originated prefix is installed on
 * every node and its default route is not; `lab check` passes. Root.
 */
import assert from 'node:assert/strict';
import type { Family } from '../../sdk/src/families.ts';
import { kernelRoutes, nodeKrouterRoutes, routerRoutes } from '../lab/bgp-inspect.ts';
import { nodeNetns, routerOriginated, routerUnderlay } from '../lab/config.ts';
import { labCli, labForSuite, until } from '../lab/testing.ts';

describe('router e2e: FRR as the external router (dual, 3 nodes)', function () {
  this.timeout(300_000);
  const lab = labForSuite('krlab-router-frr-', ['--family', 'dual', '--nodes', '3', '--router', 'frr'], { demoWorkloads: true });

  it("FRR receives every node's pod CIDR per family from that node only, next hop the node's own address", async function () {
    for (const f of lab.fams) {
      const want = lab.nodes.map((n) => `${n.podCidrs[f]} from ${n.addresses[f]} via ${n.addresses[f]}`).sort();
      // `up` waited for the nodes' routes, not for FRR's table: give it the moment it needs.
      const got = await until(`FRR ${f} table`, () => {
        const learned = routerRoutes(lab.spec, f).filter((r) => r.fromBgp).map((r) => `${r.prefix} from ${r.source} via ${r.nextHop}`).sort();
        return learned.length >= want.length ? learned : undefined;
      });
      assert.deepEqual(got, want, `FRR ${f} routes learned over BGP`);
    }
  });

  it("FRR's originated prefix is installed on every node, its default route is not", function () {
    const originated = routerOriginated(lab.spec);
    const router = routerUnderlay(lab.spec);
    for (const f of lab.fams) {
      // FRR does originate a default route: the nodes must refuse it.
      assert.ok(routerRoutes(lab.spec, f).some((r) => !r.fromBgp && /^(0\.0\.0\.0|::)\/0$/.test(r.prefix)), `FRR originates a ${f} default route`);
      for (const node of lab.nodes) {
        const routes = nodeKrouterRoutes(node.name, f);
        assert.ok(routes.some((r) => r.dst === originated[f] && r.gateway === router[f]), `${node.name}: ${originated[f]} via ${router[f]}: ${JSON.stringify(routes)}`);
        assert.deepEqual(routes.filter((r) => r.dst === 'default'), [], `${node.name}: no ${f} default route from krouter`);
        const defaults = kernelRoutes(nodeNetns(node.name), f).filter((r) => r.dst === 'default');
        assert.equal(defaults.length, 1, `${node.name}: only the lab's static ${f} default route`);
      }
    }
  });

  it('`lab check` passes: cross-node pod to pod TCP and UDP over every family', function () {
    const res = JSON.parse(labCli(lab.stateDir, ['check', '--json'])) as { ok: boolean; rows: Array<{ kind: string; family: Family; proto: string; result: string }> };
    assert.equal(res.ok, true);
    for (const f of lab.fams) {
      for (const proto of ['tcp', 'udp']) {
        const rows = res.rows.filter((r) => r.kind === 'cross-node' && r.family === f && r.proto === proto);
        assert.equal(rows.length, 24, `cross-node ${f}/${proto} probes`);
        assert.ok(rows.every((r) => r.result === 'ok'));
      }
    }
  });
});
