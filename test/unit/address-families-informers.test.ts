import assert from 'node:assert/strict';
import { AddressFamilies, Informers } from '@krouter/sdk';
import { MemoryLogger, MemoryMetrics, FakeHealth } from '@krouter/sdk/testing';
import { configSchema } from '../../core/config/schema.ts';
import { createAgentServices } from '../../core/container.ts';
import { resourceByKind, startApiServer, type ApiServer } from '../helpers/fake-apiserver/index.ts';

/**
 * `families: auto` through the real container: the address-family service
 * reads this node from the informers service, which lists it from the lab
 * API server on loopback.
 */
describe('address families from the Node object (container + informers + scripted API server)', function () {
  this.timeout(30_000);
  let api: ApiServer;

  before(async () => {
    api = await startApiServer();
    const nodes = resourceByKind('Node')!;
    api.store.create(nodes, undefined, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'v6-node', annotations: { 'kube-router.io/pod-cidrs': 'fd00:70::/64' } },
      status: { addresses: [{ type: 'InternalIP', address: 'fd00::70' }, { type: 'Hostname', address: 'v6-node' }] },
    });
  });
  after(async () => api.close());

  async function agentServices(nodeName: string, families: string) {
    const config = { ...configSchema.parse({ families, kubernetes: { master: api.url } }), nodeName };
    const services = createAgentServices({ config, logger: new MemoryLogger(), metrics: new MemoryMetrics(), health: new FakeHealth() });
    await services.load([AddressFamilies]);
    return services;
  }

  it('auto: enables the families of the node InternalIPs once settled, and reads the local node', async () => {
    const services = await agentServices('v6-node', 'auto');
    try {
      const af = services.resolve(AddressFamilies);
      assert.deepEqual(services.createdServices(), ['address-families'], 'no watch before the node is needed');
      await services.settle();
      assert.deepEqual(af.enabled, ['ipv6']);
      const local = af.localNode();
      assert.deepEqual(local.podCIDRs, { ipv4: [], ipv6: ['fd00:70::/64'] });
      assert.equal(local.primaryIP.ipv6, 'fd00::70');
      assert.deepEqual(services.createdServices(), ['address-families', 'informers']);
    } finally {
      await services.close();
    }
  });

  it('auto: keeps both families while the node is unknown', async () => {
    const services = await agentServices('no-such-node', 'auto');
    try {
      const af = services.resolve(AddressFamilies);
      await services.settle();
      assert.deepEqual(af.enabled, ['ipv4', 'ipv6']);
      assert.throws(() => af.localNode(), /node no-such-node is not in the node cache/);
      assert.equal(services.resolve(Informers).nodes.list().length, 1);
    } finally {
      await services.close();
    }
  });
});
