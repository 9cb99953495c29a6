/**
 * GobgpService against real gobgpd processes: two nodes in namespaces joined
 * by a veth, iBGP (ASN 64512), one session per family. gobgp waits a random
 * 5-10 s before dialing, so every check polls with a generous test timeout.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BgpDesiredState, BgpEvent, BgpPath, BgpPeer, BgpPolicy, BgpRoute, Family, LogFields, Logger } from '@krouter/sdk';
import { GobgpService } from '../../core/services/gobgp/index.ts';
import { Metrics } from '../../core/services/metrics.ts';
import { addAddress, createNetns, linkNetns, requireRoot } from '../helpers/netns.ts';

const ASN = 64512;
const A = { v4: '198.18.0.1', v6: 'fd00:18::1' };
const B = { v4: '198.18.0.2', v6: 'fd00:18::2' };
const PREFIX = { ipv4: '198.19.10.0/24', ipv6: 'fd00:10::/64' } as const;

function quietLogger(): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (msg: string, fields?: LogFields) => console.error('gobgp test error:', msg, fields ?? ''),
    child: () => logger,
  };
  return logger;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The real gobgp CLI's view of a node's global RIB; throws if the CLI fails. */
function cliRib(ns: string, sock: string, family: Family): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'gobgp', '--target', `unix://${sock}`, 'global', 'rib', '-a', family], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * A node's desired BGP state, changed one object at a time the way a test
 * reads best; every change hands the whole state to the service.
 */
class Desired {
  state: BgpDesiredState & { peers: BgpPeer[]; paths: BgpPath[] } = { peers: [], paths: [], policies: {} };
  constructor(readonly svc: GobgpService) {}
  private apply() {
    return this.svc.apply(structuredClone(this.state));
  }
  start(global: NonNullable<BgpDesiredState['global']>) {
    this.state.global = global;
    return this.apply();
  }
  addPeer(peer: BgpPeer) {
    this.state.peers = [...this.state.peers.filter((p) => p.address !== peer.address), peer];
    return this.apply();
  }
  /** Adds a path; rejects with the service's reason when the path is refused (and leaves it out). */
  async addPath(path: BgpPath) {
    const before = this.state.paths;
    this.state.paths = [...before.filter((p) => p.prefix !== path.prefix), path];
    const result = await this.apply();
    if (result.rejected.length > 0) {
      this.state.paths = before;
      throw new Error(result.rejected.map((r) => r.message).join('; '));
    }
  }
  deletePath(prefix: string) {
    this.state.paths = this.state.paths.filter((p) => p.prefix !== prefix);
    return this.apply();
  }
  setPolicy(direction: 'import' | 'export', policy: BgpPolicy | undefined) {
    this.state.policies = { ...this.state.policies, [direction]: policy };
    return this.apply();
  }
}

