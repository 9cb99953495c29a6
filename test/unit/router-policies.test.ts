import assert from 'node:assert/strict';
import { parseCidr } from '@krouter/sdk';
import { importPolicy, refusal, refusedPrefixes } from '../../plugins/router/model/policies.ts';

describe('router import rule (one place for gobgpd and the kernel)', () => {
  const refused = refusedPrefixes(['198.18.240.0/20', 'fd00:20::/108'], ['ipv4', 'ipv6']);

  it('refuses default routes and anything inside the service ranges, per family', () => {
    const verdict = (p: string) => refusal(refused, parseCidr(p, undefined, { allowHostBits: true }));
    assert.equal(verdict('0.0.0.0/0'), 'default route');
    assert.equal(verdict('::/0'), 'default route');
    assert.equal(verdict('198.18.240.5/32'), 'excluded range');
    assert.equal(verdict('fd00:20::5/128'), 'excluded range');
    assert.equal(verdict('198.18.0.0/16'), undefined, 'a wider prefix is not inside the range');
    assert.equal(verdict('198.19.2.0/24'), undefined);
  });

  it('renders the same rule as gobgpd’s import policy, matching paths from any neighbour', () => {
    assert.deepEqual(importPolicy(refused), {
      name: 'krouter-import',
      statements: [
        {
          prefixes: [
            { prefix: '0.0.0.0/0', maskLengthMin: 0, maskLengthMax: 0 },
            { prefix: '::/0', maskLengthMin: 0, maskLengthMax: 0 },
          ],
          neighbors: ['0.0.0.0/0', '::/0'],
          action: 'reject',
        },
        {
          prefixes: [
            { prefix: '198.18.240.0/20', maskLengthMin: 20, maskLengthMax: 32 },
            { prefix: 'fd00:20::/108', maskLengthMin: 108, maskLengthMax: 128 },
          ],
          neighbors: ['0.0.0.0/0', '::/0'],
          action: 'reject',
        },
      ],
    });
  });
});
