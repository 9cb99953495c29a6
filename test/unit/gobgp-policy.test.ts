import assert from 'node:assert/strict';
import { BgpInputError } from '../../core/services/gobgp/encode.ts';
import { POLICY_NAMES, globalAssignment, renderPolicies } from '../../core/services/gobgp/policy.ts';

describe('gobgp policy rendering', () => {
  it('renders nothing (no policies, no assignments) when nothing is desired', () => {
    assert.deepEqual(renderPolicies({}), { setPolicies: { defined_sets: [], policies: [] }, assignments: { import: [], export: [] } });
  });

  it('splits a statement whose prefixes span both families into one statement per family', () => {
    const r = renderPolicies({
      export: {
        name: 'pods',
        statements: [
          {
            prefixes: [{ prefix: '198.19.0.0/16', maskLengthMax: 24 }, { prefix: 'fd00:10::/56', maskLengthMin: 64, maskLengthMax: 64 }],
            action: 'accept',
            addCommunities: ['64512:1'],
          },
        ],
      },
    });
    assert.deepEqual(r.assignments, { import: [], export: [POLICY_NAMES.export] });
    assert.deepEqual(r.setPolicies.defined_sets, [
      { defined_type: 'PREFIX', name: 'krouter-export-0-ipv4', list: [], prefixes: [{ ip_prefix: '198.19.0.0/16', mask_length_min: 16, mask_length_max: 24 }] },
      { defined_type: 'PREFIX', name: 'krouter-export-0-ipv6', list: [], prefixes: [{ ip_prefix: 'fd00:10::/56', mask_length_min: 64, mask_length_max: 64 }] },
    ]);
    const [policy] = r.setPolicies.policies as Array<{ name: string; statements: Array<Record<string, any>> }>;
    assert.equal(policy!.name, 'krouter-export');
    assert.deepEqual(
      policy!.statements.map((s) => [s.name, s.conditions.prefix_set.name, s.actions.route_action, s.actions.community]),
      [
        ['krouter-export-0-ipv4', 'krouter-export-0-ipv4', 'ACCEPT', { type: 'ADD', communities: ['64512:1'] }],
        ['krouter-export-0-ipv6', 'krouter-export-0-ipv6', 'ACCEPT', { type: 'ADD', communities: ['64512:1'] }],
      ],
    );
  });

  it('renders neighbor sets, prepend and next hop actions; an exact prefix matches only its own length', () => {
    const r = renderPolicies({
      import: {
        name: 'in',
        statements: [
          { neighbors: ['198.18.0.9', 'fd00:18::/64'], action: 'reject' },
          { prefixes: [{ prefix: '198.19.5.0/24' }], action: 'accept', prependAsn: { asn: 64512, repeat: 2 }, nextHop: 'self' },
          { action: 'accept', nextHop: 'fd00:18::1' },
        ],
      },
    });
    assert.deepEqual(r.assignments, { import: ['krouter-import'], export: [] });
    const sets = r.setPolicies.defined_sets as Array<Record<string, any>>;
    assert.deepEqual(sets[0], { defined_type: 'NEIGHBOR', name: 'krouter-import-0-neighbors', list: ['198.18.0.9/32', 'fd00:18::/64'], prefixes: [] });
    assert.deepEqual(sets[1]!.prefixes, [{ ip_prefix: '198.19.5.0/24', mask_length_min: 24, mask_length_max: 24 }]);
    const st = (r.setPolicies.policies[0] as { statements: Array<Record<string, any>> }).statements;
    assert.deepEqual(st[0]!.conditions, { neighbor_set: { type: 'ANY', name: 'krouter-import-0-neighbors' } });
    assert.deepEqual(st[1]!.actions, { route_action: 'ACCEPT', as_prepend: { asn: 64512, repeat: 2 }, nexthop: { self: true } });
    // A next-hop address is applied only to paths of its own family.
    assert.deepEqual(st[2]!.conditions, { afi_safi_in: [{ afi: 'AFI_IP6', safi: 'SAFI_UNICAST' }] });
    assert.deepEqual(st[2]!.actions.nexthop, { address: 'fd00:18::1' });
  });

  it('renders next-hop-self peers as a leading export statement that does not decide', () => {
    const r = renderPolicies({}, ['fd00:18::2', '198.18.0.2']);
    assert.deepEqual(r.assignments.export, ['krouter-export']);
    assert.deepEqual(r.setPolicies.defined_sets, [
      { defined_type: 'NEIGHBOR', name: 'krouter-next-hop-self-peers', list: ['198.18.0.2/32', 'fd00:18::2/128'], prefixes: [] },
    ]);
    const st = (r.setPolicies.policies[0] as { statements: Array<Record<string, any>> }).statements;
    assert.deepEqual(st[0]!.actions, { route_action: 'NONE', nexthop: { self: true } });
  });

  it('refuses bad policies naming the statement and key', () => {
    const bad = (statements: unknown[]) => () => renderPolicies({ export: { name: 'p', statements: statements as never } });
    assert.throws(bad([{ action: 'maybe' }]), /statements\[0\].*action/);
    assert.throws(bad([{ action: 'accept', prefixes: [{ prefix: '198.19.0.1/16' }] }]), /statements\[0\]: prefixes\[0\].*host bits/);
    assert.throws(bad([{ action: 'accept', prefixes: [{ prefix: '198.19.0.0/16', maskLengthMin: 8 }] }]), /maskLengthMin/);
    assert.throws(bad([{ action: 'accept', prefixes: [{ prefix: '198.19.0.0/16', maskLengthMax: 33 }] }]), /maskLengthMax/);
    assert.throws(bad([{ action: 'accept', addCommunities: ['x:y'] }]), /community/);
    assert.throws(bad([{ action: 'accept', neighbors: ['nope'] }]), /neighbors\[0\]/);
    assert.throws(bad([{ action: 'accept', prependAsn: { asn: 1, repeat: 0 } }]), /prependAsn\.repeat/);
    // A next-hop address cannot apply to prefixes of the other family.
    assert.throws(bad([{ action: 'accept', nextHop: '198.18.0.1', prefixes: [{ prefix: 'fd00::/8' }] }]), /nextHop.*ipv4.*ipv6/);
    assert.throws(() => renderPolicies({ import: { name: '', statements: [] } }), BgpInputError);
  });

  it('builds global assignments that accept by default', () => {
    assert.deepEqual(globalAssignment('export', ['krouter-export']), {
      assignment: { name: 'global', direction: 'EXPORT', policies: [{ name: 'krouter-export' }], default_action: 'ACCEPT' },
    });
    assert.deepEqual(globalAssignment('import', []).assignment, { name: 'global', direction: 'IMPORT', policies: [], default_action: 'ACCEPT' });
  });
});
