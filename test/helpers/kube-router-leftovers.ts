import { execFileSync } from 'node:child_process';

/**
 * A node's state after kube-router, synthesized in a test namespace, beside
 * another tool's objects; and the full dumps that show what changed. Used by
 * test/integration/kube-router-cleanup.test.ts and by
 * test/fixtures/kube-router/capture.ts (the unit tests' dump fixtures).
 *
 * This kernel has no dummy links and no ipip (FACTS.md): kube-dummy-if is a
 * bridge here and the tunnel a vxlan link; the selection goes by name, the
 * kind is only shown.
 */

export const TUN = 'tun-0123456789a';

export function sh(ns: string, cmd: string, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs iptables-restore --noflush style input (lines of rule commands) with the given tool. */
const restore = (ns: string, tool: string, text: string) => sh(ns, tool, ['--noflush'], text);
const ipset = (ns: string, text: string) => sh(ns, 'ipset', ['restore'], text);
const ip = (ns: string, ...args: string[]) => sh(ns, 'ip', args);

/** Everything compared: the full dumps, with counters (which traffic may move) zeroed and comment lines dropped. */
export function dumps(ns: string): Record<string, string> {
  const zero = (t: string) => t.replace(/\[\d+:\d+\]/g, '[0:0]').replace(/counter packets \d+ bytes \d+/g, 'counter packets 0 bytes 0');
  const save = (tool: string) => zero(sh(ns, tool, [])).split('\n').filter((l) => !l.startsWith('#')).join('\n');
  return {
    'iptables-nft-save': save('iptables-nft-save'),
    'ip6tables-nft-save': save('ip6tables-nft-save'),
    'iptables-legacy-save': save('iptables-legacy-save'),
    'ip6tables-legacy-save': save('ip6tables-legacy-save'),
    'nft list ruleset': zero(sh(ns, 'nft', ['list', 'ruleset'])),
    'ipset list': sh(ns, 'ipset', ['list']),
    'ip -4 route show table all': ip(ns, '-4', 'route', 'show', 'table', 'all'),
    'ip -6 route show table all': ip(ns, '-6', 'route', 'show', 'table', 'all'),
    'ip -4 rule': ip(ns, '-4', 'rule', 'show'),
    'ip -6 rule': ip(ns, '-6', 'rule', 'show'),
    'ip -d link': ip(ns, '-d', 'link', 'show'),
  };
}

/** Another tool's objects: present before, during and after. */
export function addOtherTool(ns: string): void {
  ip(ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  for (const dev of ['v0', 'v1']) sh(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.accept_dad=0`]);
  ip(ns, 'link', 'set', 'v0', 'up');
  ip(ns, 'link', 'set', 'v1', 'up');
  ip(ns, 'addr', 'add', '198.18.0.1/24', 'dev', 'v0');
  ip(ns, 'addr', 'add', 'fd00::1/64', 'dev', 'v0', 'nodad');
  ip(ns, 'link', 'add', 'other-br', 'type', 'bridge');
  ip(ns, 'route', 'add', '198.18.50.0/24', 'via', '198.18.0.2', 'proto', 'static');
  ip(ns, '-6', 'route', 'add', 'fd00:50::/64', 'via', 'fd00::2', 'proto', 'bird');
  ip(ns, 'route', 'add', '198.18.51.0/24', 'via', '198.18.0.3', 'table', '100', 'proto', 'zebra');
  ip(ns, 'rule', 'add', 'from', '198.18.60.0/24', 'lookup', '100', 'priority', '1000');
  ip(ns, '-6', 'rule', 'add', 'from', 'fd00:60::/64', 'lookup', '100', 'priority', '1000');
  ipset(ns, [
    'create other-tool-set hash:ip family inet',
    'add other-tool-set 198.18.9.9',
    'create KUBE-CLUSTER-IP hash:ip,port family inet',
    'add KUBE-CLUSTER-IP 198.18.200.1,tcp:443',
    'create other-tool-v6 hash:net family inet6',
    'add other-tool-v6 fd00:9::/64',
    '',
  ].join('\n'));
  for (const [tool, v6] of [['iptables-nft-restore', false], ['ip6tables-nft-restore', true], ['iptables-legacy-restore', false], ['ip6tables-legacy-restore', true]] as const) {
    const net = v6 ? 'fd00:9::/64' : '198.18.9.0/24';
    const set = v6 ? 'other-tool-v6' : 'other-tool-set';
    restore(ns, tool, [
      '*filter',
      ':OTHER-TOOL - [0:0]',
      ':KUBE-SERVICES - [0:0]',
      `-A OTHER-TOOL -s ${net} -m comment --comment "other tool" -j ACCEPT`,
      `-A OTHER-TOOL -m set --match-set ${set} src -j DROP`,
      ...(v6 ? [] : ['-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT']),
      '-A INPUT -j OTHER-TOOL',
      `-A FORWARD -s ${net} -j ACCEPT`,
      '-A FORWARD -j KUBE-SERVICES',
      `-A OUTPUT -d ${net} -j ACCEPT`,
      'COMMIT',
      '*nat',
      ':OTHER-NAT - [0:0]',
      `-A OTHER-NAT -s ${net} -j RETURN`,
      '-A POSTROUTING -j OTHER-NAT',
      `-A POSTROUTING -s ${net} -o v0 -j MASQUERADE`,
      'COMMIT',
      '*mangle',
      '-A PREROUTING -i v0 -j MARK --set-xmark 0x1/0xffffffff',
      'COMMIT',
      '',
    ].join('\n'));
  }
}

/** kube-router's leftovers, as its controllers make them. */
export function addKubeRouter(ns: string): void {
  ip(ns, 'link', 'add', 'kube-dummy-if', 'type', 'bridge'); // a dummy link on kube-router's nodes
  ip(ns, 'addr', 'add', '198.18.200.10/32', 'dev', 'kube-dummy-if');
  ip(ns, 'addr', 'add', 'fd00:200::10/128', 'dev', 'kube-dummy-if', 'nodad');
  ip(ns, 'link', 'add', TUN, 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'local', '198.18.0.1'); // ipip there
  ip(ns, 'link', 'set', TUN, 'up');
  ip(ns, 'route', 'add', '198.18.20.0/24', 'via', '198.18.0.2', 'proto', '17');
  ip(ns, 'route', 'add', '198.18.21.0/24', 'dev', TUN, 'proto', '17', 'src', '198.18.0.1');
  ip(ns, '-6', 'route', 'add', 'fd00:20::/64', 'via', 'fd00::2', 'proto', '17');
  ip(ns, 'route', 'add', '198.18.0.2/32', 'dev', TUN, 'table', '77');
  ip(ns, 'rule', 'add', 'from', '198.18.16.0/24', 'lookup', '77', 'priority', '32764');
  ip(ns, '-6', 'rule', 'add', 'from', 'fd00:16::/64', 'lookup', '77', 'priority', '32764');
  ip(ns, 'route', 'add', 'local', 'default', 'dev', 'lo', 'table', '78');
  ip(ns, '-6', 'route', 'add', 'local', 'default', 'dev', 'lo', 'table', '78');
  ip(ns, 'rule', 'add', 'fwmark', '0x2a', 'lookup', '78', 'priority', '32765');
  ipset(ns, [
    'create kube-router-pod-subnets hash:net family inet',
    'add kube-router-pod-subnets 198.18.16.0/24',
    'create kube-router-node-ips hash:ip family inet',
    'add kube-router-node-ips 198.18.0.1',
    'create inet6:kube-router-pod-subnets hash:net family inet6',
    'add inet6:kube-router-pod-subnets fd00:16::/64',
    'create inet6:kube-router-node-ips hash:ip family inet6',
    'add inet6:kube-router-node-ips fd00::1',
    'create kube-router-svip hash:ip family inet',
    'add kube-router-svip 198.18.200.10',
    'create inet6:kube-router-svip hash:ip family inet6',
    'create KUBE-SRC-ABCDEFGHIJKLMNOP hash:ip family inet',
    'add KUBE-SRC-ABCDEFGHIJKLMNOP 198.18.16.5',
    'create inet6:KUBE-DST-ABCDEFGHIJKLMNOP hash:ip family inet6',
    'add inet6:KUBE-DST-ABCDEFGHIJKLMNOP fd00:16::5',
    '',
  ].join('\n'));
  for (const [tool, v6] of [['iptables-nft-restore', false], ['ip6tables-nft-restore', true], ['iptables-legacy-restore', false], ['ip6tables-legacy-restore', true]] as const) {
    const p = v6 ? 'inet6:' : '';
    const pod = v6 ? 'fd00:16::5' : '198.18.16.5';
    const src = v6 ? 'inet6:KUBE-DST-ABCDEFGHIJKLMNOP' : 'KUBE-SRC-ABCDEFGHIJKLMNOP';
    restore(ns, tool, [
      '*filter',
      ':KUBE-ROUTER-INPUT - [0:0]',
      ':KUBE-ROUTER-FORWARD - [0:0]',
      ':KUBE-ROUTER-OUTPUT - [0:0]',
      ':KUBE-ROUTER-SERVICES - [0:0]',
      ':KUBE-POD-FW-7LFHGV3DGJDXEUZ4 - [0:0]',
      ':KUBE-NWPLCY-DEFAULT - [0:0]',
      ':KUBE-NWPLCY-TZHKCPAZK5GGDNIR - [0:0]',
      '-I INPUT 1 -m comment --comment "kube-router netpol - 4IA2OSFRMVNDXBVV" -j KUBE-ROUTER-INPUT',
      '-I FORWARD 1 -m comment --comment "kube-router netpol - TEMCG2JMHZYE7H7T" -j KUBE-ROUTER-FORWARD',
      '-I OUTPUT 1 -m comment --comment "kube-router netpol - VEAAIY32XVBHCSCY" -j KUBE-ROUTER-OUTPUT',
      '-A INPUT -m comment --comment "handle traffic to IPVS service IPs in custom chain" -m set --match-set ' + p + 'kube-router-svip dst -j KUBE-ROUTER-SERVICES',
      '-I FORWARD 2 -m comment --comment "allow outbound traffic from pods" -i kube-bridge -j ACCEPT',
      '-I FORWARD 3 -m comment --comment "allow inbound traffic to pods" -o kube-bridge -j ACCEPT',
      '-A FORWARD -m comment --comment "allow outbound node port traffic on node interface with which node ip is associated" -o v0 -j ACCEPT',
      `-A KUBE-ROUTER-FORWARD -d ${pod} -m comment --comment "rule to jump traffic destined to POD name:web namespace: default to chain KUBE-POD-FW-7LFHGV3DGJDXEUZ4" -j KUBE-POD-FW-7LFHGV3DGJDXEUZ4`,
      `-A KUBE-ROUTER-INPUT -s ${pod} -j KUBE-POD-FW-7LFHGV3DGJDXEUZ4`,
      `-A KUBE-ROUTER-OUTPUT -s ${pod} -j KUBE-POD-FW-7LFHGV3DGJDXEUZ4`,
      '-A KUBE-ROUTER-SERVICES -m set --match-set ' + p + 'kube-router-svip dst -j ACCEPT',
      '-A KUBE-POD-FW-7LFHGV3DGJDXEUZ4 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A KUBE-POD-FW-7LFHGV3DGJDXEUZ4 -j KUBE-NWPLCY-DEFAULT',
      '-A KUBE-POD-FW-7LFHGV3DGJDXEUZ4 -j KUBE-NWPLCY-TZHKCPAZK5GGDNIR',
      `-A KUBE-NWPLCY-TZHKCPAZK5GGDNIR -m set --match-set ${src} src -j ACCEPT`,
      '-A KUBE-NWPLCY-DEFAULT -j MARK --set-xmark 0x10000/0x10000',
      'COMMIT',
      '*nat',
      ':KUBE-ROUTER-HAIRPIN - [0:0]',
      `-A POSTROUTING -m set --match-set ${p}kube-router-pod-subnets src -m set ! --match-set ${p}kube-router-pod-subnets dst -m set ! --match-set ${p}kube-router-node-ips dst -j MASQUERADE --random-fully`,
      '-I POSTROUTING 2 -j KUBE-ROUTER-HAIRPIN',
      `-A KUBE-ROUTER-HAIRPIN -s ${pod} -d ${pod} -j MASQUERADE`,
      'COMMIT',
      '*mangle',
      `-I PREROUTING 1 -s ${v6 ? 'fd00:200::10/128' : '198.18.200.10/32'} -p tcp -m tcp --sport 80 -i kube-bridge --tcp-flags SYN,RST SYN -j TCPMSS --set-mss ${v6 ? 1400 : 1440}`,
      'COMMIT',
      '',
    ].join('\n'));
  }
  sh(ns, 'nft', ['-f', '-'], [
    'table ip kube-router-filter-ipv4 {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    '  }',
    '}',
    'table ip6 kube-router-filter-ipv6 {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    '  }',
    '}',
    '',
  ].join('\n'));
}

