import assert from 'node:assert/strict';
import type { BgpRoute, Family, RibTable } from '@krouter/sdk';
import { FakeGobgp, FakeNetlink, MemoryLogger } from '@krouter/sdk/testing';
import { routerConfigSchema } from '../../plugins/router/config.ts';
import { KernelRouteSync } from '../../plugins/router/kernel-routes.ts';

/** FakeGobgp that counts full RIB reads. */
class CountingGobgp extends FakeGobgp {
  reads = 0;
  override async listPaths(family: Family, table?: RibTable, peer?: string): Promise<BgpRoute[]> {
    this.reads++;
    return super.listPaths(family, table, peer);
  }
}

async function setup() {
  const bgp = new CountingGobgp();
  await bgp.apply({ global: { asn: 64512, routerId: '198.18.0.11', families: ['ipv4'] }, peers: [], paths: [] });
  const netlink = new FakeNetlink({ links: [{ name: 'eth0', up: true }], addresses: [{ dev: 'eth0', family: 'ipv4', cidr: '198.18.0.11/24' }] });
  const config = routerConfigSchema.parse({ enabled: true });
  const kernel = new KernelRouteSync(config, { bgp, netlink }, new MemoryLogger(), () => undefined);
  const unwatch = bgp.watch((e) => kernel.onBgpEvent(e));
  const own = { ipv4: ['198.19.1.0/24'], ipv6: [] };
  return { bgp, netlink, kernel, own, unwatch };
}

describe('router kernel routes', () => {
  it('reads the RIB at start, follows events after, and re-reads only when events may have been lost', async () => {
    const { bgp, netlink, kernel, own, unwatch } = await setup();
    try {
      await kernel.sync(['ipv4'], own, ['start']);
      const afterStart = bgp.reads;
      assert.ok(afterStart > 0, 'the first sync reads the RIB');

      bgp.injectRoute({ prefix: '198.19.2.0/24', nextHop: '198.18.0.12', source: '198.18.0.12' });
      await kernel.sync(['ipv4'], own, ['bgp-path']);
      assert.deepEqual((await netlink.listRoutes({ family: 'ipv4' })).map((r) => r.dst), ['198.19.2.0/24']);
      assert.equal(bgp.reads, afterStart, 'an event sync does not re-read the RIB');

      // A route removed by hand comes back on the periodic resync, still without a RIB read.
      await netlink.apply([{ op: 'route.delete', route: { dst: '198.19.2.0/24', via: '198.18.0.12' } }]);
      await kernel.sync(['ipv4'], own, ['resync']);
      assert.deepEqual((await netlink.listRoutes({ family: 'ipv4' })).map((r) => r.dst), ['198.19.2.0/24']);
      assert.equal(bgp.reads, afterStart, 'the resync repairs the kernel from the learned table');

      kernel.onBgpEvent({ type: 'watch-restarted' });
      await kernel.sync(['ipv4'], own, ['bgp-watch-restarted']);
      assert.ok(bgp.reads > afterStart, 'a broken event stream makes the next sync re-read the RIB');
    } finally {
      unwatch();
    }
  });

  it('reads the node addresses afresh on full and node syncs, and reuses a recent read for path events', async () => {
    const { bgp, netlink, kernel, own, unwatch } = await setup();
    let reads = 0;
    const list = netlink.listAddresses.bind(netlink);
    netlink.listAddresses = async (dev?: string) => {
      reads++;
      return list(dev);
    };
    try {
      await kernel.sync(['ipv4'], own, ['start']);
      assert.equal(reads, 1);
      for (let i = 0; i < 3; i++) {
        bgp.injectRoute({ prefix: `198.19.${10 + i}.0/24`, nextHop: '198.18.0.12', source: '198.18.0.12' });
        await kernel.sync(['ipv4'], own, ['bgp-path']);
      }
      assert.equal(reads, 1, 'path events within the freshness limit reuse the read');
      assert.equal((await netlink.listRoutes({ family: 'ipv4' })).length, 3);
      await kernel.sync(['ipv4'], own, ['node']);
      assert.equal(reads, 2, 'a node change reads again');
      await kernel.sync(['ipv4'], own, ['resync']);
      assert.equal(reads, 3, 'a full sync reads again');
    } finally {
      unwatch();
    }
  });
});
