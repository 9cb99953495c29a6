import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { MemoryLogger } from '@krouter/sdk/testing';
import { parseCidr, type NetlinkOp, type Route } from '@krouter/sdk';
import { NetlinkBatchError, NetlinkService } from '../../core/services/netlink/index.ts';
import { createNetns, inNetns, requireRoot } from '../helpers/netns.ts';

const ip = (ns: string, ...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });

/** 198.19.0.0/32, 198.19.0.1/32, ... and fd00:2::/128, fd00:2::1/128, ... */
function hostRoutes(count: number): { ipv4: Route[]; ipv6: Route[] } {
  const ipv4: Route[] = [];
  const ipv6: Route[] = [];
  for (let i = 0; i < count; i++) {
    ipv4.push({ dst: `198.19.${i >> 8}.${i & 255}/32`, via: '198.18.0.2', dev: 'v0', metric: 100, protocol: 201 });
    ipv6.push({ dst: parseCidr(`fd00:2::${i.toString(16)}/128`).text, via: 'fd00:1::2', dev: 'v0', metric: 100, protocol: 201 });
  }
  return { ipv4, ipv6 };
}

const byDst = (a: Route, b: Route) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0);

describe('NetlinkService (integration)', function () {
  let ns: string;
  let nl: NetlinkService;

  before(() => requireRoot());
  beforeEach(() => {
    ns = createNetns('netlink');
    nl = new NetlinkService({ logger: new MemoryLogger(), netns: ns });
  });
  afterEach(async () => {
    await nl.close();
  });

  /** A veth pair v0/v1 with one address per family on v0. */
  async function setupVeth(): Promise<void> {
    const r = await nl.apply([
      { op: 'link.veth', name: 'v0', peer: 'v1' },
      { op: 'link.set', name: 'v0', up: true },
      { op: 'link.set', name: 'v1', up: true },
      { op: 'addr.replace', dev: 'v0', cidr: '198.18.0.1/24' },
      { op: 'addr.replace', dev: 'v0', cidr: 'fd00:1::1/64', noDad: true },
    ]);
    assert.deepEqual(r, { ok: true, errors: [] });
  }

  it('gives a bridge a MAC of its own that ports joining and leaving do not change; without one it follows its ports', async () => {
    const own = '02:4b:52:00:00:01';
    const r = await nl.apply([
      { op: 'link.bridge', name: 'kbr0', mac: own.toUpperCase() },
      { op: 'link.bridge', name: 'kbr1' },
      { op: 'link.veth', name: 'pa0', peer: 'pa1' },
      { op: 'link.veth', name: 'pb0', peer: 'pb1' },
      { op: 'link.veth', name: 'pc0', peer: 'pc1' },
      { op: 'link.veth', name: 'pd0', peer: 'pd1' },
      { op: 'link.set', name: 'pa0', master: 'kbr0' },
      { op: 'link.set', name: 'pb0', master: 'kbr0' },
      { op: 'link.set', name: 'pc0', master: 'kbr1' },
      { op: 'link.set', name: 'pd0', master: 'kbr1' },
    ]);
    assert.deepEqual(r, { ok: true, errors: [] });
    const mac = async (name: string) => (await nl.getLink(name))!.mac!;
    assert.equal(await mac('kbr0'), own);
    const lowest = [await mac('pc0'), await mac('pd0')].sort()[0]!;
    assert.equal(await mac('kbr1'), lowest, 'Linux lends a bridge without a MAC its lowest port MAC');
    assert.deepEqual(await nl.apply([{ op: 'link.delete', name: 'pa0' }, { op: 'link.delete', name: 'pb0' }]), { ok: true, errors: [] });
    assert.equal(await mac('kbr0'), own, 'kept with every port gone');
    const [first, second] = lowest === (await mac('pc0')) ? ['pc0', 'pd0'] : ['pd0', 'pc0'];
    assert.deepEqual(await nl.apply([{ op: 'link.delete', name: first }]), { ok: true, errors: [] });
    assert.equal(await mac('kbr1'), await mac(second), 'the borrowed MAC changed with its port');
    // Set later (as on an adopted bridge), the MAC stays too.
    assert.deepEqual(await nl.apply([{ op: 'link.set', name: 'kbr1', up: true, mac: '02:4b:52:00:00:02' }, { op: 'link.delete', name: second }]), { ok: true, errors: [] });
    assert.equal(await mac('kbr1'), '02:4b:52:00:00:02');
  });

  it('creates a bridge, a veth pair and a vxlan link and reads them back', async () => {
    await setupVeth();
    const r = await nl.apply([
      { op: 'link.bridge', name: 'kbr0' },
      { op: 'link.set', name: 'kbr0', up: true },
      { op: 'link.set', name: 'v1', master: 'kbr0' },
      // after the port: a bridge follows its ports' MTU until one is set on it
      { op: 'link.set', name: 'kbr0', mtu: 1400 },
      { op: 'link.vxlan', name: 'vx0', vni: 42, dev: 'v0', local: '198.18.0.1', learning: false, mtu: 1450 },
    ]);
    assert.deepEqual(r, { ok: true, errors: [] });
    const links = await nl.listLinks();
    const pick = (name: string) => {
      const l = links.find((x) => x.name === name);
      assert.ok(l, `link ${name} missing`);
      return { kind: l.kind, mtu: l.mtu, up: l.up, master: l.master };
    };
    assert.deepEqual(pick('kbr0'), { kind: 'bridge', mtu: 1400, up: true, master: undefined });
    assert.deepEqual(pick('v0'), { kind: 'veth', mtu: 1500, up: true, master: undefined });
    assert.deepEqual(pick('v1'), { kind: 'veth', mtu: 1500, up: true, master: 'kbr0' });
    assert.deepEqual(pick('vx0'), { kind: 'vxlan', mtu: 1450, up: false, master: undefined });
    assert.equal((await nl.getLink('vx0'))?.kind, 'vxlan');
    assert.equal(await nl.getLink('nosuch'), undefined);

    const del = await nl.apply([
      { op: 'link.set', name: 'v1', master: null },
      { op: 'link.delete', name: 'vx0' },
    ]);
    assert.deepEqual(del, { ok: true, errors: [] });
    assert.equal(await nl.getLink('vx0'), undefined);
    assert.equal((await nl.getLink('v1'))?.master, undefined);
  });

  it('manages addresses per family', async () => {
    await setupVeth();
    const global = async () => (await nl.listAddresses('v0')).filter((a) => a.scope === 'global').map((a) => [a.family, a.cidr]);
    assert.deepEqual(await global(), [['ipv4', '198.18.0.1/24'], ['ipv6', 'fd00:1::1/64']]);
    const r = await nl.apply([
      { op: 'addr.delete', dev: 'v0', cidr: '198.18.0.1/24' },
      { op: 'addr.replace', dev: 'v0', cidr: '198.18.1.1/24' },
      { op: 'addr.replace', dev: 'v0', cidr: 'fd00:3::1/64', noDad: true },
    ]);
    assert.deepEqual(r, { ok: true, errors: [] });
    assert.deepEqual(await global(), [['ipv4', '198.18.1.1/24'], ['ipv6', 'fd00:3::1/64'], ['ipv6', 'fd00:1::1/64']]);
    // nodad: the address is usable at once, not tentative
    assert.doesNotMatch(ip(ns, '-6', 'addr', 'show', 'dev', 'v0'), /fd00:3::1\/64.*tentative/);
    assert.deepEqual(await nl.listAddresses('nosuch'), []);
  });

  it('programs 10,000 IPv4 and 10,000 IPv6 routes and reads them back exactly', async () => {
    await setupVeth();
    const want = hostRoutes(10_000);
    const r = await nl.apply([...want.ipv4, ...want.ipv6].map((route): NetlinkOp => ({ op: 'route.replace', route })));
    assert.equal(r.errors.length, 0, r.errors.slice(0, 3).map((e) => e.message).join('\n'));
    const got4 = await nl.listRoutes({ family: 'ipv4' });
    const got6 = await nl.listRoutes({ family: 'ipv6' });
    assert.equal(got4.length, 10_000);
    assert.equal(got6.length, 10_000);
    assert.deepEqual(got4.sort(byDst), want.ipv4.sort(byDst));
    assert.deepEqual(got6.sort(byDst), want.ipv6.sort(byDst));

    // and removes them again
    const d = await nl.apply([...want.ipv4, ...want.ipv6].map((route): NetlinkOp => ({ op: 'route.delete', route })));
    assert.equal(d.errors.length, 0);
    assert.deepEqual(await nl.listRoutes({ family: 'ipv4' }), []);
    assert.deepEqual(await nl.listRoutes({ family: 'ipv6' }), []);
  });

  it('returns only krouter routes by default, filtered by table; other protocols with "all"', async () => {
    await setupVeth();
    ip(ns, 'route', 'add', '198.18.50.0/24', 'via', '198.18.0.2', 'proto', 'static');
    ip(ns, '-6', 'route', 'add', 'fd00:50::/64', 'via', 'fd00:1::2', 'proto', 'boot');
    const r = await nl.apply([
      { op: 'route.replace', route: { dst: '198.18.51.0/24', via: '198.18.0.2' } },
      { op: 'route.replace', route: { dst: '198.18.52.0/24', type: 'blackhole', table: 100 } },
      { op: 'route.replace', route: { dst: 'fd00:51::/64', via: 'fd00:1::2', metric: 5 } },
      { op: 'route.replace', route: { dst: '0.0.0.0/0', via: '198.18.0.2' } },
      { op: 'route.replace', route: { dst: '::/0', type: 'unreachable', metric: 7 } },
    ]);
    assert.deepEqual(r, { ok: true, errors: [] });
    assert.deepEqual((await nl.listRoutes({ family: 'ipv4' })).sort(byDst), [
      { dst: '0.0.0.0/0', via: '198.18.0.2', dev: 'v0', protocol: 201 },
      { dst: '198.18.51.0/24', via: '198.18.0.2', dev: 'v0', protocol: 201 },
    ]);
    assert.deepEqual(await nl.listRoutes({ family: 'ipv4', table: 100 }), [{ dst: '198.18.52.0/24', type: 'blackhole', table: 100, protocol: 201 }]);
    assert.deepEqual((await nl.listRoutes({ family: 'ipv6' })).sort(byDst), [
      { dst: '::/0', type: 'unreachable', metric: 7, protocol: 201 },
      { dst: 'fd00:51::/64', via: 'fd00:1::2', dev: 'v0', metric: 5, protocol: 201 },
    ]);
    const all4 = await nl.listRoutes({ family: 'ipv4', protocol: 'all' });
    assert.deepEqual(all4.find((x) => x.dst === '198.18.50.0/24')?.protocol, 4);
    assert.deepEqual(all4.find((x) => x.dst === '198.18.0.0/24')?.protocol, 2);
    assert.equal((await nl.listRoutes({ family: 'ipv6', protocol: 'all' })).find((x) => x.dst === 'fd00:50::/64')?.protocol, 3);
    assert.deepEqual(await nl.listRoutes({ family: 'ipv4', protocol: 4 }), [{ dst: '198.18.50.0/24', via: '198.18.0.2', dev: 'v0', protocol: 4 }]);
  });

  it('reports per-op errors in a mixed batch and applies the good ops', async () => {
    await setupVeth();
    const ops: NetlinkOp[] = [
      { op: 'route.replace', route: { dst: '198.18.60.0/24', via: '198.18.0.2' } }, // 0 good
      { op: 'route.replace', route: { dst: 'fd00:60::/64', via: '198.18.0.2' } }, // 1 wrong-family gateway
      { op: 'route.replace', route: { dst: '198.18.61.0/24', via: '198.18.99.2' } }, // 2 unreachable gateway (kernel error)
      { op: 'addr.replace', dev: 'v0', cidr: '198.18.300.1/24' }, // 3 bad CIDR
      { op: 'link.set', name: 'v1', master: 'nosuch' }, // 4 missing master (ip exits on this one)
      { op: 'route.replace', route: { dst: 'fd00:61::/64', via: 'fd00:1::2' } }, // 5 good
      { op: 'link.set', name: 'nosuch', up: true }, // 6 missing link
      { op: 'rule.add', rule: { family: 'ipv6', priority: 1000, fwmark: 7, table: 70 } }, // 7 good
      { op: 'rule.add', rule: { family: 'ipv4', priority: 1001, from: '198.18.0.0/24', table: 71 } }, // 8 good
      { op: 'route.replace', route: { dst: '198.18.62.0/24', dev: 'v0' } }, // 9 good
    ];
    const r = await nl.apply(ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.errors.map((e) => e.index), [1, 2, 3, 4, 6]);
    const msg = (i: number) => r.errors.find((e) => e.index === i)!.message;
    assert.match(msg(1), /route fd00:60::\/64 via 198\.18\.0\.2: gateway 198\.18\.0\.2 is ipv4 but the destination is ipv6/);
    assert.match(msg(2), /route replace 198\.18\.61\.0\/24 via 198\.18\.99\.2.*invalid gateway/i);
    assert.match(msg(3), /198\.18\.300\.1/);
    assert.match(msg(4), /master nosuch.*Device does not exist/);
    assert.match(msg(6), /Cannot find device "nosuch"/);
    for (const e of r.errors) assert.equal(e.op, ops[e.index]);

    assert.deepEqual((await nl.listRoutes({ family: 'ipv4' })).map((x) => x.dst).sort(), ['198.18.60.0/24', '198.18.62.0/24']);
    assert.deepEqual((await nl.listRoutes({ family: 'ipv6' })).map((x) => x.dst), ['fd00:61::/64']);
    assert.deepEqual((await nl.listRules('ipv6')).filter((x) => x.priority === 1000), [{ family: 'ipv6', priority: 1000, fwmark: 7, table: 70 }]);
    assert.deepEqual((await nl.listRules('ipv4')).filter((x) => x.priority === 1001), [{ family: 'ipv4', priority: 1001, from: '198.18.0.0/24', table: 71 }]);
    assert.equal((await nl.listRules('ipv4')).some((x) => x.priority === 1000), false, 'the IPv6 rule must not land in IPv4');
    assert.equal(r.errors.length, 5);
  });

  it('writes both families\' routes at once, maps each failure to its op and keeps barriers in order', async () => {
    await setupVeth();
    const want = hostRoutes(500);
    const ops: NetlinkOp[] = [];
    // Interleaved families, one kernel failure in each.
    for (let i = 0; i < 500; i++) {
      ops.push({ op: 'route.replace', route: i === 50 ? { ...want.ipv4[i]!, via: '198.18.99.2' } : want.ipv4[i]! });
      ops.push({ op: 'route.replace', route: i === 300 ? { ...want.ipv6[i]!, via: 'fd00:99::2' } : want.ipv6[i]! });
    }
    // A barrier: routes after it use a link created by it.
    ops.push({ op: 'link.veth', name: 'v2', peer: 'v3' }, { op: 'link.set', name: 'v2', up: true });
    ops.push({ op: 'route.replace', route: { dst: '198.18.80.0/24', dev: 'v2' } });
    ops.push({ op: 'route.replace', route: { dst: 'fd00:80::/64', dev: 'v2' } });
    const r = await nl.apply(ops);
    assert.deepEqual(r.errors.map((e) => e.index), [100, 601]);
    for (const e of r.errors) assert.match(e.message, /route replace .* via .*(198\.18\.99\.2|fd00:99::2)/);
    assert.equal(nl.batchPids().length, 2, 'one ip child per family');
    const got4 = (await nl.listRoutes({ family: 'ipv4' })).map((x) => x.dst);
    const got6 = (await nl.listRoutes({ family: 'ipv6' })).map((x) => x.dst);
    assert.equal(got4.length, 500);
    assert.equal(got6.length, 500);
    assert.ok(got4.includes('198.18.80.0/24') && got6.includes('fd00:80::/64'));
    assert.ok(!got4.includes(want.ipv4[50]!.dst) && !got6.includes(want.ipv6[300]!.dst));
  });

  it('fails the batch clearly when one family\'s ip process is killed while both run, and recovers', async () => {
    await setupVeth();
    const want = hostRoutes(10_000);
    await nl.apply([{ op: 'route.replace', route: want.ipv6[0]! }]);
    const pids = nl.batchPids();
    assert.equal(pids.length, 2);
    const ops = want.ipv4.flatMap((route, i): NetlinkOp[] => [
      { op: 'route.replace', route },
      { op: 'route.replace', route: want.ipv6[i]! },
    ]);
    const pending = nl.apply(ops);
    process.kill(pids[1]!, 'SIGKILL');
    await assert.rejects(pending, (e: unknown) => e instanceof NetlinkBatchError && /killed by SIGKILL/.test(e.message));
    const r = await nl.apply([
      { op: 'route.replace', route: { dst: '198.18.72.0/24', via: '198.18.0.2' } },
      { op: 'route.replace', route: { dst: 'fd00:72::/64', via: 'fd00:1::2' } },
    ]);
    assert.deepEqual(r, { ok: true, errors: [] });
  });

  it('restarts a killed ip process on the next apply', async () => {
    await setupVeth();
    const [pid] = nl.batchPids();
    assert.ok(pid);
    const gone = new Promise<void>((resolve) => {
      const poll = () => {
        try {
          process.kill(pid, 0);
          setTimeout(poll, 10);
        } catch {
          resolve();
        }
      };
      poll();
    });
    process.kill(pid, 'SIGKILL');
    await gone;
    const r = await nl.apply([{ op: 'route.replace', route: { dst: '198.18.70.0/24', via: '198.18.0.2' } }]);
    assert.deepEqual(r, { ok: true, errors: [] });
    assert.notEqual(nl.batchPids()[0], pid);
    assert.deepEqual((await nl.listRoutes({ family: 'ipv4' })).map((x) => x.dst), ['198.18.70.0/24']);
  });

  it('fails the in-flight batch clearly when the ip process is killed during it', async () => {
    await setupVeth();
    const [pid] = nl.batchPids();
    const want = hostRoutes(10_000);
    const pending = nl.apply(want.ipv4.map((route): NetlinkOp => ({ op: 'route.replace', route })));
    process.kill(pid!, 'SIGKILL');
    await assert.rejects(pending, (e: unknown) => e instanceof NetlinkBatchError && /killed by SIGKILL/.test(e.message) && /next apply/.test(e.message));
    const r = await nl.apply([{ op: 'route.replace', route: { dst: '198.18.71.0/24', via: '198.18.0.2' } }]);
    assert.deepEqual(r, { ok: true, errors: [] });
  });

  it('serialises concurrent applies', async () => {
    await setupVeth();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => nl.apply([{ op: 'route.replace', route: { dst: `198.18.${100 + i}.0/24`, via: '198.18.99.2' } }, { op: 'route.replace', route: { dst: `198.18.${100 + i}.0/24`, via: '198.18.0.2' } }])),
    );
    for (const r of results) assert.deepEqual(r.errors.map((e) => e.index), [0]);
    assert.equal((await nl.listRoutes({ family: 'ipv4' })).length, 20);
  });

  it('sets and reads sysctls inside the namespace', async () => {
    await setupVeth();
    await nl.setSysctl('net.ipv4.ip_forward', 1);
    await nl.setSysctl('net/ipv6/conf/v0/forwarding', '1');
    assert.equal(await nl.getSysctl('net.ipv4.ip_forward'), '1');
    assert.equal(await nl.getSysctl('net.ipv6.conf.v0.forwarding'), '1');
    assert.equal(inNetns(ns, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '1');
    await nl.setSysctl('net.ipv4.ip_forward', 0);
    assert.equal(await nl.getSysctl('net.ipv4.ip_forward'), '0');
    await assert.rejects(nl.setSysctl('../../etc/passwd', 1), /invalid sysctl key/);
  });
});
