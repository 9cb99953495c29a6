import assert from 'node:assert/strict';
import type { Family } from '../../sdk/src/families.ts';
import { IpAllocator } from '../lab/controllers/cidrs.ts';
import { allocateServiceIPs, decideServiceFamilies, FieldError, invalidServiceMessage, type ServiceSpecInput } from '../lab/controllers/service-ips.ts';

const V4: Family[] = ['ipv4'];
const V6: Family[] = ['ipv6'];
const DUAL: Family[] = ['ipv4', 'ipv6'];
const sel = { app: 'x' };

function errorOf(spec: ServiceSpecInput, cluster: Family[]): string {
  try {
    decideServiceFamilies(spec, cluster);
  } catch (e) {
    assert.ok(Array.isArray(e), 'throws a list of field errors');
    return invalidServiceMessage('s', e as FieldError[]);
  }
  assert.fail('expected the service to be rejected');
}

describe('lab controllers: service IP families', () => {
  it('defaults to SingleStack on the primary family', () => {
    for (const [cluster, fam] of [[V4, 'IPv4'], [V6, 'IPv6'], [DUAL, 'IPv4']] as const) {
      const d = decideServiceFamilies({ selector: sel }, cluster);
      assert.deepEqual([d.ipFamilyPolicy, d.ipFamilies, d.requested], ['SingleStack', [fam], [undefined]]);
    }
  });

  it('PreferDualStack gets both families on a dual cluster and one on a single-stack cluster', () => {
    assert.deepEqual(decideServiceFamilies({ ipFamilyPolicy: 'PreferDualStack' }, DUAL).ipFamilies, ['IPv4', 'IPv6']);
    assert.deepEqual(decideServiceFamilies({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv6'] }, DUAL).ipFamilies, ['IPv6', 'IPv4']);
    assert.deepEqual(decideServiceFamilies({ ipFamilyPolicy: 'PreferDualStack' }, V6).ipFamilies, ['IPv6']);
  });

  it('RequireDualStack works on a dual cluster and is refused on a single-stack one', () => {
    assert.deepEqual(decideServiceFamilies({ ipFamilyPolicy: 'RequireDualStack' }, DUAL).ipFamilies, ['IPv4', 'IPv6']);
    assert.equal(
      errorOf({ ipFamilyPolicy: 'RequireDualStack' }, V4),
      'Service "s" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
    );
  });

  it('two families or two IPs default to RequireDualStack', () => {
    assert.equal(decideServiceFamilies({ ipFamilies: ['IPv6', 'IPv4'] }, DUAL).ipFamilyPolicy, 'RequireDualStack');
    const d = decideServiceFamilies({ clusterIPs: ['fd00:20::5', '198.18.240.5'] }, DUAL);
    assert.deepEqual([d.ipFamilyPolicy, d.ipFamilies, d.requested], ['RequireDualStack', ['IPv6', 'IPv4'], ['fd00:20::5', '198.18.240.5']]);
    assert.match(errorOf({ ipFamilies: ['IPv4', 'IPv6'] }, V4), /this cluster is not configured for dual-stack services/);
  });

  it('a family or IP the cluster lacks is refused, naming the field', () => {
    assert.equal(errorOf({ ipFamilies: ['IPv6'] }, V4), 'Service "s" is invalid: spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster');
    assert.match(errorOf({ clusterIP: 'fd00:20::1' }, V4), /spec\.clusterIPs\[0\]: Invalid value: .*IPv6 is not configured on this cluster/);
  });

  it('explicit clusterIP fixes the family', () => {
    const d = decideServiceFamilies({ clusterIP: 'fd00:20::9' }, DUAL);
    assert.deepEqual([d.ipFamilies, d.requested], [['IPv6'], ['fd00:20::9']]);
  });

  it('rejects malformed requests like ValidateService does', () => {
    assert.match(errorOf({ clusterIP: '198.18.240.1', clusterIPs: ['198.18.240.2'] }, DUAL), /spec\.clusterIPs\[0\]: .*must match `spec\.clusterIP`/);
    assert.match(errorOf({ clusterIPs: ['198.18.240.1', '198.18.240.2'], ipFamilyPolicy: 'RequireDualStack' }, DUAL), /may not have the same IP family/);
    assert.match(errorOf({ ipFamilies: ['IPv4', 'IPv4'] }, DUAL), /spec\.ipFamilies\[1\]: Duplicate value: "IPv4"/);
    assert.match(errorOf({ ipFamilies: ['IPv5'] }, DUAL), /spec\.ipFamilies\[0\]: Unsupported value: "IPv5"/);
    assert.match(errorOf({ ipFamilyPolicy: 'Sometimes' }, DUAL), /spec\.ipFamilyPolicy: Unsupported value: "Sometimes"/);
    assert.match(errorOf({ ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'] }, DUAL), /must be RequireDualStack or PreferDualStack when multiple IP families/);
    assert.match(errorOf({ clusterIPs: ['10.0.0.1'], ipFamilies: ['IPv6'] }, DUAL), /expected an IPv6 value as indicated by `ipFamilies\[0\]`/);
    assert.match(errorOf({ clusterIP: 'not-an-ip' }, DUAL), /spec\.clusterIPs\[0\]: Invalid value: "not-an-ip": must be a valid IP address/);
  });

  it('headless services get families but no IPs; without a selector any family is allowed', () => {
    const withSel = decideServiceFamilies({ clusterIP: 'None', selector: sel, ipFamilyPolicy: 'PreferDualStack' }, DUAL);
    assert.deepEqual([withSel.headless, withSel.ipFamilies, withSel.requested], [true, ['IPv4', 'IPv6'], []]);
    const noSel = decideServiceFamilies({ clusterIP: 'None', ipFamilyPolicy: 'PreferDualStack' }, V4);
    assert.deepEqual(noSel.ipFamilies, ['IPv4', 'IPv6']);
    assert.deepEqual(decideServiceFamilies({ clusterIP: 'None', ipFamilies: ['IPv6'] }, V4).ipFamilies, ['IPv6']);
    assert.match(errorOf({ clusterIP: 'None', selector: sel, ipFamilies: ['IPv6'] }, V4), /spec\.ipFamilies\[0\]: .*not configured/);
  });

  it('ExternalName services get nothing', () => {
    assert.deepEqual(decideServiceFamilies({ type: 'ExternalName', ipFamilies: ['IPv6'] }, V4), { externalName: true, headless: false, ipFamilies: [], requested: [] });
  });

  it('allocates all IPs or none', () => {
    const allocs = { ipv4: new IpAllocator('198.18.240.0/20'), ipv6: new IpAllocator('fd00:20::/108') };
    const ips = allocateServiceIPs(decideServiceFamilies({ ipFamilyPolicy: 'RequireDualStack' }, DUAL), allocs);
    assert.deepEqual(ips, ['198.18.240.1', 'fd00:20::1']);
    // The IPv6 request collides: the IPv4 address must not stay taken.
    const d = decideServiceFamilies({ clusterIPs: ['198.18.240.7', 'fd00:20::1'] }, DUAL);
    assert.throws(() => allocateServiceIPs(d, allocs), (e: unknown) => Array.isArray(e) && /failed to allocate IP fd00:20::1: provided IP is already allocated/.test((e as FieldError[])[0]!.message));
    assert.equal(allocs.ipv4.has('198.18.240.7'), false);
    const out = decideServiceFamilies({ clusterIP: '198.18.0.9' }, DUAL);
    assert.throws(() => allocateServiceIPs(out, allocs), (e: unknown) => Array.isArray(e) && /not in the valid range/.test((e as FieldError[])[0]!.message));
  });
});
