import assert from 'node:assert/strict';
import { refusedObjects, STORM_COUNTS, stormObjects } from '../e2e/reliability/storm.ts';

describe('reliability storm objects', () => {
  for (const families of [['ipv4', 'ipv6'], ['ipv6', 'ipv4'], ['ipv4'], ['ipv6']] as const) {
    it(`${families.join('+')}: 1,000 objects of unique names, the counts asked for, a warning expected of the bad ones only`, () => {
      const objects = stormObjects(families);
      const dual = families.length > 1;
      assert.equal(objects.length, dual ? 1000 : 1000 - STORM_COUNTS['endpointslice-family-not-of-service'] - 50);
      const names = objects.map((o) => `${o.resource.plural} ${o.obj.metadata.namespace ?? ''}/${o.obj.metadata.name}`);
      assert.equal(new Set(names).size, names.length);
      for (const o of objects) {
        const bad = ['service-bad-annotation', 'endpointslice-bad-port', 'policy-unknown-named-port', 'node-bad-pod-cidrs', 'node-bad-asn'].includes(o.kind);
        assert.equal(!!o.warning, bad, o.kind);
      }
      // Every slice names a Service of the storm or none at all; every Service comes before its slices.
      const at = new Map(objects.map((o, i) => [o.resource.plural === 'services' ? o.obj.metadata.name : '', i]));
      objects.forEach((o, i) => {
        const svc = o.obj.metadata.labels?.['kubernetes.io/service-name'] as string | undefined;
        if (o.kind === 'endpointslice-no-service') assert.ok(!at.has(svc!));
        else if (svc) assert.ok(at.get(svc)! < i);
      });
      assert.ok(refusedObjects(families).length >= 10);
    });
  }
});
