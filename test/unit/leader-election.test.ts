import assert from 'node:assert/strict';
import { ApiWriteError, createLeaderElector, hostRange, hostRangeContains, hostRangeSize, bigIntToIP, ipToBigInt, microTime, type LeaderElector } from '@krouter/sdk';
import { FakeLeaseStore, MemoryLogger } from '@krouter/sdk/testing';

/** Two candidates on one Lease store, on a clock the test moves. */
function pair() {
  const store = new FakeLeaseStore();
  let clock = 0;
  const changes: string[] = [];
  const api = {
    getLease: async (ns: string, n: string) => store.get(ns, n),
    createLease: async (l: Parameters<FakeLeaseStore['create']>[0]) => store.create(l),
    updateLease: async (l: Parameters<FakeLeaseStore['update']>[0]) => store.update(l),
  };
  const make = (identity: string): LeaderElector =>
    createLeaderElector({
      api,
      namespace: 'kube-system',
      name: 'kube-router-lballoc',
      identity,
      logger: new MemoryLogger(),
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      now: () => clock,
      wallClock: () => new Date(Date.UTC(2026, 0, 1) + clock),
      onChange: (leading) => changes.push(`${identity} ${leading}`),
    });
  return { store, a: make('node-a'), b: make('node-b'), advance: (ms: number) => (clock += ms), changes };
}

describe('leader election (SDK)', () => {
  it('the first candidate creates the Lease and leads; the other stands by while it renews', async () => {
    const { store, a, b, advance } = pair();
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.equal(await b.tryAcquireOrRenew(), false);
    for (let i = 0; i < 20; i++) {
      advance(2_000);
      assert.equal(await a.tryAcquireOrRenew(), true, 'a renews');
      assert.equal(await b.tryAcquireOrRenew(), false, 'b sees a renewing and waits');
    }
    const lease = store.get('kube-system', 'kube-router-lballoc')!;
    assert.equal(lease.holderIdentity, 'node-a');
    assert.equal(lease.leaseDurationSeconds, 15);
    assert.match(lease.renewTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'MicroTime: six fraction digits');
    assert.equal(a.isLeader(), true);
    assert.equal(b.isLeader(), false);
    assert.equal(b.holder(), 'node-a');
  });

  it('a holder that stops renewing: it stops leading after the renew deadline, the other takes over only after the lease duration', async () => {
    const { store, a, b, advance } = pair();
    await a.tryAcquireOrRenew();
    await b.tryAcquireOrRenew();
    advance(9_999);
    assert.equal(a.isLeader(), true);
    advance(1);
    assert.equal(a.isLeader(), false, 'no renewal for 10 s: a stops acting');
    assert.equal(await b.tryAcquireOrRenew(), false, 'b has seen the lease unchanged for 10 s only');
    advance(5_000);
    assert.equal(await b.tryAcquireOrRenew(), true, 'unchanged for 15 s: b takes over');
    const lease = store.get('kube-system', 'kube-router-lballoc')!;
    assert.equal(lease.holderIdentity, 'node-b');
    assert.equal(lease.leaseTransitions, 1);
    assert.equal(await a.tryAcquireOrRenew(), false, 'a comes back and finds b holding it');
    assert.equal(a.isLeader(), false);
  });

  it('two candidates racing for a free Lease: exactly one wins (resourceVersion)', async () => {
    const { a, b } = pair();
    const results = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    assert.deepEqual(results.sort(), [false, true]);
    assert.notEqual(a.isLeader(), b.isLeader());
  });

  it('stop() hands the Lease back: the standby leads at its next try, not after the lease duration', async () => {
    const { store, a, b, advance, changes } = pair();
    await a.tryAcquireOrRenew();
    await b.tryAcquireOrRenew();
    await a.stop();
    assert.equal(store.get('kube-system', 'kube-router-lballoc')!.holderIdentity, '');
    advance(2_000);
    assert.equal(await b.tryAcquireOrRenew(), true);
    assert.deepEqual(changes, ['node-a true', 'node-a false', 'node-b true']);
  });

  it('a failed renewal keeps leading until the deadline, then not', async () => {
    const { store, a, advance } = pair();
    await a.tryAcquireOrRenew();
    advance(2_000);
    store.failNext = new ApiWriteError('other', 'connection refused');
    assert.equal(await a.tryAcquireOrRenew(), true, 'renewed 2 s ago: still within the deadline');
    advance(8_000);
    store.failNext = new ApiWriteError('other', 'connection refused');
    assert.equal(await a.tryAcquireOrRenew(), false, 'last successful renewal 10 s ago');
  });

  it('microTime prints six fraction digits', () => {
    assert.equal(microTime(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05.678000Z');
  });
});

describe('address ranges (SDK)', () => {
  it('host ranges skip network and broadcast (IPv4), the all-zero address (IPv6), and keep every address of /31, /32, /127, /128', () => {
    const r4 = hostRange('198.18.100.0/30');
    assert.deepEqual([bigIntToIP(r4.first, 'ipv4'), bigIntToIP(r4.last, 'ipv4'), hostRangeSize(r4)], ['198.18.100.1', '198.18.100.2', 2n]);
    const r6 = hostRange('fd00:100::/126');
    assert.deepEqual([bigIntToIP(r6.first, 'ipv6'), bigIntToIP(r6.last, 'ipv6'), hostRangeSize(r6)], ['fd00:100::1', 'fd00:100::3', 3n]);
    assert.equal(hostRangeSize(hostRange('198.18.100.4/31')), 2n);
    assert.equal(hostRangeSize(hostRange('198.18.100.9/32')), 1n);
    assert.equal(hostRangeSize(hostRange('fd00:100::/127')), 2n);
    assert.equal(hostRangeSize(hostRange('fd00:100::/64')), (1n << 64n) - 1n);
    assert.equal(hostRangeContains(r4, '198.18.100.3'), false);
    assert.equal(hostRangeContains(r4, 'fd00:100::1'), false);
    assert.equal(hostRangeContains(r6, 'fd00:100::2'), true);
    assert.equal(ipToBigInt('0.0.0.1'), 1n);
    assert.throws(() => hostRange('198.18.100.1/30'), /host bits/);
  });
});
