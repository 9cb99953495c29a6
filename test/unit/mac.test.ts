import assert from 'node:assert/strict';
import { isLocallyAdministeredMac, isUnicastMac, localUnicastMac, MacError, parseMac, parseUnicastMac } from '@krouter/sdk';

describe('MAC helpers', () => {
  it('parses six hex octets into lower case and refuses anything else with the input named', () => {
    assert.equal(parseMac('02:AB:cd:00:00:01'), '02:ab:cd:00:00:01');
    for (const bad of ['', '02:ab:cd:00:00', '02:ab:cd:00:00:01:02', '02-ab-cd-00-00-01', '2:ab:cd:0:0:1', '02:ab:cd:00:00:0g', ' 02:ab:cd:00:00:01']) {
      assert.throws(() => parseMac(bad), (e: unknown) => e instanceof MacError && e.message.startsWith(JSON.stringify(bad)), bad);
    }
  });

  it('reads the group and locally administered bits of the first octet', () => {
    assert.equal(isUnicastMac('02:00:00:00:00:01'), true);
    assert.equal(isUnicastMac('01:00:5e:00:00:01'), false);
    assert.equal(isUnicastMac('33:33:00:00:00:01'), false);
    assert.equal(isLocallyAdministeredMac('02:00:00:00:00:01'), true);
    assert.equal(isLocallyAdministeredMac('00:16:3e:00:00:01'), false);
  });

  it('refuses a group or all-zero MAC as a link address', () => {
    assert.equal(parseUnicastMac('00:16:3E:00:00:01'), '00:16:3e:00:00:01');
    assert.throws(() => parseUnicastMac('ff:ff:ff:ff:ff:ff'), /multicast\/broadcast/);
    assert.throws(() => parseUnicastMac('00:00:00:00:00:00'), /all-zero/);
  });

  it('makes a locally administered unicast MAC of any bytes', () => {
    assert.equal(localUnicastMac(Uint8Array.from([0xff, 1, 2, 3, 4, 5, 6])), 'fe:01:02:03:04:05');
    assert.equal(localUnicastMac(Uint8Array.from([0x00, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])), '02:aa:bb:cc:dd:ee');
    assert.throws(() => localUnicastMac(Uint8Array.from([1, 2, 3])), /6 bytes/);
  });
});
