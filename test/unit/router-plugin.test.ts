import assert from 'node:assert/strict';
import type { Family } from '@krouter/sdk';
import {
  createTestContext,
  FakeAddressFamilies,
  FakeGobgp,
  FakeInformers,
  FakeNetlink,
  makeNode,
} from '@krouter/sdk/testing';
import router from '../../plugins/router/index.ts';
import { routerConfigSchema } from '../../plugins/router/config.ts';

type Mode = { name: string; families: Family[] };
const MODES: Mode[] = [
  { name: 'ipv4', families: ['ipv4'] },
  { name: 'ipv6', families: ['ipv6'] },
  { name: 'dual', families: ['ipv4', 'ipv6'] },
];

function clusterNode(i: number, families: Family[], annotations?: Record<string, string>) {
  const ips = families.map((f) => (f === 'ipv4' ? `198.18.0.${10 + i}` : `fd00:18::${(10 + i).toString(16)}`));
  const cidrs = families.map((f) => (f === 'ipv4' ? `198.19.${i}.0/24` : `fd00:19:0:${i}::/64`));
  return makeNode(`node-${i}`, { internalIPs: ips, podCIDRs: cidrs, annotations });
}

async function startRouter(families: Family[], config: Record<string, unknown> = {}) {
  const informers = new FakeInformers();
  for (const i of [1, 2, 3]) informers.nodes.add(clusterNode(i, families));
  const af = new FakeAddressFamilies({ enabled: families, nodeName: 'node-1', nodes: informers.nodes });
  const bgp = new FakeGobgp();
  const netlink = new FakeNetlink({
    links: [{ name: 'eth0', up: true }],
    addresses: [
      ...(families.includes('ipv4') ? [{ dev: 'eth0', family: 'ipv4' as const, cidr: '198.18.0.11/24' }] : []),
      ...(families.includes('ipv6') ? [{ dev: 'eth0', family: 'ipv6' as const, cidr: 'fd00:18::b/64' }] : []),
    ],
  });
  const parsed = routerConfigSchema.parse({ enabled: true, ...config });
  const t = createTestContext(parsed, { name: 'router', nodeName: 'node-1' });
  const instance = await router.start(t.ctx, { families: af, bgp, netlink, informers });
  return { informers, bgp, netlink, instance, t };
}

/** Polls a condition without timing assertions: the mocha timeout is the only limit. */
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 20));
}

