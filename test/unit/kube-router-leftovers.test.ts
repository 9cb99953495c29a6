import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeExec } from '@krouter/sdk/testing';
import { parseIptablesSave, renderIptablesRemoval, ruleReason, selectIptables, splitArgs } from '../../core/kube-router-leftovers/iptables.ts';
import {
  ipvsDeleteArgs,
  parseIpsetTerse,
  parseLinks,
  parseNftTables,
  parseProcIpvs,
  parseRoutes,
  parseRules,
  renderIpsetRemoval,
  routeDeleteLine,
  ruleDeleteLine,
  selectIpsets,
  selectIpvs,
  selectLinks,
  selectNftTables,
  selectRoutes,
  selectRules,
} from '../../core/kube-router-leftovers/kernel.ts';
import { collectLeftovers, runKubeRouterCleanup } from '../../core/kube-router-leftovers/index.ts';
import { countObjects, formatLeftovers, renderSteps } from '../../core/kube-router-leftovers/plan.ts';

/**
 * Dumps of a namespace holding kube-router's leftovers beside another
 * tool's objects, taken with the real tools by
 * test/fixtures/kube-router/capture.ts (see its helper for what is there).
 */
const dump = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-router', 'dumps', name), 'utf8');

describe('kube-router leftovers: iptables', () => {
  it('splits a saved rule as iptables-save quotes it', () => {
    assert.deepEqual(splitArgs('INPUT -m comment --comment "kube-router netpol - X" -j KUBE-ROUTER-INPUT'), [
      'INPUT', '-m', 'comment', '--comment', 'kube-router netpol - X', '-j', 'KUBE-ROUTER-INPUT',
    ]);
    assert.deepEqual(splitArgs('X -m comment --comment "say \\"hi\\"" -m comment --comment "" -j ACCEPT'), ['X', '-m', 'comment', '--comment', 'say "hi"', '-m', 'comment', '--comment', '', '-j', 'ACCEPT']);
  });

  it('selects kube-router\'s chains and the rules that lead into them or use its sets, nothing of the other tool (IPv4, nft backend)', () => {
    const sel = selectIptables(parseIptablesSave(dump('iptables-nft-save.txt')));
    assert.deepEqual(sel.map((t) => t.table), ['mangle', 'filter', 'nat']);
    const filter = sel.find((t) => t.table === 'filter')!;
    assert.deepEqual(filter.chains, [
      { name: 'KUBE-NWPLCY-DEFAULT', rules: 1 },
      { name: 'KUBE-NWPLCY-TZHKCPAZK5GGDNIR', rules: 1 },
      { name: 'KUBE-POD-FW-7LFHGV3DGJDXEUZ4', rules: 3 },
      { name: 'KUBE-ROUTER-FORWARD', rules: 1 },
      { name: 'KUBE-ROUTER-INPUT', rules: 1 },
      { name: 'KUBE-ROUTER-OUTPUT', rules: 1 },
      { name: 'KUBE-ROUTER-SERVICES', rules: 1 },
    ]);
    assert.deepEqual(filter.rules.map((r) => [r.chain, r.reason]), [
      ['INPUT', 'jumps to KUBE-ROUTER-INPUT'],
      ['INPUT', 'jumps to KUBE-ROUTER-SERVICES'],
      ['FORWARD', 'jumps to KUBE-ROUTER-FORWARD'],
      ['FORWARD', 'kube-router\'s "allow outbound traffic from pods"'],
      ['FORWARD', 'kube-router\'s "allow inbound traffic to pods"'],
      ['FORWARD', 'kube-router\'s "allow outbound node port traffic on node interface with which node ip is associated"'],
      ['OUTPUT', 'jumps to KUBE-ROUTER-OUTPUT'],
    ]);
    const nat = sel.find((t) => t.table === 'nat')!;
    assert.deepEqual(nat.chains, [{ name: 'KUBE-ROUTER-HAIRPIN', rules: 1 }]);
    assert.deepEqual(nat.rules.map((r) => r.reason), ['jumps to KUBE-ROUTER-HAIRPIN', 'matches ipset kube-router-pod-subnets, kube-router-pod-subnets, kube-router-node-ips']);
    const mangle = sel.find((t) => t.table === 'mangle')!;
    assert.deepEqual(mangle.rules.map((r) => r.reason), ['TCP MSS clamp of DSR service replies']);
    const all = JSON.stringify(sel);
    for (const other of ['OTHER-TOOL', 'OTHER-NAT', 'KUBE-SERVICES', 'KUBE-CLUSTER-IP', 'other-tool-set', '198.18.9.0/24', '-i v0 -j MARK']) assert.ok(!all.includes(other), other);
  });

  it('selects the IPv6 ones by their inet6: sets, the same in both backends', () => {
    const nft = selectIptables(parseIptablesSave(dump('ip6tables-nft-save.txt')));
    const legacy = selectIptables(parseIptablesSave(dump('ip6tables-legacy-save.txt')));
    const byTable = (sel: typeof nft) => [...sel].sort((a, b) => a.table.localeCompare(b.table));
    assert.deepEqual(byTable(legacy), byTable(nft));
    const nat = nft.find((t) => t.table === 'nat')!;
    assert.match(nat.rules[1]!.reason, /^matches ipset inet6:kube-router-pod-subnets/);
    assert.ok(!JSON.stringify(nft).includes('other-tool-v6'));
  });

  it('recognises kube-router\'s IPVS masquerade rules and leaves look-alikes of other tools', () => {
    const rule = (chain: string, rest: string) => ({ chain, line: `-A ${chain} ${rest}`, args: splitArgs(rest) });
    // As kube-router adds them (pkg/controllers/proxy/network_services_controller.go), as iptables-save prints them.
    assert.equal(ruleReason('nat', rule('POSTROUTING', '-m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j SNAT --to-source 198.18.0.1 --random-fully')), 'masquerade of IPVS service traffic');
    assert.equal(ruleReason('nat', rule('POSTROUTING', '! -s 198.18.16.0/24 ! -d 198.18.16.0/24 -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j MASQUERADE')), 'masquerade of IPVS service traffic');
    assert.equal(ruleReason('nat', rule('POSTROUTING', '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING')), undefined);
    assert.equal(ruleReason('filter', rule('FORWARD', '-m comment --comment "allow inbound traffic to pods" -o kube-bridge -j ACCEPT')), 'kube-router\'s "allow inbound traffic to pods"');
    assert.equal(ruleReason('filter', rule('INPUT', '-m comment --comment "allow inbound traffic to pods" -j ACCEPT')), undefined, 'that comment marks kube-router\'s rule in FORWARD only');
    assert.equal(ruleReason('filter', rule('FORWARD', '-i kube-bridge -j ACCEPT')), undefined, 'an operator\'s own rule for the bridge');
    assert.equal(ruleReason('filter', rule('KUBE-FORWARD', '-m set --match-set KUBE-6-CLUSTER-IP dst -j ACCEPT')), undefined);
    assert.equal(ruleReason('filter', rule('OTHER', '-g KUBE-POD-FW-X')), 'jumps to KUBE-POD-FW-X');
  });

  it('renders a --noflush script naming only the selection: rules deleted as dumped, then chains flushed, then deleted', () => {
    const sel = selectIptables(parseIptablesSave(dump('iptables-nft-save.txt'))).filter((t) => t.table !== 'filter');
    assert.equal(
      renderIptablesRemoval(sel),
      [
        '*mangle',
        '-D PREROUTING -s 198.18.200.10/32 -i kube-bridge -p tcp -m tcp --sport 80 --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1440',
        'COMMIT',
        '*nat',
        '-D POSTROUTING -j KUBE-ROUTER-HAIRPIN',
        '-D POSTROUTING -m set --match-set kube-router-pod-subnets src -m set ! --match-set kube-router-pod-subnets dst -m set ! --match-set kube-router-node-ips dst -j MASQUERADE --random-fully',
        '-F KUBE-ROUTER-HAIRPIN',
        '-X KUBE-ROUTER-HAIRPIN',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.equal(renderIptablesRemoval([]), '');
  });
});

describe('kube-router leftovers: ipsets, nftables, links, routes, rules, IPVS', () => {
  it('selects kube-router\'s ipsets of both families and destroys list:set ones first', () => {
    const sets = selectIpsets(parseIpsetTerse(dump('ipset-list-terse.txt')));
    assert.deepEqual(sets.map((s) => [s.name, s.type, s.family, s.entries]), [
      ['kube-router-pod-subnets', 'hash:net', 'inet', 1],
      ['kube-router-node-ips', 'hash:ip', 'inet', 1],
      ['inet6:kube-router-pod-subnets', 'hash:net', 'inet6', 1],
      ['inet6:kube-router-node-ips', 'hash:ip', 'inet6', 1],
      ['kube-router-svip', 'hash:ip', 'inet', 1],
      ['inet6:kube-router-svip', 'hash:ip', 'inet6', 0],
      ['KUBE-SRC-ABCDEFGHIJKLMNOP', 'hash:ip', 'inet', 1],
      ['inet6:KUBE-DST-ABCDEFGHIJKLMNOP', 'hash:ip', 'inet6', 1],
    ]);
    const withList = [...sets.slice(0, 1), { name: 'kube-router-all', type: 'list:set', entries: 1, references: 0 }];
    assert.equal(renderIpsetRemoval(withList), 'destroy kube-router-all\ndestroy kube-router-pod-subnets\n');
  });

  it('selects its nftables tables, links, routes and policy rules', () => {
    assert.deepEqual(selectNftTables(parseNftTables(dump('nft-list-tables.json'))), [
      { family: 'ip', name: 'kube-router-filter-ipv4' },
      { family: 'ip6', name: 'kube-router-filter-ipv6' },
    ]);
    assert.deepEqual(selectLinks(parseLinks(dump('ip-link.json'))), [
      { name: 'kube-dummy-if', kind: 'bridge' },
      { name: 'tun-0123456789a', kind: 'vxlan' },
    ]);
    const r4 = selectRoutes(parseRoutes(dump('ip-route-4.json'), 'ipv4'));
    assert.deepEqual(r4.map(routeDeleteLine), [
      'route del 198.18.0.2 table 77 proto 3 dev tun-0123456789a',
      'route del local default table 78 proto 3 dev lo',
      'route del 198.18.20.0/24 table 254 proto 17 via 198.18.0.2 dev v0',
      'route del 198.18.21.0/24 table 254 proto 17 dev tun-0123456789a',
    ]);
    const r6 = selectRoutes(parseRoutes(dump('ip-route-6.json'), 'ipv6'));
    assert.deepEqual(r6.map(routeDeleteLine), [
      'route del local default table 78 proto 3 metric 1024 dev lo',
      'route del fd00:20::/64 table 254 proto 17 metric 1024 via fd00::2 dev v0',
    ]);
    const rules = [...selectRules(parseRules(dump('ip-rule-4.json'), 'ipv4')), ...selectRules(parseRules(dump('ip-rule-6.json'), 'ipv6'))];
    assert.deepEqual(rules.map(ruleDeleteLine), [
      'rule del priority 32764 from 198.18.16.0/24 table 77',
      'rule del priority 32765 fwmark 0x2a table 78',
      'rule del priority 32764 from fd00:16::/64 table 77',
    ]);
    // The other tool's: proto static/bird/zebra (11) routes, table 100 and its rule.
    const all = JSON.stringify([r4, r6, rules]);
    for (const other of ['198.18.50.0', 'fd00:50::', '198.18.51.0', '"table":100', '198.18.60.0', 'fd00:60::']) assert.ok(!all.includes(other), other);
  });

  it('reads /proc/net/ip_vs and takes the services whose address is on kube-dummy-if', () => {
    const proc = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn',
      'TCP  C612C80A:0050 rr',
      '  -> C6121005:1F90      Masq    1      0          0',
      'UDP  [fd00:0200:0000:0000:0000:0000:0000:0010]:0035 rr',
      'TCP  C612C80B:01BB rr',
      'FWM  0000002A rr',
      '',
    ].join('\n');
    const services = parseProcIpvs(proc);
    assert.deepEqual(services.map((s) => `${s.protocol} ${s.address}`), ['tcp 198.18.200.10:80', 'udp [fd00:200:0:0:0:0:0:10]:53', 'tcp 198.18.200.11:443', 'fwm 42']);
    const mine = selectIpvs(services, ['198.18.200.10', 'fd00:200::10']);
    assert.deepEqual(mine.map(ipvsDeleteArgs), [['-D', '-t', '198.18.200.10:80'], ['-D', '-u', '[fd00:200:0:0:0:0:0:10]:53']]);
  });
});

/** An Exec answering the reads from the fixtures; what a machine lacks answers ENOENT. */
function fixtureExec(opts: { legacy4?: string } = {}): FakeExec {
  const enoent = (cmd: string) => new Error(`${cmd}: spawn ${cmd} ENOENT`);
  return new FakeExec()
    .on('iptables-legacy-save', { stdout: opts.legacy4 ?? '' })
    .on('ip6tables-legacy-save', { stdout: dump('ip6tables-legacy-save.txt') })
    .on('iptables-nft-save', { stdout: dump('iptables-nft-save.txt') })
    .on('ip6tables-nft-save', () => enoent('ip6tables-nft-save'))
    .on('ipset list -terse', { stdout: dump('ipset-list-terse.txt') })
    .on('nft -j list tables', { stdout: dump('nft-list-tables.json') })
    .on('ip -details -json link show', { stdout: dump('ip-link.json') })
    .on('ip -d -N -json -4 route show table all', { stdout: dump('ip-route-4.json') })
    .on('ip -d -N -json -6 route show table all', { stdout: dump('ip-route-6.json') })
    .on('ip -N -json -4 rule show', { stdout: dump('ip-rule-4.json') })
    .on('ip -N -json -6 rule show', { stdout: dump('ip-rule-6.json') });
}

describe('kube-router leftovers: listing and removal plan', () => {
  it('lists everything grouped, names what it could not look at, and plans the removal in an order the kernel accepts', async () => {
    const l = await collectLeftovers(fixtureExec(), { readProcIpvs: async () => undefined });
    assert.deepEqual(l.iptables.map((d) => `${d.backend}/${d.family}`), ['legacy/ipv6', 'nft/ipv4']);
    assert.deepEqual(l.skipped, ['ip6tables-nft-save: not installed', 'IPVS: not in this kernel (no /proc/net/ip_vs); no IPVS services to remove']);
    const text = formatLeftovers(l);
    assert.match(text, /^iptables \(legacy, IPv6\) table filter:\n  chain KUBE-NWPLCY-DEFAULT \(1 rule\)/m);
    assert.match(text, /^links:\n  kube-dummy-if \(bridge\)\n  tun-0123456789a \(vxlan\)\n/m);
    assert.match(text, /^routes \(IPv4\):\n  198\.18\.0\.2 dev tun-0123456789a table 77 proto 3\n  local default dev lo table 78 proto 3\n/m);
    assert.match(text, /^not looked at:\n  ip6tables-nft-save: not installed\n/m);
    assert.match(text, new RegExp(`^${countObjects(l)} kube-router objects found\\.$`, 'm'));
    const steps = renderSteps(l);
    assert.deepEqual(steps.map((s) => [s.command, ...s.args].join(' ')), [
      'ip6tables-legacy-restore --noflush',
      'iptables-nft-restore --noflush',
      'nft -f -',
      'ipset restore',
      'ip -4 -force -batch -',
      'ip -6 -force -batch -',
      'ip -force -batch -',
    ]);
    assert.equal(steps[2]!.input, 'delete table ip kube-router-filter-ipv4\ndelete table ip6 kube-router-filter-ipv6\n');
    assert.equal(steps[6]!.input, 'link del dev kube-dummy-if\nlink del dev tun-0123456789a\n');
    for (const s of steps) {
      const text = `${s.command} ${s.args.join(' ')}\n${s.input ?? ''}`;
      assert.ok(!/-save|(?<!no)flush|^-F (?!KUBE-)|^flush/m.test(text), `never saves, flushes or restores what is not listed: ${text}`);
    }
  });

  it('only lists by default: runs no command that changes anything', async () => {
    const exec = fixtureExec();
    let out = '';
    const code = await runKubeRouterCleanup({ exec, out: (t) => (out += t), remove: false, readProcIpvs: async () => undefined });
    assert.equal(code, 0);
    assert.match(out, /listing only; `krouter cleanup --kube-router --yes` removes exactly these/);
    assert.ok(exec.calls.every((c) => /-save$|^ipset$|^nft$|^ip$/.test(c.command) && !c.args.includes('restore') && !c.args.includes('-batch') && !c.args.includes('-f')), JSON.stringify(exec.calls.map((c) => [c.command, ...c.args].join(' '))));
  });

  it('with remove, runs the steps, reads again, and fails naming what is left when a step fails', async () => {
    const exec = fixtureExec().on('ipset restore', { code: 1, stderr: 'ipset v7.17: Set cannot be destroyed: it is in use by a kernel component' });
    for (const cmd of ['ip6tables-legacy-restore', 'iptables-nft-restore', 'nft -f', 'ip -4 -force', 'ip -6 -force', 'ip -force']) exec.on(cmd, {});
    let out = '';
    const code = await runKubeRouterCleanup({ exec, out: (t) => (out += t), remove: true, readProcIpvs: async () => undefined });
    assert.equal(code, 1);
    assert.match(out, /removing ipsets: FAILED \(ipset exit 1\): ipset v7\.17: Set cannot be destroyed/);
    assert.match(out, /removed nftables tables\n/);
    assert.match(out, /kube-router objects still present:/, 'the fake kernel did not change, so everything is still there');
  });
});
