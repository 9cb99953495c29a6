import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { cidrContains, parseCidr as fastParseCidrFull, parseIP as fastParseIP } from '@krouter/sdk';
import { parseCidrGeneric as parseCidr, parseIPGeneric as parseIP } from '../../sdk/src/address-parse.ts';

const fastParseCidr = (input: string, opts: { allowHostBits?: boolean } = {}) => fastParseCidrFull(input, undefined, opts);

/** The SDK's fast paths must agree with its generic (ipaddr.js) parsers exactly: same result or the same error. */
function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

function randomV6(rand: () => number): string {
  const groups = Array.from({ length: 8 }, () => (rand() < 0.4 ? 0 : Math.floor(rand() * 0x10000)));
  const style = rand();
  if (style < 0.3) return groups.map((g) => g.toString(16)).join(':');
  if (style < 0.5) return groups.map((g) => g.toString(16).padStart(4, '0').toUpperCase()).join(':');
  const a = Math.floor(rand() * 8);
  const b = a + Math.floor(rand() * (8 - a));
  return `${groups.slice(0, a).map((g) => g.toString(16)).join(':')}::${groups.slice(b + 1).map((g) => g.toString(16)).join(':')}`;
}

describe('SDK fast address parsing', () => {
  const fixed = [
    '198.18.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '10.1', '1.2.3.4.5',
    'fd00::1', '::', '::1', 'fd00:0:0::', 'FD00::ABCD', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', ':::', '1::2:',
    '::ffff:198.18.0.1', '::ffff:c612:1', '::c612:1', '0:0:0:0:0:ffff:c612:1', 'fe80::1%eth0', '12345::', 'g::1', '', ' fd00::1',
    '1:0:0:1:0:0:0:1', '1:0:0:0:1:0:0:1', '0:0:1:0:0:0:0:0',
  ];

  it('parses addresses exactly like the SDK', () => {
    for (const a of fixed) assert.deepEqual(outcome(() => fastParseIP(a)), outcome(() => parseIP(a)), a);
  });

  it('parses prefixes exactly like the SDK, host bits included', () => {
    const lens = ['0', '1', '8', '15', '16', '17', '24', '31', '32', '33', '48', '64', '127', '128', '129', 'x', '', '064'];
    for (const a of fixed) {
      for (const l of lens) {
        const c = `${a}/${l}`;
        assert.deepEqual(outcome(() => fastParseCidr(c)), outcome(() => parseCidr(c)), c);
        assert.deepEqual(outcome(() => fastParseCidr(c, { allowHostBits: true })), outcome(() => parseCidr(c, undefined, { allowHostBits: true })), c);
      }
    }
  });

  it('agrees with the SDK on random IPv6 text', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    for (let i = 0; i < 3000; i++) {
      const a = randomV6(rand);
      const l = String(Math.floor(rand() * 129));
      assert.deepEqual(outcome(() => fastParseIP(a)), outcome(() => parseIP(a)), a);
      assert.deepEqual(outcome(() => fastParseCidr(`${a}/${l}`)), outcome(() => parseCidr(`${a}/${l}`)), `${a}/${l}`);
    }
  });

  it('cidrContains agrees with ipaddr.js on random prefixes and addresses of both families', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    const v4 = () => Array.from({ length: 4 }, () => (rand() < 0.5 ? 198 : Math.floor(rand() * 256))).join('.');
    let inside = 0;
    for (let i = 0; i < 3000; i++) {
      const six = rand() < 0.5;
      const net = six ? randomV6(rand) : v4();
      // Addresses near the prefix: most share its leading bits, so both answers occur.
      const ip = rand() < 0.6 ? net : six ? randomV6(rand) : v4();
      const len = Math.floor(rand() * (six ? 129 : 33));
      let want: boolean;
      try {
        const n = ipaddr.parse(net);
        const a = ipaddr.parse(ip);
        want = n.kind() === a.kind() && a.match(n, len);
      } catch {
        continue;
      }
      assert.equal(cidrContains(`${net}/${len}`, ip), want, `${ip} in ${net}/${len}`);
      if (want) inside++;
    }
    assert.ok(inside > 100, 'the sample holds addresses inside their prefix too');
  });
});
