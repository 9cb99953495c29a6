import assert from 'node:assert/strict';
import type { BgpDesiredState } from '@krouter/sdk';
import { diffState, emptyPlan, emptyState, normalizeDesired } from '../../core/services/gobgp/desired.ts';
import { BgpInputError } from '../../core/services/gobgp/encode.ts';

const base: BgpDesiredState = {
  global: { asn: 64512, routerId: '198.18.0.11', families: ['ipv4', 'ipv6'] },
  peers: [{ address: 'fd00:18::c', asn: 64512, families: ['ipv4', 'ipv6'], extendedNexthop: true }],
  paths: [
    { prefix: '198.19.1.0/24', nextHop: 'fd00:18::b', extendedNexthop: true },
    { prefix: 'fd00:19:0:1::/64', nextHop: 'fd00:18::b' },
  ],
};

describe('gobgp desired state and diff (pure)', () => {
  it('keys paths by canonical prefix and peers by canonical address', () => {
    const { state, rejected } = normalizeDesired({ ...base, peers: [{ address: 'FD00:18:0::C', asn: 64512, families: ['ipv6'] }], paths: [{ prefix: 'fd00:19:0:1:0::/64', nextHop: 'fd00:18::b' }] });
    assert.deepEqual(rejected, []);
    assert.deepEqual([...state.peers.keys()], ['fd00:18::c']);
    assert.deepEqual([...state.paths.keys()], ['fd00:19:0:1::/64']);
  });

  it('rejects a malformed or duplicate peer or path alone, and throws on a bad global config', () => {
    const { state, rejected } = normalizeDesired({
      ...base,
      peers: [...base.peers, { address: 'fd00:18::c', asn: 64512, families: ['ipv6'] }, { address: 'nope', asn: 1, families: ['ipv4'] }],
      paths: [...base.paths, { prefix: 'fd00:11::/64', nextHop: '198.18.0.1' }, { prefix: '198.19.2.0/24', nextHop: 'fd00:18::b' }],
    });
    assert.deepEqual(
      rejected.map((r) => [r.object, r.key, r.kind]),
      [
        ['peer', 'fd00:18::c', 'invalid'],
        ['peer', 'nope', 'invalid'],
        ['path', 'fd00:11::/64', 'invalid'],
        ['path', '198.19.2.0/24', 'invalid'],
      ],
    );
    assert.equal(state.peers.size, 1);
    assert.equal(state.paths.size, 2);
    assert.throws(() => normalizeDesired({ ...base, global: { asn: 0, routerId: '198.18.0.11', families: ['ipv4'] } }), BgpInputError);
  });

  it('plans nothing between equal states, everything from nothing', () => {
    const a = normalizeDesired(base).state;
    const b = normalizeDesired(structuredClone(base)).state;
    assert.ok(emptyPlan(diffState(a, b)));
    const plan = diffState(emptyState(), a);
    assert.equal(plan.global, 'start');
    assert.equal(plan.addPaths.length, 2);
    assert.equal(plan.addPeers.length, 1);
    assert.deepEqual(plan.policies, [], 'no policies desired: a fresh gobgpd has none to set');
  });

  it('plans a changed path as one add, a changed peer as one update, and a new global config as a restart', () => {
    const a = normalizeDesired(base).state;
    const changed = normalizeDesired({
      ...base,
      peers: [{ ...base.peers[0]!, holdTime: 9 }],
      paths: [{ ...base.paths[0]!, communities: ['64512:1'] }, base.paths[1]!],
    }).state;
    const plan = diffState(a, changed);
    assert.equal(plan.global, 'same');
    assert.deepEqual(plan.addPaths.map((p) => p.encoded.prefix), ['198.19.1.0/24']);
    assert.deepEqual(plan.updatePeers.map((p) => p.peer.address), ['fd00:18::c']);
    assert.deepEqual(plan.deletePaths, []);
    const restart = diffState(a, normalizeDesired({ ...base, global: { ...base.global!, asn: 64513 } }).state);
    assert.equal(restart.global, 'restart');
    assert.equal(restart.addPaths.length, 2);
  });

  it('changes the export policy when a peer starts or stops being next-hop-self', () => {
    const a = normalizeDesired(base).state;
    const nhs = normalizeDesired({ ...base, peers: [{ ...base.peers[0]!, nextHopSelf: true }] }).state;
    const plan = diffState(a, nhs);
    assert.deepEqual(plan.policies, ['export']);
    assert.equal(plan.updatePeers.length, 1);
  });

  it('plans to stop when no global config is desired', () => {
    const a = normalizeDesired(base).state;
    assert.equal(diffState(a, normalizeDesired({ peers: [], paths: [] }).state).global, 'stop');
  });
});
