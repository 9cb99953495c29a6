import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { TUN, addKubeRouter, addOtherTool, dumps } from '../helpers/kube-router-leftovers.ts';
import { createNetns, deleteNetns, requireRoot } from '../helpers/netns.ts';

/**
 * `krouter cleanup --kube-router` against the real tools, in a namespace of
 * its own: kube-router's leftover state (iptables chains, jumps and rules of
 * both families and both backends, ipsets of both families used by those
 * rules, an nftables table, kube-dummy-if, a tunnel link, its routes and
 * policy rules) beside another tool's objects (chains and rules in the same
 * built-in chains, ipsets with kube-proxy-like names, links, routes, a rule).
 * The listing names kube-router's objects only and changes nothing; the
 * removal leaves the full dumps exactly as they were before kube-router's
 * objects were added.
 * The state is made by test/helpers/kube-router-leftovers.ts.
 */

const ROOT = join(import.meta.dirname, '..', '..');

function krouter(ns: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, 'core', 'main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Fails naming the first dump that differs (with both texts). */
function assertSameDumps(actual: Record<string, string>, expected: Record<string, string>, what: string): void {
  for (const key of Object.keys(expected)) assert.equal(actual[key], expected[key], `${what}: ${key} differs`);
}

describe('krouter cleanup --kube-router (integration, in a namespace)', function () {
  let ns: string;
  before(() => requireRoot());
  beforeEach(() => {
    ns = createNetns('krclean');
  });
  afterEach(() => deleteNetns(ns));

  it('lists exactly kube-router\'s objects, and removes exactly them: every other object stays byte for byte', () => {
    addOtherTool(ns);
    const before = dumps(ns);
    addKubeRouter(ns);
    const withKubeRouter = dumps(ns);
    for (const key of Object.keys(before)) assert.notEqual(withKubeRouter[key], before[key], `the synthesized state touches ${key}`);

    // The listing: kube-router's objects, grouped; nobody else's; nothing changed.
    const list = krouter(ns, 'cleanup', '--kube-router');
    assert.equal(list.code, 0, list.stderr);
    const out = list.stdout;
    for (const expected of [
      'iptables (nft, IPv4) table filter:',
      'iptables (nft, IPv6) table filter:',
      'iptables (legacy, IPv4) table filter:',
      'iptables (legacy, IPv6) table nat:',
      'iptables (nft, IPv4) table nat:',
      'iptables (nft, IPv6) table mangle:',
      'chain KUBE-ROUTER-INPUT (1 rule)',
      'chain KUBE-POD-FW-7LFHGV3DGJDXEUZ4 (3 rules)',
      'chain KUBE-NWPLCY-DEFAULT (1 rule)',
      'chain KUBE-ROUTER-HAIRPIN (1 rule)',
      'rule in INPUT (jumps to KUBE-ROUTER-INPUT): -A INPUT -m comment --comment "kube-router netpol - 4IA2OSFRMVNDXBVV" -j KUBE-ROUTER-INPUT',
      'rule in FORWARD (kube-router\'s "allow outbound traffic from pods")',
      'rule in POSTROUTING (matches ipset kube-router-pod-subnets, kube-router-pod-subnets, kube-router-node-ips)',
      'rule in POSTROUTING (matches ipset inet6:kube-router-pod-subnets, inet6:kube-router-pod-subnets, inet6:kube-router-node-ips)',
      'rule in PREROUTING (TCP MSS clamp of DSR service replies)',
      'inet6:kube-router-pod-subnets (hash:net, inet6, 1 entry)',
      'KUBE-SRC-ABCDEFGHIJKLMNOP (hash:ip, inet, 1 entry)',
      'inet6:KUBE-DST-ABCDEFGHIJKLMNOP (hash:ip, inet6, 1 entry)',
      'ip kube-router-filter-ipv4',
      'ip6 kube-router-filter-ipv6',
      'kube-dummy-if (bridge)',
      `${TUN} (vxlan)`,
      '198.18.20.0/24 via 198.18.0.2 dev v0 proto 17',
      'fd00:20::/64 via fd00::2 dev v0 proto 17 metric 1024',
      `198.18.0.2 dev ${TUN} table 77 proto 3`,
      'local default dev lo table 78 proto 3',
      'priority 32764 from 198.18.16.0/24 lookup 77',
      'priority 32764 from fd00:16::/64 lookup 77',
      'priority 32765 from all fwmark 0x2a lookup 78',
      'IPVS: not in this kernel (no /proc/net/ip_vs)',
    ]) {
      assert.ok(out.includes(expected), `listing lacks ${JSON.stringify(expected)}:\n${out}`);
    }
    for (const unrelated of ['OTHER-TOOL', 'OTHER-NAT', 'KUBE-SERVICES', 'KUBE-CLUSTER-IP', 'other-tool', 'other-br', '198.18.50.0', 'fd00:50::', 'lookup 100', '-i v0 -j MARK', '-s 198.18.9.0/24']) {
      assert.ok(!out.includes(unrelated), `listing names ${unrelated}:\n${out}`);
    }
    assert.match(out, /^(\d+) kube-router objects found\.$/m);
    assertSameDumps(dumps(ns), withKubeRouter, 'the listing changed the kernel');

    // The removal: exactly those objects go.
    const rm = krouter(ns, 'cleanup', '--kube-router', '--yes');
    assert.equal(rm.code, 0, `${rm.stdout}\n${rm.stderr}`);
    const count = Number(/^(\d+) kube-router objects found\.$/m.exec(out)![1]);
    assert.match(rm.stdout, new RegExp(`Removed ${count} kube-router objects; none left\\.`));
    assertSameDumps(dumps(ns), before, 'after the removal');

    // Nothing left to list, and a second removal has nothing to do.
    const again = krouter(ns, 'cleanup', '--kube-router', '--yes');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /No kube-router leftovers found\./);
    assertSameDumps(dumps(ns), before, 'after a second removal');
  });

  it('refuses --yes without --kube-router and changes nothing', () => {
    const r = krouter(ns, 'cleanup', '--yes');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--yes applies to `cleanup --kube-router` only/);
  });
});
