import assert from 'node:assert/strict';
import { FakeNetlink } from '@krouter/sdk/testing';

describe('FakeNetlink', () => {
  it('applies ops in order, reports failing ops by index and applies the rest', async () => {
    const nl = new FakeNetlink({ links: [{ name: 'eth0', up: true }] });
    const res = await nl.apply([
      { op: 'link.bridge', name: 'br0' },
      { op: 'link.set', name: 'br0', up: true, mtu: 1400 },
      { op: 'addr.replace', dev: 'br0', cidr: '198.18.1.1/24' },
      { op: 'route.replace', route: { dst: '198.18.2.0/24', via: 'fd00::1' } },
      { op: 'route.replace', route: { dst: 'fd00:2::/64', via: 'fd00::1', dev: 'eth0' } },
      { op: 'route.replace', route: { dst: '198.18.3.1/24', dev: 'eth0' } },
      { op: 'addr.replace', dev: 'missing0', cidr: 'fd00::1/64' },
    ]);
    assert.equal(res.ok, false);
    assert.deepEqual(res.errors.map((e) => e.index), [3, 5, 6]);
    assert.match(res.errors[0]!.message, /via fd00::1 is ipv6 but dst 198\.18\.2\.0\/24 is ipv4/);
    assert.match(res.errors[1]!.message, /host bits/);
    assert.match(res.errors[2]!.message, /Cannot find device "missing0"/);
    assert.deepEqual(await nl.getLink('br0'), { name: 'br0', index: 3, kind: 'bridge', mtu: 1400, up: true, mac: '02:fa:00:00:00:03' });
    assert.deepEqual(await nl.listAddresses('br0'), [{ dev: 'br0', family: 'ipv4', cidr: '198.18.1.1/24', scope: 'global' }]);
    const v6 = await nl.listRoutes({ family: 'ipv6' });
    assert.deepEqual(v6, [{ dst: 'fd00:2::/64', via: 'fd00::1', dev: 'eth0', protocol: 201 }]);
    assert.equal(nl.batches.length, 1);
    assert.equal(nl.batches[0]!.length, 7);
  });

  it('replaces routes by key, refuses duplicate links and missing deletes', async () => {
    const nl = new FakeNetlink({ links: [{ name: 'eth0' }] });
    await nl.apply([{ op: 'route.replace', route: { dst: '198.18.2.0/24', via: '198.18.0.1' } }]);
    await nl.apply([{ op: 'route.replace', route: { dst: '198.18.2.0/24', via: '198.18.0.2' } }]);
    assert.deepEqual((await nl.listRoutes({ family: 'ipv4' })).map((r) => r.via), ['198.18.0.2']);
    const r = await nl.apply([
      { op: 'link.bridge', name: 'eth0' },
      { op: 'route.delete', route: { dst: '198.18.9.0/24' } },
      { op: 'addr.delete', dev: 'eth0', cidr: '198.18.0.9/24' },
    ]);
    assert.equal(r.errors.length, 3);
    assert.match(r.errors[0]!.message, /File exists/);
  });

  it('deletes a link with its addresses, routes and veth peer', async () => {
    const nl = new FakeNetlink();
    await nl.apply([
      { op: 'link.veth', name: 'a0', peer: 'b0' },
      { op: 'addr.replace', dev: 'a0', cidr: 'fd00::1/64', noDad: true },
      { op: 'route.replace', route: { dst: 'fd00:9::/64', dev: 'a0' } },
      { op: 'link.delete', name: 'a0' },
    ]);
    assert.deepEqual([...nl.links.keys()], ['lo']);
    assert.deepEqual(nl.addresses, []);
    assert.deepEqual(nl.routes, []);
  });

  it('lends a bridge without a MAC of its own its lowest port MAC, as Linux does; a set MAC stays', async () => {
    const nl = new FakeNetlink();
    await nl.apply([
      { op: 'link.bridge', name: 'br0' },
      { op: 'link.bridge', name: 'br1', mac: '02:00:00:00:0B:01' },
      { op: 'link.veth', name: 'a0', peer: 'a1' },
      { op: 'link.veth', name: 'b0', peer: 'b1' },
      { op: 'link.set', name: 'a0', master: 'br0' },
      { op: 'link.set', name: 'b0', master: 'br0' },
    ]);
    const mac = async (name: string) => (await nl.getLink(name))!.mac;
    assert.equal(await mac('br1'), '02:00:00:00:0b:01', 'given at creation, lower case');
    assert.equal(await mac('br0'), await mac('a0'), 'lowest port MAC');
    await nl.apply([{ op: 'link.delete', name: 'a1' }]);
    assert.equal(await mac('br0'), await mac('b0'), 'follows the ports: the lowest one left');
    await nl.apply([{ op: 'link.set', name: 'b0', master: null }]);
    assert.equal(await mac('br0'), '00:00:00:00:00:00', 'no ports: all zeros');
    await nl.apply([
      { op: 'link.set', name: 'br0', mac: '02:00:00:00:0b:00' },
      { op: 'link.set', name: 'b0', master: 'br0' },
      { op: 'link.set', name: 'b0', master: null },
    ]);
    assert.equal(await mac('br0'), '02:00:00:00:0b:00', 'set explicitly: no longer follows the ports');
    for (const [name, m] of [['b0', 'not-a-mac'], ['br0', '01:00:5e:00:00:01']]) {
      const r = await nl.apply([{ op: 'link.set', name: name!, mac: m! }]);
      assert.equal(r.ok, false, `${m} refused`);
    }
    assert.equal((await nl.apply([{ op: 'link.bridge', name: 'br2', mac: 'zz' }])).ok, false);
    assert.equal(await nl.getLink('br2'), undefined);
  });

  it('has per-link sysctls only while the link exists', async () => {
    const nl = new FakeNetlink();
    await assert.rejects(nl.setSysctl('net.ipv6.conf.br0.accept_dad', 0), /No such file/);
    await assert.rejects(nl.getSysctl('net.bridge.bridge-nf-call-iptables'), /No such file/);
    await nl.apply([{ op: 'link.bridge', name: 'br0' }]);
    assert.equal(await nl.getSysctl('net.ipv6.conf.br0.accept_dad'), '1');
    await nl.setSysctl('net.ipv6.conf.br0.accept_dad', 0);
    assert.equal(await nl.getSysctl('net.ipv6.conf.br0.accept_dad'), '0');
    const withBrNf = new FakeNetlink({ sysctls: { 'net.bridge.bridge-nf-call-iptables': '0' } });
    await withBrNf.setSysctl('net.bridge.bridge-nf-call-iptables', 1);
    assert.equal(await withBrNf.getSysctl('net.bridge.bridge-nf-call-iptables'), '1');
  });

  it('adds and deletes rules, refusing duplicates', async () => {
    const nl = new FakeNetlink();
    const rule = { family: 'ipv6' as const, priority: 100, from: 'fd00::/64', table: 77 };
    assert.equal((await nl.apply([{ op: 'rule.add', rule }])).ok, true);
    assert.equal((await nl.apply([{ op: 'rule.add', rule }])).ok, false);
    assert.deepEqual(await nl.listRules('ipv6'), [rule]);
    assert.deepEqual(await nl.listRules('ipv4'), []);
    assert.equal((await nl.apply([{ op: 'rule.delete', rule }])).ok, true);
    assert.equal((await nl.apply([{ op: 'rule.delete', rule }])).ok, false);
  });
});
