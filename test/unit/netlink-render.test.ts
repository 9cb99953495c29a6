import assert from 'node:assert/strict';
import type { NetlinkOp } from '@krouter/sdk';
import { OpValidationError, renderOp } from '../../core/services/netlink/render.ts';

const line = (op: NetlinkOp) => renderOp(op).line;
const refused = (op: NetlinkOp, re: RegExp) =>
  assert.throws(() => renderOp(op), (e: unknown) => e instanceof OpValidationError && re.test(e.message), `expected ${re} for ${JSON.stringify(op)}`);

describe('netlink render', () => {
  it('renders routes of both families with krouter protocol by default', () => {
    assert.equal(line({ op: 'route.replace', route: { dst: '198.18.1.0/24', via: '198.18.0.2' } }), 'route replace 198.18.1.0/24 via 198.18.0.2 proto 201');
    assert.equal(line({ op: 'route.replace', route: { dst: 'fd00:1::/64', via: 'fd00::2' } }), 'route replace fd00:1::/64 via fd00::2 proto 201');
    assert.equal(
      line({ op: 'route.replace', route: { dst: '198.18.1.0/24', via: '198.18.0.2', dev: 'eth0', onlink: true, table: 100, metric: 10, src: '198.18.0.1', mtu: 1400, protocol: 4 } }),
      'route replace 198.18.1.0/24 via 198.18.0.2 dev eth0 onlink table 100 metric 10 proto 4 src 198.18.0.1 mtu 1400',
    );
    assert.equal(line({ op: 'route.delete', route: { dst: 'fd00:0:0::/64', type: 'blackhole' } }), 'route delete blackhole fd00::/64 proto 201');
    assert.equal(line({ op: 'route.replace', route: { dst: '0.0.0.0/0', via: '198.18.0.1' } }), 'route replace 0.0.0.0/0 via 198.18.0.1 proto 201');
    assert.equal(line({ op: 'route.replace', route: { dst: '::/0', type: 'unreachable' } }), 'route replace unreachable ::/0 proto 201');
  });

  it('rejects a gateway or source of the other family, naming the route', () => {
    refused({ op: 'route.replace', route: { dst: 'fd00:1::/64', via: '198.18.0.1' } }, /route fd00:1::\/64 via 198\.18\.0\.1.*is ipv4 but the destination is ipv6/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', via: 'fd00::1' } }, /route 198\.18\.1\.0\/24.*is ipv6 but the destination is ipv4/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', dev: 'eth0', src: 'fd00::1' } }, /source fd00::1 is ipv6/);
  });

  it('rejects malformed routes with the route named', () => {
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/33', dev: 'eth0' } }, /^route 198\.18\.1\.0\/33 dev eth0: invalid destination .*prefix length/);
    refused({ op: 'route.replace', route: { dst: 'default', dev: 'eth0' } }, /not a CIDR/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.1/24', dev: 'eth0' } }, /host bits set/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', via: 'bogus' } }, /^route 198\.18\.1\.0\/24 via bogus: invalid gateway "bogus": not an IP address/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24' } }, /needs a gateway or a device/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', dev: 'eth0', table: 0 } }, /^route 198\.18\.1\.0\/24 dev eth0 table 0: invalid table 0/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', dev: 'eth0', protocol: 300 } }, /protocol/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', dev: 'bad name' } }, /^route 198\.18\.1\.0\/24 dev bad name: invalid device/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', type: 'blackhole', via: '198.18.0.1' } }, /cannot have a gateway/);
    refused({ op: 'route.replace', route: { dst: '198.18.1.0/24', dev: 'eth0', type: 'nat' as 'local' } }, /unknown route type/);
  });

  it('renders addresses, keeping host bits and adding nodad for IPv6 only', () => {
    assert.equal(line({ op: 'addr.replace', dev: 'eth0', cidr: '198.18.0.1/24', noDad: true }), 'address replace 198.18.0.1/24 dev eth0');
    assert.equal(line({ op: 'addr.replace', dev: 'eth0', cidr: 'fd00:0::1/64', noDad: true }), 'address replace fd00::1/64 dev eth0 nodad');
    assert.equal(line({ op: 'addr.delete', dev: 'eth0', cidr: 'fd00::1/64' }), 'address delete fd00::1/64 dev eth0');
    refused({ op: 'addr.replace', dev: 'eth0', cidr: '198.18.0.1' }, /address on eth0/);
    refused({ op: 'addr.replace', dev: 'eth0', cidr: '198.18.0.1/40' }, /prefix length/);
    refused({ op: 'addr.replace', dev: 'this-name-is-too-long', cidr: '198.18.0.1/24' }, /invalid device/);
  });

  it('renders links', () => {
    assert.equal(line({ op: 'link.bridge', name: 'kube-bridge', mtu: 1450 }), 'link add name kube-bridge mtu 1450 type bridge');
    assert.equal(line({ op: 'link.veth', name: 'va', peer: 'vb' }), 'link add name va type veth peer name vb');
    assert.equal(
      line({ op: 'link.vxlan', name: 'vx0', vni: 42, dev: 'eth0', local: 'fd00::1', learning: false }),
      'link add name vx0 type vxlan id 42 dev eth0 local fd00::1 dstport 4789 nolearning',
    );
    assert.equal(line({ op: 'link.set', name: 'va', up: true, mtu: 1400, master: 'kube-bridge' }), 'link set dev va up mtu 1400 master kube-bridge');
    assert.equal(line({ op: 'link.set', name: 'va', master: null }), 'link set dev va nomaster');
    assert.equal(line({ op: 'link.delete', name: 'va' }), 'link delete dev va');
    refused({ op: 'link.set', name: 'va' }, /nothing to set/);
    refused({ op: 'link.bridge', name: '-help' }, /invalid link name/);
    refused({ op: 'link.bridge', name: 'a/b' }, /invalid link name/);
    refused({ op: 'link.vxlan', name: 'vx0', vni: 1 << 24 }, /vni of vx0/);
    refused({ op: 'link.bridge', name: 'br0', mtu: 10 }, /mtu of br0/);
  });

  it('renders a link MAC (lower case) on link.bridge and link.set, refusing a malformed or group MAC naming the link', () => {
    assert.equal(line({ op: 'link.bridge', name: 'kube-bridge', mtu: 1450, mac: '02:AB:cd:00:00:01' }), 'link add name kube-bridge address 02:ab:cd:00:00:01 mtu 1450 type bridge');
    assert.equal(line({ op: 'link.set', name: 'kube-bridge', up: true, mac: '02:ab:cd:00:00:01', mtu: 1450 }), 'link set dev kube-bridge up address 02:ab:cd:00:00:01 mtu 1450');
    assert.equal(line({ op: 'link.set', name: 'kube-bridge', mac: '0a:00:00:00:00:01' }), 'link set dev kube-bridge address 0a:00:00:00:00:01');
    refused({ op: 'link.bridge', name: 'br0', mac: '02:ab:cd:00:00' }, /^invalid MAC of br0 "02:ab:cd:00:00": not a MAC address/);
    refused({ op: 'link.set', name: 'br1', mac: '02-ab-cd-00-00-01' }, /^invalid MAC of br1 .*not a MAC address/);
    refused({ op: 'link.set', name: 'br1', mac: '02:ab:cd:00:00:0g' }, /invalid MAC of br1/);
    refused({ op: 'link.set', name: 'br1', mac: '01:00:5e:00:00:01' }, /invalid MAC of br1 .*multicast/);
    refused({ op: 'link.set', name: 'br1', mac: 'ff:ff:ff:ff:ff:ff' }, /invalid MAC of br1 .*multicast/);
    refused({ op: 'link.set', name: 'br1', mac: '00:00:00:00:00:00' }, /invalid MAC of br1 .*all-zero/);
    refused({ op: 'link.set', name: 'br1', mac: 42 as unknown as string }, /invalid MAC of br1 "42"/);
  });

  it('marks ops whose failure makes ip exit', () => {
    assert.equal(renderOp({ op: 'link.set', name: 'va', master: 'br0' }).fatalOnError, true);
    assert.equal(renderOp({ op: 'link.vxlan', name: 'vx0', vni: 1, dev: 'eth0' }).fatalOnError, true);
    assert.equal(renderOp({ op: 'link.set', name: 'va', up: true }).fatalOnError, false);
  });

  it('renders rules per family on separate channels', () => {
    const v4 = renderOp({ op: 'rule.add', rule: { family: 'ipv4', priority: 100, from: '198.18.0.0/24', fwmark: 16, table: 100 } });
    assert.deepEqual(v4, { line: 'rule add priority 100 from 198.18.0.0/24 fwmark 0x10 table 100', channel: 'main', fatalOnError: false });
    const v6 = renderOp({ op: 'rule.delete', rule: { family: 'ipv6', priority: 100, to: 'fd00::/64', table: 100 } });
    assert.deepEqual(v6, { line: 'rule delete priority 100 to fd00::/64 table 100', channel: 'ipv6', fatalOnError: false });
    refused({ op: 'rule.add', rule: { family: 'ipv4', priority: 1, from: 'fd00::/64', table: 1 } }, /is ipv6 but the rule is ipv4/);
    refused({ op: 'rule.add', rule: { family: 'ipv5' as 'ipv4', priority: 1, table: 1 } }, /unknown family/);
  });

  it('refuses unknown ops', () => {
    refused({ op: 'route.flush' } as unknown as NetlinkOp, /unknown op "route.flush"/);
  });
});

describe('netlink render: extended next hop (RFC 8950)', () => {
  it('renders an IPv4 route via an IPv6 gateway only when asked for', () => {
    assert.equal(
      line({ op: 'route.replace', route: { dst: '198.19.1.0/24', via: 'fd00:18::c', extendedNexthop: true } }),
      'route replace 198.19.1.0/24 via inet6 fd00:18::c proto 201',
    );
    refused({ op: 'route.replace', route: { dst: '198.19.1.0/24', via: 'fd00:18::c' } }, /is ipv6 but the destination is ipv4/);
    refused({ op: 'route.replace', route: { dst: 'fd00:19::/64', via: '198.18.0.12', extendedNexthop: true } }, /is ipv4 but the destination is ipv6/);
  });
});
