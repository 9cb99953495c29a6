import assert from 'node:assert/strict';
import { createTestContext, FakeAddressFamilies, FakeGobgp } from '@krouter/sdk/testing';
import plugin from '../src/index.ts';
import { peerTransitions, renderMetrics } from '../src/model.ts';

/** Validates a config section with the plugin's own schema, as the host does. */
async function configOf(section: unknown) {
  const result = await plugin.configSchema!['~standard'].validate(section);
  if (result.issues) throw new Error(result.issues.map((i) => `${(i.path ?? []).join('.')}: ${i.message}`).join('; '));
  return result.value;
}

describe('bgp-metrics model', () => {
  it('renders one established sample per peer and one RIB sample per family', () => {
    const m = renderMetrics({
      running: true,
      peers: [
        { address: '198.18.0.2', asn: 64513, state: 'established', families: { ipv4: { received: 3, accepted: 2, advertised: 1 } } },
        { address: 'fd00::2', asn: 64514, state: 'active', families: {} },
      ],
      ribRoutes: { ipv4: 4, ipv6: 0 },
    });
    assert.equal(m.running, 1);
    assert.deepEqual(m.peerEstablished, [
      { labels: { peer: '198.18.0.2', peer_asn: '64513' }, value: 1 },
      { labels: { peer: 'fd00::2', peer_asn: '64514' }, value: 0 },
    ]);
    assert.deepEqual(m.peerReceivedRoutes, [{ labels: { peer: '198.18.0.2', peer_asn: '64513', family: 'ipv4' }, value: 2 }]);
    assert.deepEqual(m.ribRoutes, [
      { labels: { family: 'ipv4' }, value: 4 },
      { labels: { family: 'ipv6' }, value: 0 },
    ]);
  });

  it('reports state changes, new peers and vanished peers', () => {
    const before = new Map([
      ['198.18.0.2', 'active' as const],
      ['fd00::2', 'established' as const],
    ]);
    const t = peerTransitions(before, [
      { address: '198.18.0.2', asn: 1, state: 'established', families: {} },
      { address: '198.18.0.3', asn: 1, state: 'idle', families: {} },
    ]);
    assert.deepEqual(t, [
      { address: '198.18.0.2', from: 'active', to: 'established' },
      { address: '198.18.0.3', from: 'absent', to: 'idle' },
      { address: 'fd00::2', from: 'established', to: 'absent' },
    ]);
  });
});

describe('bgp-metrics plugin', () => {
  it('rejects a bad config section naming the key', async () => {
    await assert.rejects(configOf({ intervalSeconds: 0 }), /intervalSeconds/);
    await assert.rejects(configOf({ startBgp: { asn: 64512, routerId: 'fd00::1' } }), /startBgp\.routerId/);
    await assert.rejects(configOf({ bogus: true }), /bogus/);
  });

  it('exports peer state and per-family RIB sizes, and follows peer changes', async () => {
    const bgp = new FakeGobgp();
    const families = new FakeAddressFamilies({ enabled: ['ipv4', 'ipv6'] });
    const config = await configOf({ intervalSeconds: 60, startBgp: { asn: 64512, routerId: '198.18.0.1' } });
    const { ctx, metrics, logger } = createTestContext(config, { name: 'bgp-metrics' });

    const instance = await plugin.start(ctx, { bgp, families });
    try {
      assert.equal(bgp.global?.asn, 64512, 'startBgp config starts BGP');
      assert.deepEqual(bgp.global?.families, ['ipv4', 'ipv6']);
      assert.equal(metrics.value('bgp_metrics_bgp_running'), 1);
      assert.equal(metrics.value('bgp_metrics_rib_routes', { family: 'ipv4' }), 0);

      await bgp.apply({
        global: bgp.global,
        peers: [{ address: '198.18.0.2', asn: 64513, families: ['ipv4', 'ipv6'] }],
        paths: [
          { prefix: '198.18.10.0/24', nextHop: '198.18.0.1' },
          { prefix: 'fd00:10::/64', nextHop: 'fd00::1' },
          { prefix: 'fd00:11::/64', nextHop: 'fd00::1' },
        ],
      });
      bgp.setPeerState('198.18.0.2', 'established');
      // Events only schedule a sync; wait for it as a test would wait for any reconciler.
      await waitFor(() => metrics.value('bgp_metrics_peer_established', { peer: '198.18.0.2', peer_asn: '64513' }) === 1);
      assert.equal(metrics.value('bgp_metrics_rib_routes', { family: 'ipv4' }), 1);
      assert.equal(metrics.value('bgp_metrics_rib_routes', { family: 'ipv6' }), 2);
      assert.equal(logger.find('BGP peer state changed').at(-1)?.fields?.to, 'established');

      const status = (await instance.status?.()) as { peers: Array<{ state: string }> };
      assert.equal(status.peers[0]?.state, 'established');
    } finally {
      await instance.stop();
    }
    assert.equal(bgp.listenerCount, 0, 'stop() unsubscribes from BGP events');
  });

  it('exports bgp_running 0 and starts nothing when BGP runs elsewhere and is down', async () => {
    const bgp = new FakeGobgp();
    const config = await configOf(undefined);
    const { ctx, metrics } = createTestContext(config, { name: 'bgp-metrics' });
    const instance = await plugin.start(ctx, { bgp, families: new FakeAddressFamilies() });
    try {
      assert.equal(bgp.global, undefined);
      assert.equal(metrics.value('bgp_metrics_bgp_running'), 0);
    } finally {
      await instance.stop();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
