import assert from 'node:assert/strict';
import { readNodeNetwork } from '@krouter/sdk';
import { FakeAddressFamilies, FakeInformers, makeNode } from '@krouter/sdk/testing';

describe('readNodeNetwork', () => {
  it('reads InternalIP then ExternalIP per family, primary first', () => {
    const node = makeNode('n1', { internalIPs: ['fd00::5', '198.18.0.5'], externalIPs: ['198.19.0.5'], podCIDRs: ['198.18.8.0/24', 'fd00:8::/64'] });
    const nn = readNodeNetwork(node, ['ipv4', 'ipv6']);
    assert.deepEqual(nn.ips, { ipv4: ['198.18.0.5', '198.19.0.5'], ipv6: ['fd00::5'] });
    assert.deepEqual(nn.primaryIP, { ipv4: '198.18.0.5', ipv6: 'fd00::5' });
    assert.deepEqual(nn.podCIDRs, { ipv4: ['198.18.8.0/24'], ipv6: ['fd00:8::/64'] });
    assert.deepEqual(nn.errors, []);
  });

  it('prefers spec.podCIDRs, then the annotation, then spec.podCIDR', () => {
    const ann = { 'kube-router.io/pod-cidrs': '198.18.9.0/24, fd00:9::/64' };
    const a = readNodeNetwork(makeNode('n', { podCIDRs: ['198.18.8.0/24'], annotations: ann }), ['ipv4', 'ipv6']);
    assert.deepEqual(a.podCIDRs, { ipv4: ['198.18.8.0/24'], ipv6: [] });
    const b = readNodeNetwork(makeNode('n', { podCIDR: '198.18.7.0/24', annotations: ann }), ['ipv4', 'ipv6']);
    assert.deepEqual(b.podCIDRs, { ipv4: ['198.18.9.0/24'], ipv6: ['fd00:9::/64'] });
    const c = readNodeNetwork(makeNode('n', { podCIDR: '198.18.7.0/24' }), ['ipv4']);
    assert.deepEqual(c.podCIDRs, { ipv4: ['198.18.7.0/24'], ipv6: [] });
  });

  it('records malformed and disabled-family CIDRs with the node and field, keeping the good ones', () => {
    const nn = readNodeNetwork(makeNode('bad-node', { podCIDRs: ['198.18.8.0/33', 'fd00:8::/64', '198.18.9.1/24', '198.18.10.0/24'] }), ['ipv4']);
    assert.deepEqual(nn.podCIDRs, { ipv4: ['198.18.10.0/24'], ipv6: [] });
    assert.equal(nn.errors.length, 3);
    assert.match(nn.errors[0]!, /node "bad-node" spec\.podCIDRs\[0\] "198\.18\.8\.0\/33": prefix length/);
    assert.match(nn.errors[1]!, /node "bad-node" spec\.podCIDRs\[1\] "fd00:8::\/64": ipv6 is not an enabled family/);
    assert.match(nn.errors[2]!, /spec\.podCIDRs\[2\] "198\.18\.9\.1\/24": host bits set/);
  });

  it('names the annotation field and reports a bad address', () => {
    const node = makeNode('n2', { internalIPs: ['not-an-ip'], annotations: { 'kube-router.io/pod-cidrs': 'garbage' } });
    const nn = readNodeNetwork(node, ['ipv4', 'ipv6']);
    assert.equal(nn.errors.length, 2);
    assert.match(nn.errors.join('\n'), /status\.addresses\[0\] \(InternalIP\) "not-an-ip"/);
    assert.match(nn.errors.join('\n'), /metadata\.annotations\[kube-router\.io\/pod-cidrs\]\[0\] "garbage"/);
  });

  it('rejects a second CIDR of the same family', () => {
    const nn = readNodeNetwork(makeNode('n', { podCIDRs: ['198.18.8.0/24', '198.18.9.0/24'] }), ['ipv4']);
    assert.deepEqual(nn.podCIDRs.ipv4, ['198.18.8.0/24']);
    assert.match(nn.errors[0]!, /second ipv4 pod CIDR/);
  });
});

describe('FakeAddressFamilies', () => {
  it('answers per the enabled families and reads the local node from an informer', () => {
    const informers = new FakeInformers();
    const fam = new FakeAddressFamilies({ enabled: ['ipv6'], nodeName: 'me', nodes: informers.nodes });
    assert.deepEqual(fam.enabled, ['ipv6']);
    assert.throws(() => fam.validateCidr('198.18.0.0/24'), /ipv4 is not an enabled family/);
    assert.equal(fam.validateCidr('fd00::/64').text, 'fd00::/64');
    assert.deepEqual(fam.split(['198.18.0.1', 'fd00::1', 'x']), { ipv4: [], ipv6: ['fd00::1'], invalid: ['x'], ignored: ['198.18.0.1'] });
    assert.throws(() => fam.localNode(), /"me" is not known yet/);
    informers.nodes.add(makeNode('me', { podCIDRs: ['fd00:1::/64'] }));
    assert.deepEqual(fam.localNode().podCIDRs, { ipv4: [], ipv6: ['fd00:1::/64'] });
  });
});
