import assert from 'node:assert/strict';
import { knpArgs, knpRbac, queueRefusal } from '../bench/anchors/kube-network-policies/anchor.ts';
import { firstDeniedAfter, median, podEnforcement, type ProbeSample } from '../bench/enforcement.ts';
import { compareRows } from '../bench/kube-network-policies-compare.bench.ts';
import { throughputPolicies } from '../bench/throughput-policies.ts';

/** Samples from a string: `+` answered, `-` denied, one every 10 ms from t=100, each 5 ms long. */
const timeline = (s: string): ProbeSample[] => [...s].map((c, i) => ({ start: 100 + 10 * i, end: 105 + 10 * i, ok: c === '+' }));

describe('bench: kube-network-policies compare (pure parts)', () => {
  it('policy created -> the first denied probe sent at or after creation', () => {
    // A probe denied before t0 (a lost packet) does not count.
    const s = timeline('+-++++---');
    assert.equal(firstDeniedAfter(s, 125), 160 - 125);
    assert.equal(firstDeniedAfter(timeline('+++'), 100), undefined);
  });

  it('pod created under deny: enforced after the last probe that reached it', () => {
    // Refused while not serving, reached twice, then denied for good.
    assert.deepEqual(podEnforcement(timeline('--++---'), 50), { enforcedMs: 140 - 50, leaked: 2, openMs: 10 });
    // Never reached: enforced from the first probe on.
    assert.deepEqual(podEnforcement(timeline('-----'), 50), { enforcedMs: 50, leaked: 0, openMs: 0 });
    // Still reached at the end: never enforced.
    assert.equal(podEnforcement(timeline('--+'), 50), undefined);
    assert.equal(podEnforcement([], 50), undefined);
  });

  it('median of odd, even and empty lists', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('names a missing nftables queue expression as the blocker', () => {
    assert.match(queueRefusal('/dev/stdin:4:5-30: Error: Could not process rule: No such file or directory')!, /CONFIG_NFT_QUEUE/);
    assert.match(queueRefusal('Error: Operation not permitted')!, /Operation not permitted/);
    assert.equal(queueRefusal(''), undefined);
  });

  it("runs kube-network-policies as the node, on the lab's queue, metrics on loopback only", () => {
    const args = knpArgs('node-2');
    assert.ok(args.includes('--hostname-override=node-2'));
    assert.ok(args.includes('--nfqueue-id=100'));
    assert.ok(args.includes('--metrics-bind-address=127.0.0.1:9080'));
    const { clusterRole, binding } = knpRbac();
    assert.deepEqual(clusterRole.rules.slice(0, 2).map((r: { resources: string[] }) => r.resources), [['pods', 'namespaces'], ['networkpolicies']]);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kube-network-policies', namespace: 'kube-system' }]);
  });

  it('throughput policies all select the server; only the chosen one admits the client', () => {
    const ps = throughputPolicies('tp', 4, 5201, 3);
    assert.deepEqual(ps.map((p) => p.spec.ingress[0].from[0].podSelector.matchLabels.app), ['other-0', 'other-1', 'other-2', 'client']);
    assert.ok(ps.every((p) => p.spec.podSelector.matchLabels.app === 'server' && p.spec.ingress[0].ports[0].port === 5201));
  });

  it('rows: raw NaN and the reason when kube-network-policies is blocked', () => {
    const kr = { policyMs: [30, 10, 20], podMs: [200, 100, 300], leaked: 0, openMs: [0, 0, 0], unpoliced: [10e9, 10e9, 10e9], policed: [9e9, 9e9, 9e9] };
    const rows = compareRows(kr, undefined, 'no queue');
    assert.equal(rows[0]!.krouter, 20);
    assert.equal(rows[1]!.krouter, 200);
    assert.equal(rows[4]!.krouter, 0.9);
    assert.ok(rows.every((r) => Number.isNaN(r.raw)));
    assert.match(rows[0]!.target!, /blocked: no queue/);
    const both = compareRows(kr, { ...kr, policyMs: [40, 40, 40] });
    assert.equal(both[0]!.raw, 40);
    assert.equal(both[0]!.target, 'krouter faster');
  });
});