describe('router plugin (test doubles)', () => {
  for (const mode of MODES) {
    describe(`${mode.name} cluster`, () => {
      it('advertises exactly its pod CIDRs, each with a next hop of its family, and meshes per family', async () => {
        const { bgp, instance } = await startRouter(mode.families);
        try {
          const paths = [...bgp.paths.values()].map((p) => [p.family, p.prefix, p.nextHop]);
          const want = mode.families.map((f) =>
            f === 'ipv4' ? ['ipv4', '198.19.1.0/24', '198.18.0.11'] : ['ipv6', 'fd00:19:0:1::/64', 'fd00:18::b'],
          );
          assert.deepEqual(paths, want);
          const peers = [...bgp.peers.values()].map((p) => `${p.address} ${p.families.join('+')}`).sort();
          const expected = [2, 3].flatMap((i) =>
            mode.families.map((f) => (f === 'ipv4' ? `198.18.0.${10 + i} ipv4` : `fd00:18::${(10 + i).toString(16)} ipv6`)),
          );
          assert.deepEqual(peers, expected.sort());
          for (const f of mode.families) {
            const rib = await bgp.listPaths(f);
            assert.ok(rib.every((r) => r.family === f && !r.prefix.includes(f === 'ipv4' ? ':' : '.')));
          }
        } finally {
          await instance.stop();
        }
      });

      it('installs learned pod routes per family and removes them on withdrawal', async () => {
        const { bgp, netlink, instance } = await startRouter(mode.families);
        try {
          for (const f of mode.families) {
            bgp.injectRoute(
              f === 'ipv4'
                ? { prefix: '198.19.2.0/24', nextHop: '198.18.0.12', source: '198.18.0.12' }
                : { prefix: 'fd00:19:0:2::/64', nextHop: 'fd00:18::c', source: 'fd00:18::c' },
            );
          }
          // A default route from a peer is never installed.
          bgp.injectRoute(
            mode.families.includes('ipv4')
              ? { prefix: '0.0.0.0/0', nextHop: '198.18.0.12', source: '198.18.0.12' }
              : { prefix: '::/0', nextHop: 'fd00:18::c', source: 'fd00:18::c' },
          );
          await until(() => netlink.routes.length === mode.families.length);
          for (const f of mode.families) {
            const routes = await netlink.listRoutes({ family: f });
            assert.deepEqual(
              routes.map((r) => [r.dst, r.via]),
              [f === 'ipv4' ? ['198.19.2.0/24', '198.18.0.12'] : ['fd00:19:0:2::/64', 'fd00:18::c']],
            );
          }
          bgp.injectRoute(
            mode.families.includes('ipv4')
              ? { prefix: '198.19.2.0/24', nextHop: '198.18.0.12', source: '198.18.0.12', withdrawal: true }
              : { prefix: 'fd00:19:0:2::/64', nextHop: 'fd00:18::c', source: 'fd00:18::c', withdrawal: true },
          );
          await until(() => netlink.routes.length === mode.families.length - 1);
        } finally {
          await instance.stop();
        }
      });

      it('drops the peers of a deleted node', async () => {
        const { bgp, informers, instance } = await startRouter(mode.families);
        try {
          informers.nodes.delete('node-3');
          await until(() => bgp.peers.size === mode.families.length);
          assert.ok([...bgp.peers.keys()].every((a) => a.endsWith('.12') || a.endsWith('::c')));
        } finally {
          await instance.stop();
        }
      });
    });
  }

  it("puts the event about another node's malformed ASN annotation on that node, not on its own", async () => {
    const { informers, instance } = await startRouter(['ipv4', 'ipv6']);
    try {
      informers.nodes.update(clusterNode(2, ['ipv4', 'ipv6'], { 'kube-router.io/node.asn': 'sixty-five-thousand' }));
      await until(() => informers.api.events.some((e) => e.reason === 'RouterConfigError'));
      const events = informers.api.events.filter((e) => e.reason === 'RouterConfigError');
      assert.deepEqual(events.map((e) => [e.ref.kind, e.ref.name, e.type]), [['Node', 'node-2', 'Warning']]);
      assert.match(events[0]!.message, /node node-2: annotation kube-router\.io\/node\.asn: ASN "sixty-five-thousand"/);
    } finally {
      await instance.stop();
    }
  });

  it('names a bad peer annotation in an event and keeps every other peer', async () => {
    const { bgp, informers, instance, t } = await startRouter(['ipv4', 'ipv6'], {
      peerRouters: [{ address: '198.18.0.254', asn: 64513 }],
    });
    try {
      const n1 = clusterNode(1, ['ipv4', 'ipv6'], { 'kube-router.io/peers': '- remoteip: fd00:18::fe\n  remoteasn: 70000000000\n' });
      informers.nodes.update(n1);
      await until(() => informers.api.events.some((e) => e.reason === 'RouterConfigError'));
      const event = informers.api.events.find((e) => e.reason === 'RouterConfigError')!;
      assert.match(event.message, /node node-1: annotation kube-router\.io\/peers: entry 0 \(fd00:18::fe\): remoteasn/);
      assert.ok(bgp.peers.has('198.18.0.254'));
      assert.equal(bgp.peers.size, 5);
      assert.ok(t.logger.lines.some((l) => l.level === 'error' && /remoteasn/.test(l.message)));
    } finally {
      await instance.stop();
    }
  });
});
