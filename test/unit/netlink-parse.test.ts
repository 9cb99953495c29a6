import assert from 'node:assert/strict';
import {
  normaliseDst,
  parseAddresses,
  parseLinks,
  parseNameFile,
  parseRoutes,
  parseRules,
  resolveNumber,
  DEFAULT_PROTOCOL_NAMES,
} from '../../core/services/netlink/parse.ts';
import { sysctlPath } from '../../core/services/netlink/sysctl.ts';

// Shapes copied from iproute2 6.1 `ip -json` output.
describe('netlink parse', () => {
  it('parses routes: default, host routes, names or numbers (ip -N) for type, protocol and table; boot when left out', () => {
    const json = [
      { dst: 'default', gateway: '198.18.0.9', dev: 'v0', protocol: 'krouter', flags: [] },
      { dst: '198.18.5.0/24', gateway: '198.18.0.2', dev: 'v0', protocol: '201', prefsrc: '198.18.0.1', metric: 50, flags: ['onlink'], metrics: [{ mtu: 1400 }] },
      { type: 'blackhole', dst: '198.18.6.0/24', table: '100', protocol: 'boot', flags: [] },
      { dst: '198.18.0.7', dev: 'v0', protocol: 'kernel', scope: 'link', flags: [] },
      { type: 'local', dst: '127.0.0.1', dev: 'lo', table: 'local', protocol: 'kernel', flags: [] },
      { dst: '198.18.8.0/24', gateway: '198.18.0.2', dev: 'v0', flags: [] },
      { type: '6', dst: '198.18.9.0/24', table: '100', protocol: '4', flags: [] },
    ];
    assert.deepEqual(parseRoutes(json, { family: 'ipv4', protocolNames: DEFAULT_PROTOCOL_NAMES }), [
      { dst: '0.0.0.0/0', via: '198.18.0.9', dev: 'v0', protocol: 201 },
      { dst: '198.18.5.0/24', via: '198.18.0.2', dev: 'v0', metric: 50, protocol: 201, onlink: true, src: '198.18.0.1', mtu: 1400 },
      { dst: '198.18.6.0/24', type: 'blackhole', table: 100, protocol: 3 },
      { dst: '198.18.0.7/32', dev: 'v0', protocol: 2 },
      { dst: '127.0.0.1/32', type: 'local', dev: 'lo', table: 255, protocol: 2 },
      { dst: '198.18.8.0/24', via: '198.18.0.2', dev: 'v0', protocol: 3 },
      { dst: '198.18.9.0/24', type: 'blackhole', table: 100, protocol: 4 },
    ]);
  });

  it('fills fields ip leaves out when they were part of the query', () => {
    const json = [
      { dst: 'fd00:5::/64', gateway: 'fd00::2', dev: 'v0', metric: 1024, flags: [], pref: 'medium' },
      { type: 'unreachable', dst: 'fd00:6::/64', dev: 'lo', metric: 1024, flags: [] },
      { dst: 'fd00:7::1', dev: 'v0', metric: 1024, flags: [] },
      { dst: 'default', gateway: 'fd00::9', dev: 'v0', metric: 1024, flags: [] },
    ];
    assert.deepEqual(parseRoutes(json, { family: 'ipv6', table: 7, protocol: 201 }), [
      { dst: 'fd00:5::/64', via: 'fd00::2', dev: 'v0', table: 7, metric: 1024, protocol: 201 },
      { dst: 'fd00:6::/64', type: 'unreachable', table: 7, metric: 1024, protocol: 201 },
      { dst: 'fd00:7::1/128', dev: 'v0', table: 7, metric: 1024, protocol: 201 },
      { dst: '::/0', via: 'fd00::9', dev: 'v0', table: 7, metric: 1024, protocol: 201 },
    ]);
  });

  it('normalises destinations and refuses the wrong family', () => {
    assert.equal(normaliseDst('default', 'ipv6'), '::/0');
    assert.equal(normaliseDst('fd00:0::1', 'ipv6'), 'fd00::1/128');
    assert.throws(() => normaliseDst('198.18.0.1', 'ipv6'), /expected ipv6/);
  });

  it('parses links with kind, state and master', () => {
    const json = [
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, address: '00:00:00:00:00:00' },
      { ifindex: 3, link: 'v0', ifname: 'v1', flags: ['BROADCAST', 'MULTICAST', 'UP'], mtu: 1500, master: 'kbr0', address: 'c2:ff:da:92:e0:f6', linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' } },
      { ifindex: 6, ifname: 'vx0', flags: ['BROADCAST', 'MULTICAST'], mtu: 1450, address: 'ba:e5:bb:55:61:99', linkinfo: { info_kind: 'vxlan', info_data: { id: 42 } } },
    ];
    assert.deepEqual(parseLinks(json), [
      { name: 'lo', index: 1, mtu: 65536, up: true, mac: '00:00:00:00:00:00' },
      { name: 'v1', index: 3, mtu: 1500, up: true, kind: 'veth', master: 'kbr0', mac: 'c2:ff:da:92:e0:f6' },
      { name: 'vx0', index: 6, mtu: 1450, up: false, kind: 'vxlan', mac: 'ba:e5:bb:55:61:99' },
    ]);
  });

  it('parses addresses per family', () => {
    const json = [
      {
        ifname: 'v0',
        addr_info: [
          { family: 'inet', local: '198.18.0.1', prefixlen: 24, scope: 'global' },
          { family: 'inet6', local: 'fd00::1', prefixlen: 64, scope: 'global' },
          { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
        ],
      },
      { ifname: 'v1', addr_info: [] },
    ];
    assert.deepEqual(parseAddresses(json), [
      { dev: 'v0', family: 'ipv4', cidr: '198.18.0.1/24', scope: 'global' },
      { dev: 'v0', family: 'ipv6', cidr: 'fd00::1/64', scope: 'global' },
      { dev: 'v0', family: 'ipv6', cidr: 'fe80::1/64', scope: 'link' },
    ]);
  });

  it('parses rules', () => {
    const json = [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 101, src: 'all', dst: 'fd00:5::', dstlen: 64, fwmark: '0x10', table: '101' },
      { priority: 102, src: 'fd00::1', table: 'main' },
      { priority: 103, src: 'all', goto: 200 },
    ];
    assert.deepEqual(parseRules(json, 'ipv6'), [
      { family: 'ipv6', priority: 0, table: 255 },
      { family: 'ipv6', priority: 101, table: 101, to: 'fd00:5::/64', fwmark: 16 },
      { family: 'ipv6', priority: 102, table: 254, from: 'fd00::1/128' },
    ]);
  });

  it('reads iproute2 name files', () => {
    const names = parseNameFile('# comment\n201 krouter\n0x10\tdhcpish # trailing\nbroken line\n');
    assert.deepEqual([...names], [['krouter', 201], ['dhcpish', 16]]);
    assert.equal(resolveNumber('krouter', names), 201);
    assert.equal(resolveNumber('17', names), 17);
    assert.equal(resolveNumber('nope', names), undefined);
  });

  it('validates sysctl keys', () => {
    assert.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
    assert.equal(sysctlPath('net/ipv4/conf/eth0.100/forwarding'), '/proc/sys/net/ipv4/conf/eth0.100/forwarding');
    for (const bad of ['', 'net..ipv4', '../etc/passwd', 'net/../../etc', 'a b']) assert.throws(() => sysctlPath(bad), /invalid sysctl key/);
  });
});

describe('netlink parse: extended next hop', () => {
  it('reads `via inet6` of an IPv4 route as an extended next hop', () => {
    const json = [{ dst: '198.19.9.0/24', via: { family: 'inet6', host: 'fd00:99::2' }, dev: 'v0', protocol: 201, flags: [] }];
    assert.deepEqual(parseRoutes(json, { family: 'ipv4' }), [
      { dst: '198.19.9.0/24', via: 'fd00:99::2', extendedNexthop: true, dev: 'v0', protocol: 201 },
    ]);
  });
});
