import assert from 'node:assert/strict';
import type { NetlinkOp } from '@krouter/sdk';
import { BatchStderrReader, MARKER_LINE } from '../../core/services/netlink/batch-output.ts';
import { interpretOutcome, planBatch } from '../../core/services/netlink/plan.ts';

describe('netlink batch stderr reader', () => {
  it('maps messages to the cumulative line numbers ip names, across chunk boundaries', () => {
    const r = new BatchStderrReader();
    assert.deepEqual(r.feed('RTNETLINK answers: File exists\nCommand fa'), []);
    assert.deepEqual(r.feed('iled -:2\nError: Nexthop has invalid gateway.\nCommand failed -:4\n'), [
      { line: 2, message: 'RTNETLINK answers: File exists' },
      { line: 4, message: 'Error: Nexthop has invalid gateway.' },
    ]);
    assert.deepEqual(r.feed('Command failed -:9\n'), [{ line: 9, message: 'failed (no message from ip)' }]);
  });

  it('keeps what ip said before exiting', () => {
    const r = new BatchStderrReader();
    r.feed('Error: argument "x" is wrong: Device does not exist\n');
    assert.equal(r.unfinished(), 'Error: argument "x" is wrong: Device does not exist');
  });
});

describe('netlink batch plan', () => {
  const ops: NetlinkOp[] = [
    { op: 'route.replace', route: { dst: '198.18.1.0/24', dev: 'v0' } }, // 0
    { op: 'route.replace', route: { dst: 'fd00:1::/64', via: '198.18.0.1' } }, // 1: wrong family
    { op: 'link.set', name: 'v1', master: 'br0' }, // 2: fenced
    { op: 'route.replace', route: { dst: 'fd00:1::/64', dev: 'v0' } }, // 3
    { op: 'rule.add', rule: { family: 'ipv6', priority: 5, table: 5 } }, // 4: ipv6 channel
    { op: 'addr.replace', dev: 'v0', cidr: 'bogus' }, // 5: bad CIDR
    { op: 'link.delete', name: 'v9' }, // 6
  ];

  it('renders good ops into segments, refuses bad ones by index, fences fatal ones', () => {
    const plan = planBatch(ops);
    assert.deepEqual(plan.errors.map((e) => e.index), [1, 5]);
    assert.match(plan.errors[0]!.message, /route fd00:1::\/64 via 198\.18\.0\.1/);
    assert.match(plan.errors[1]!.message, /address on v0/);
    // Routes go to their family's process and may overlap the other family's; the rest are barriers.
    assert.deepEqual(
      plan.segments.map((s) => [s.channel, s.concurrent, s.lines.map((l) => l.opIndex)]),
      [
        ['main', true, [0]],
        ['main', false, [-1, 2, -1]],
        ['ipv6', true, [3]],
        ['ipv6', false, [4]],
        ['main', false, [6]],
      ],
    );
    assert.equal(plan.segments[1]!.lines[0]!.text, MARKER_LINE);
  });

  it('keeps an IPv4 route over an IPv6 gateway a barrier', () => {
    const plan = planBatch([
      { op: 'route.replace', route: { dst: '198.18.1.0/24', via: 'fd00::1', extendedNexthop: true, dev: 'v0' } },
      { op: 'route.replace', route: { dst: '198.18.2.0/24', via: '198.18.0.1' } },
      { op: 'route.delete', route: { dst: 'fd00:2::/64', via: 'fd00::1' } },
    ]);
    assert.deepEqual(
      plan.segments.map((s) => [s.channel, s.concurrent, s.lines.map((l) => l.text)]),
      [
        ['main', false, ['route replace 198.18.1.0/24 via inet6 fd00::1 dev v0 proto 201']],
        ['main', true, ['route replace 198.18.2.0/24 via 198.18.0.1 proto 201']],
        ['ipv6', true, ['route delete fd00:2::/64 via fd00::1 proto 201']],
      ],
    );
  });

  it('maps failed lines back to op indexes and ignores markers', () => {
    const lines = planBatch(ops).segments.slice(0, 3).flatMap((s) => s.lines);
    const failed = new Map([
      [1, 'Device "krouter-end-of-batch" does not exist.'],
      [3, 'Device "krouter-end-of-batch" does not exist.'],
      [4, 'Cannot find device "v0"'],
    ]);
    const r = interpretOutcome(lines, { failed }, ops);
    assert.deepEqual(r.errors.map((e) => e.index), [3]);
    assert.match(r.errors[0]!.message, /route replace fd00:1::\/64 dev v0 proto 201.*Cannot find device "v0"/);
    assert.equal(r.resumeFrom, undefined);
    assert.equal(r.fatal, undefined);
  });

  it('pins an exit on the fenced op and resumes after it', () => {
    const lines = planBatch(ops).segments.slice(0, 3).flatMap((s) => s.lines);
    const failed = new Map([[1, 'marker']]);
    const r = interpretOutcome(lines, { failed, exited: { reason: 'exited with code 255: Error: no master', bySignal: false } }, ops);
    assert.deepEqual(r.errors.map((e) => e.index), [2]);
    assert.match(r.errors[0]!.message, /link set dev v1 master br0.*no master/);
    assert.equal(r.resumeFrom, 3);
  });

  it('reports an exit that cannot be pinned on one op as fatal for the unconfirmed ops', () => {
    const lines = planBatch(ops).segments.slice(0, 3).flatMap((s) => s.lines);
    const r = interpretOutcome(lines, { failed: new Map([[1, 'marker'], [3, 'marker']]), exited: { reason: 'killed by SIGKILL', bySignal: true } }, ops);
    assert.deepEqual(r.fatal, { reason: 'killed by SIGKILL', firstUnconfirmedOp: 3, lastOp: 3 });
    // Two unfenced ops before the first marker: either could have stopped ip.
    const unfenced = [lines[0]!, lines[4]!, ...lines];
    const r2 = interpretOutcome(unfenced, { failed: new Map(), exited: { reason: 'exited with code 255', bySignal: false } }, ops);
    assert.deepEqual(r2.fatal, { reason: 'exited with code 255', firstUnconfirmedOp: 0, lastOp: 3 });
    // One op alone before the first marker is the one ip stopped on.
    const r3 = interpretOutcome(lines, { failed: new Map(), exited: { reason: 'exited with code 255', bySignal: false } }, ops);
    assert.deepEqual([r3.errors.map((e) => e.index), r3.resumeFrom], [[0], 1]);
  });
});
