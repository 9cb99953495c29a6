import assert from 'node:assert/strict';
import { AddressError, type Informers, type V1Node } from '@krouter/sdk';
import { FakeInformers } from '@krouter/sdk/testing';
import { AddressFamiliesService, familiesOfMode, nodeFamilies } from '../../core/services/address-families.ts';

function node(name: string, opts: { addresses?: Array<[string, string]>; podCIDRs?: string[]; podCIDR?: string; annotation?: string }): V1Node {
  return {
    metadata: { name, annotations: opts.annotation !== undefined ? { 'kube-router.io/pod-cidrs': opts.annotation } : {} },
    spec: { podCIDRs: opts.podCIDRs, podCIDR: opts.podCIDR },
    status: { addresses: (opts.addresses ?? []).map(([type, address]) => ({ type, address })) },
  };
}

const dualNode = node('n1', {
  addresses: [
    ['Hostname', 'n1'],
    ['ExternalIP', '198.19.0.1'],
    ['InternalIP', '198.18.0.1'],
    ['InternalIP', 'fd00::1'],
    ['InternalIP', '198.18.0.2'],
  ],
  podCIDRs: ['198.18.64.0/24', 'fd00:64::/64'],
});

/** An Informers whose node cache holds `nodes`; counts accesses to `nodes`. */
function informersWith(nodes: V1Node[]): { get: () => Informers; accesses: () => number } {
  const fake = new FakeInformers();
  for (const n of nodes) fake.nodes.add(n);
  let accesses = 0;
  return {
    get: () => {
      accesses++;
      return fake as unknown as Informers;
    },
    accesses: () => accesses,
  };
}

