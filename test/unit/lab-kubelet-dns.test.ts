import assert from 'node:assert/strict';
import { podResolvConf } from '../lab/kubelet/dns.ts';

const cluster = { nameserver: '198.18.0.1', domain: 'cluster.local' };

describe('lab kubelet: pod resolv.conf', () => {
  it('ClusterFirst (the default): the cluster DNS, the namespace search path, ndots:5', () => {
    assert.equal(
      podResolvConf({ metadata: { namespace: 'web' } }, cluster),
      'search web.svc.cluster.local svc.cluster.local cluster.local\nnameserver 198.18.0.1\noptions ndots:5\n',
    );
  });

  it("hostNetwork with ClusterFirst and Default keep the node's resolver; ClusterFirstWithHostNet gets the cluster's", () => {
    assert.equal(podResolvConf({ metadata: { namespace: 'a' }, spec: { hostNetwork: true } }, cluster), undefined);
    assert.equal(podResolvConf({ metadata: { namespace: 'a' }, spec: { dnsPolicy: 'Default' } }, cluster), undefined);
    assert.match(podResolvConf({ metadata: { namespace: 'a' }, spec: { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } }, cluster)!, /^nameserver 198\.18\.0\.1$/m);
  });

  it('dnsConfig adds nameservers and searches (no duplicates, resolv.conf limits) and overrides options by name', () => {
    const text = podResolvConf(
      {
        metadata: { namespace: 'a' },
        spec: { dnsConfig: { nameservers: ['fd00:18::1', '198.18.0.1', '198.18.0.9', '198.18.0.10'], searches: ['x.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } },
      },
      cluster,
    )!;
    assert.deepEqual(text.match(/^nameserver .*/gm), ['nameserver 198.18.0.1', 'nameserver fd00:18::1', 'nameserver 198.18.0.9']);
    assert.match(text, /^search a\.svc\.cluster\.local svc\.cluster\.local cluster\.local x\.example$/m);
    assert.match(text, /^options ndots:2 edns0$/m);
  });

  it('None: dnsConfig alone', () => {
    assert.equal(podResolvConf({ spec: { dnsPolicy: 'None', dnsConfig: { nameservers: ['198.18.0.53'] } } }, cluster), 'nameserver 198.18.0.53\n');
  });
});