describe('gobgp service (real gobgpd, two namespaces)', function () {
  this.timeout(240_000);

  let nsA: string;
  let nsB: string;
  let dir: string;
  let sockA: string;
  let sockB: string;
  let a: GobgpService;
  let b: GobgpService;
  let da: Desired;
  let db: Desired;
  const eventsB: BgpEvent[] = [];

  before(async () => {
    requireRoot();
    nsA = createNetns('gobgp-a');
    nsB = createNetns('gobgp-b');
    linkNetns(nsA, 'veth-gba', nsB, 'veth-gbb');
    addAddress(nsA, 'veth-gba', `${A.v4}/24`);
    addAddress(nsA, 'veth-gba', `${A.v6}/64`);
    addAddress(nsB, 'veth-gbb', `${B.v4}/24`);
    addAddress(nsB, 'veth-gbb', `${B.v6}/64`);
    dir = mkdtempSync(path.join(os.tmpdir(), 'krouter-gobgp-'));
    sockA = path.join(dir, 'a', 'gobgp.sock');
    sockB = path.join(dir, 'b', 'gobgp.sock');
    a = new GobgpService({ logger: quietLogger(), metrics: new Metrics(false), socketPath: sockA, netns: nsA, restartBackoffMs: 200 });
    b = new GobgpService({ logger: quietLogger(), metrics: new Metrics(false), socketPath: sockB, netns: nsB, restartBackoffMs: 200 });
    b.watch((e) => eventsB.push(e));
    da = new Desired(a);
    db = new Desired(b);
    await da.start({ asn: ASN, routerId: A.v4, families: ['ipv4', 'ipv6'] });
    await db.start({ asn: ASN, routerId: B.v4, families: ['ipv4', 'ipv6'] });
    // One session per family, each over an address of that family.
    await da.addPeer({ address: B.v4, asn: ASN, families: ['ipv4'] });
    await da.addPeer({ address: B.v6, asn: ASN, families: ['ipv6'] });
    await db.addPeer({ address: A.v4, asn: ASN, families: ['ipv4'] });
    await db.addPeer({ address: A.v6, asn: ASN, families: ['ipv6'] });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is ready after its first apply and refuses a second gobgpd on the same socket', async () => {
    assert.equal(a.ready, true);
    assert.equal(b.ready, true);
    const other = new GobgpService({ logger: quietLogger(), metrics: new Metrics(false), socketPath: sockA, netns: nsA });
    await assert.rejects(other.apply({ global: { asn: ASN, routerId: A.v4, families: ['ipv4'] }, peers: [], paths: [] }), /held by another live process/);
    assert.equal(other.ready, false);
    await other.close();
    // The first service's gobgpd is untouched.
    assert.doesNotThrow(() => cliRib(nsA, sockA, 'ipv4'));
  });

  it('reaches established for both sessions in listPeers', async () => {
    const peers = await waitFor('both sessions established on A', async () => {
      const ps = await a.listPeers();
      return ps.length === 2 && ps.every((p) => p.state === 'established') ? ps : undefined;
    });
    assert.deepEqual(peers.map((p) => p.address).sort(), [B.v4, B.v6].sort());
    for (const p of peers) {
      assert.equal(p.asn, ASN);
      assert.equal(typeof p.uptime, 'number');
    }
    assert.deepEqual(Object.keys(peers.find((p) => p.address === B.v4)!.families), ['ipv4']);
    assert.deepEqual(Object.keys(peers.find((p) => p.address === B.v6)!.families), ['ipv6']);
    await waitFor('B sees both sessions established', async () => {
      const ps = await b.listPeers();
      return ps.length === 2 && ps.every((p) => p.state === 'established') ? true : undefined;
    });
    assert.ok(eventsB.some((e) => e.type === 'peer' && e.peer.state === 'established'), 'peer state events on the watch stream');
  });

  it('advertises an IPv4 and an IPv6 prefix, each landing in its own RIB on the peer', async () => {
    await da.addPath({ prefix: PREFIX.ipv4, nextHop: A.v4, communities: ['64512:10'] });
    await da.addPath({ prefix: PREFIX.ipv6, nextHop: A.v6 });

    const v4 = await waitFor('IPv4 path on B', async () => (await b.listPaths('ipv4')).find((r) => r.prefix === PREFIX.ipv4));
    assert.equal(v4.family, 'ipv4');
    assert.equal(v4.nextHop, A.v4);
    assert.equal(v4.source, A.v4);
    assert.deepEqual(v4.communities, ['64512:10']);
    const v6 = await waitFor('IPv6 path on B', async () => (await b.listPaths('ipv6')).find((r) => r.prefix === PREFIX.ipv6));
    assert.equal(v6.family, 'ipv6');
    assert.equal(v6.nextHop, A.v6);

    // Each RIB holds only its own family's prefixes.
    assert.ok((await b.listPaths('ipv4')).every((r) => r.family === 'ipv4' && !r.prefix.includes(':')));
    assert.ok((await b.listPaths('ipv6')).every((r) => r.family === 'ipv6' && r.prefix.includes(':')));

    // The real CLI reads both RIBs without error (kube-router's bug made `-a ipv4` crash).
    const ribV4 = cliRib(nsB, sockB, 'ipv4');
    const ribV6 = cliRib(nsB, sockB, 'ipv6');
    assert.match(ribV4, /198\.19\.10\.0\/24/);
    assert.doesNotMatch(ribV4, /fd00|<nil>/);
    assert.match(ribV6, /fd00:10::\/64/);
    assert.doesNotMatch(ribV6, /198\.19\./);

    // The watch stream carried best events with the right family and next hop.
    const best = (prefix: string) =>
      eventsB.find((e): e is { type: 'best'; route: BgpRoute } => e.type === 'best' && e.route.prefix === prefix);
    const bestV4 = await waitFor('best IPv4 event on B', () => best(PREFIX.ipv4));
    assert.equal(bestV4.route.family, 'ipv4');
    assert.equal(bestV4.route.nextHop, A.v4);
    const bestV6 = await waitFor('best IPv6 event on B', () => best(PREFIX.ipv6));
    assert.equal(bestV6.route.family, 'ipv6');
    assert.equal(bestV6.route.nextHop, A.v6);
  });

  it('refuses a next hop of the other family and leaves both RIBs untouched', async () => {
    await assert.rejects(da.addPath({ prefix: 'fd00:11::/64', nextHop: A.v4 }), /fd00:11::\/64.*198\.18\.0\.1|198\.18\.0\.1.*fd00:11::\/64/);
    await assert.rejects(da.addPath({ prefix: '198.19.11.0/24', nextHop: A.v6 }), /198\.19\.11\.0\/24.*fd00:18::1|fd00:18::1.*198\.19\.11\.0\/24/);
    for (const [ns, sock, svc] of [
      [nsA, sockA, a],
      [nsB, sockB, b],
    ] as const) {
      const v4 = cliRib(ns, sock, 'ipv4');
      const v6 = cliRib(ns, sock, 'ipv6');
      assert.doesNotMatch(v4, /198\.19\.11\.|fd00:11|<nil>/);
      assert.doesNotMatch(v6, /198\.19\.11\.|fd00:11/);
      const all = [...(await svc.listPaths('ipv4')), ...(await svc.listPaths('ipv6'))].map((r) => r.prefix);
      assert.ok(!all.includes('fd00:11::/64') && !all.includes('198.19.11.0/24'), `no refused path on ${ns}: ${all.join(' ')}`);
    }
  });

  it('restarts gobgpd killed with SIGKILL and brings its paths back to the peer', async () => {
    const pid = a.gobgpdPid;
    assert.ok(pid, 'gobgpd of A has a PID');
    let restarted = false;
    const off = a.watch((e) => {
      if (e.type === 'restarted') restarted = true;
    });
    const mark = eventsB.length;
    process.kill(pid, 'SIGKILL');
    await waitFor('gobgpd of A restarted', () => (restarted && a.ready && a.gobgpdPid && a.gobgpdPid !== pid ? true : undefined));
    off();
    // B lost the session (the kernel closed the dead process's TCP connections) and withdrew A's paths.
    const withdrawnAt = await waitFor('B withdraws A\'s IPv4 path', () => {
      const i = eventsB.findIndex((e, j) => j >= mark && e.type === 'withdraw' && e.route.prefix === PREFIX.ipv4);
      return i >= 0 ? i : undefined;
    });
    // The replayed paths are in A's RIB at once ...
    const localV4 = await a.listPaths('ipv4');
    assert.ok(localV4.some((r) => r.prefix === PREFIX.ipv4), 'IPv4 path replayed on A');
    // ... and B learns them again once the sessions are back.
    await waitFor('sessions re-established after the restart', async () => {
      const ps = await a.listPeers();
      return ps.length === 2 && ps.every((p) => p.state === 'established') ? true : undefined;
    });
    const v4 = await waitFor('IPv4 path back on B', async () => (await b.listPaths('ipv4')).find((r) => r.prefix === PREFIX.ipv4 && r.source === A.v4));
    assert.equal(v4.nextHop, A.v4);
    const v6 = await waitFor('IPv6 path back on B', async () => (await b.listPaths('ipv6')).find((r) => r.prefix === PREFIX.ipv6 && r.source === A.v6));
    assert.equal(v6.nextHop, A.v6);
    assert.match(cliRib(nsB, sockB, 'ipv6'), /fd00:10::\/64/);
    await waitFor('a best IPv4 event on B after the withdrawal', () =>
      eventsB.slice(withdrawnAt + 1).some((e) => e.type === 'best' && e.route.prefix === PREFIX.ipv4 && e.route.nextHop === A.v4) ? true : undefined,
    );
  });

  it('withdraws a deleted path on the peer', async () => {
    const before = eventsB.length;
    await da.deletePath(PREFIX.ipv6);
    await waitFor('IPv6 path gone from B', async () => ((await b.listPaths('ipv6')).some((r) => r.prefix === PREFIX.ipv6) ? undefined : true));
    assert.doesNotMatch(cliRib(nsB, sockB, 'ipv6'), /fd00:10::\/64/);
    await waitFor('withdraw event on B', () =>
      eventsB.slice(before).some((e) => e.type === 'withdraw' && e.route.prefix === PREFIX.ipv6 && e.route.family === 'ipv6') ? true : undefined,
    );
    // Deleting a prefix that was never added changes nothing; the IPv4 path stays.
    await da.deletePath('198.19.99.0/24');
    assert.ok((await a.listPaths('ipv4')).some((r) => r.prefix === PREFIX.ipv4));
    assert.ok((await b.listPaths('ipv4')).some((r) => r.prefix === PREFIX.ipv4));
  });

  it('applies export policies to paths already advertised, and removes them again', async () => {
    const onB = async () => (await b.listPaths('ipv4')).find((r) => r.prefix === PREFIX.ipv4);
    await da.setPolicy('export', {
      name: 'tag-pods',
      statements: [{ prefixes: [{ prefix: '198.19.0.0/16', maskLengthMax: 24 }], action: 'accept', addCommunities: ['64512:99'] }],
    });
    await waitFor('community added by the export policy seen on B', async () => ((await onB())?.communities.includes('64512:99') ? true : undefined));
    await da.setPolicy('export', { name: 'block', statements: [{ prefixes: [{ prefix: PREFIX.ipv4 }], action: 'reject' }] });
    await waitFor('path rejected by the export policy gone from B', async () => ((await onB()) ? undefined : true));
    await da.setPolicy('export', undefined);
    const back = await waitFor('path back on B without the policy', () => onB());
    assert.deepEqual(back.communities, ['64512:10']);
  });

  it('an unchanged peer config is a no-op, a changed one updates in place', async () => {
    await da.addPeer({ address: B.v4, asn: ASN, families: ['ipv4'] });
    assert.equal((await a.listPeers()).length, 2);
    await da.addPeer({ address: B.v4, asn: ASN, families: ['ipv4'], description: 'node b' });
    const p = await waitFor('description updated', async () => (await a.listPeers()).find((x) => x.address === B.v4 && x.description === 'node b'));
    assert.equal(p.asn, ASN);
    assert.equal((await a.listPeers()).length, 2);
  });
});