describe('address families', () => {
  it('enables the families of the configured mode', () => {
    assert.deepEqual(familiesOfMode('dual'), ['ipv4', 'ipv6']);
    assert.deepEqual(new AddressFamiliesService({ mode: 'ipv6', nodeName: 'n1' }).enabled, ['ipv6']);
    const v4 = new AddressFamiliesService({ mode: 'ipv4', nodeName: 'n1' });
    assert.equal(v4.isEnabled('ipv4'), true);
    assert.equal(v4.isEnabled('ipv6'), false);
  });

  it('auto: takes the families of the node InternalIPs, both until the node is known', () => {
    assert.deepEqual(nodeFamilies(node('a', { addresses: [['InternalIP', 'fd00::5'], ['ExternalIP', '198.19.0.1']] })), ['ipv6']);
    assert.deepEqual(nodeFamilies(node('b', { addresses: [['ExternalIP', '198.19.0.1']] })), ['ipv4']);
    assert.deepEqual(nodeFamilies(dualNode), ['ipv4', 'ipv6']);

    const unknown = new AddressFamiliesService({ mode: 'auto', nodeName: 'n1', informers: informersWith([]).get });
    assert.deepEqual(unknown.enabled, ['ipv4', 'ipv6']);

    const v6only = node('n1', { addresses: [['InternalIP', 'fd00::1']] });
    const svc = new AddressFamiliesService({ mode: 'auto', nodeName: 'n1', informers: informersWith([v6only]).get });
    assert.deepEqual(svc.enabled, ['ipv6']);
    assert.equal(svc.isEnabled('ipv4'), false);
  });

  it('starts no watch unless the node is needed', () => {
    const informers = informersWith([dualNode]);
    const svc = new AddressFamiliesService({ mode: 'dual', nodeName: 'n1', informers: informers.get });
    svc.validateIP('198.18.0.1');
    svc.split(['198.18.0.1']);
    assert.equal(informers.accesses(), 0);
    svc.localNode();
    assert.equal(informers.accesses(), 1);
  });

  it('validates addresses and prefixes against the enabled families', () => {
    const svc = new AddressFamiliesService({ mode: 'ipv4', nodeName: 'n1' });
    assert.equal(svc.validateCidr('198.18.0.0/16').text, '198.18.0.0/16');
    assert.equal(svc.validateIP('198.18.0.1'), '198.18.0.1');
    assert.throws(() => svc.validateCidr('fd00::/64'), (e: unknown) => e instanceof AddressError && /"fd00::\/64": family ipv6 is not enabled on this node \(enabled: ipv4\)/.test(e.message));
    assert.throws(() => svc.validateIP('fd00::1'), /family ipv6 is not enabled on this node/);
    assert.throws(() => svc.validateIP('198.18.0.1', 'ipv6'), /"198.18.0.1": is ipv4, expected ipv6/);
    assert.throws(() => svc.validateCidr('198.18.0.1/16'), /host bits set/);
    assert.throws(() => svc.validateIP('198.18.0.300'), /not an IP address/);
    assert.equal(svc.familyOf('fd00::/8'), 'ipv6', 'familyOf answers for every family, enabled or not');
  });

  it('splits lists by family, setting disabled families and garbage aside', () => {
    const svc = new AddressFamiliesService({ mode: 'ipv6', nodeName: 'n1' });
    assert.deepEqual(svc.split(['198.18.0.1', 'fd00::1', 'nope', 'fd00:1::/64']), {
      ipv4: [],
      ipv6: ['fd00::1', 'fd00:1::/64'],
      invalid: ['nope'],
      ignored: ['198.18.0.1'],
    });
  });

  it('reads a dual-stack node: InternalIP before ExternalIP, primary per family, spec.podCIDRs', () => {
    const svc = new AddressFamiliesService({ mode: 'dual', nodeName: 'n1' });
    const net = svc.nodeNetwork(dualNode);
    assert.deepEqual(net.ips, { ipv4: ['198.18.0.1', '198.18.0.2', '198.19.0.1'], ipv6: ['fd00::1'] });
    assert.deepEqual(net.primaryIP, { ipv4: '198.18.0.1', ipv6: 'fd00::1' });
    assert.deepEqual(net.podCIDRs, { ipv4: ['198.18.64.0/24'], ipv6: ['fd00:64::/64'] });
    assert.deepEqual(net.errors, []);
  });

  it('falls back to the kube-router.io/pod-cidrs annotation, then spec.podCIDR', () => {
    const svc = new AddressFamiliesService({ mode: 'dual', nodeName: 'n1' });
    const annotated = node('n2', { annotation: '198.18.65.0/24, fd00:65::/64', podCIDR: '198.18.99.0/24' });
    assert.deepEqual(svc.nodeNetwork(annotated).podCIDRs, { ipv4: ['198.18.65.0/24'], ipv6: ['fd00:65::/64'] });
    const legacy = node('n3', { podCIDR: '198.18.66.0/24' });
    assert.deepEqual(svc.nodeNetwork(legacy).podCIDRs, { ipv4: ['198.18.66.0/24'], ipv6: [] });
    const spec = node('n4', { podCIDRs: ['fd00:67::/64'], annotation: '198.18.67.0/24' });
    assert.deepEqual(svc.nodeNetwork(spec).podCIDRs, { ipv4: [], ipv6: ['fd00:67::/64'] }, 'spec.podCIDRs wins over the annotation');
  });

  it('records bad and wrong-family pod CIDRs naming node and field, and keeps the good ones', () => {
    const svc = new AddressFamiliesService({ mode: 'ipv4', nodeName: 'n1' });
    const n = node('n5', { podCIDRs: ['198.18.68.0/24', 'fd00:68::/64'], addresses: [['InternalIP', 'bogus'], ['InternalIP', '198.18.0.5']] });
    const net = svc.nodeNetwork(n);
    assert.deepEqual(net.podCIDRs, { ipv4: ['198.18.68.0/24'], ipv6: [] });
    assert.deepEqual(net.ips.ipv4, ['198.18.0.5']);
    assert.equal(net.errors.length, 2, net.errors.join('\n'));
    assert.ok(net.errors.some((e) => e.includes('n5') && e.includes('spec.podCIDRs[1]') && e.includes('fd00:68::/64')), net.errors.join('\n'));
    assert.ok(net.errors.some((e) => e.includes('n5') && e.includes('status.addresses[0]') && e.includes('bogus')), net.errors.join('\n'));

    const annotated = svc.nodeNetwork(node('n6', { annotation: '198.18.69.0/33' }));
    assert.deepEqual(annotated.podCIDRs, { ipv4: [], ipv6: [] });
    assert.equal(annotated.errors.length, 1);
    assert.ok(annotated.errors[0]!.includes('n6') && annotated.errors[0]!.includes('kube-router.io/pod-cidrs'), annotated.errors[0]);
  });

  it('reads the local node from the informer cache and says when it is not there', () => {
    const svc = new AddressFamiliesService({ mode: 'auto', nodeName: 'n1', informers: informersWith([dualNode]).get });
    assert.equal(svc.localNode().primaryIP.ipv6, 'fd00::1');
    const missing = new AddressFamiliesService({ mode: 'dual', nodeName: 'ghost', informers: informersWith([dualNode]).get });
    assert.throws(() => missing.localNode(), /node ghost is not in the node cache/);
    assert.throws(() => new AddressFamiliesService({ mode: 'dual', nodeName: 'x' }).localNode(), /no Kubernetes informers/);
  });
});
