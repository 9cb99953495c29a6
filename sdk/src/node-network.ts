import { AddressError, parseCidr, parseIP, perFamily, type Family } from './families.ts';
import type { NodeNetwork } from './services/address-families.ts';

/** kube-router's node annotation carrying pod CIDRs, comma-separated. */
export const POD_CIDRS_ANNOTATION = 'kube-router.io/pod-cidrs';

/** The few fields of a V1Node this reading looks at (kept structural so any V1Node fits). */
interface NodeShape {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: Array<{ type?: string; address?: string }> };
}

function reason(err: unknown): string {
  if (err instanceof AddressError) return err.message.replace(/^"[^"]*": /, '');
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads a Node object's addressing for the enabled families. Pure: the same
 * input always gives the same output, and nothing is thrown for bad data —
 * every malformed or disabled-family value is one line in `errors`, naming the
 * node and the field, so callers can log it and raise an event.
 *
 * Addresses: InternalIP addresses, then ExternalIP, per family; the primary IP
 * is the first of those. Pod CIDRs: spec.podCIDRs if set, else the
 * annotation (comma-separated), else spec.podCIDR; at most one per family.
 */
export function readNodeNetwork(
  node: unknown,
  enabledFamilies: readonly Family[],
  annotationKey: string = POD_CIDRS_ANNOTATION,
): NodeNetwork {
  const n = (typeof node === 'object' && node !== null ? node : {}) as NodeShape;
  const name = n.metadata?.name ?? '<unnamed>';
  const enabled = new Set(enabledFamilies);
  const errors: string[] = [];
  const at = (field: string, value: unknown, why: string) =>
    errors.push(`node ${JSON.stringify(name)} ${field} ${JSON.stringify(value)}: ${why}`);

  const ips = perFamily<string[]>(() => []);
  const addresses = Array.isArray(n.status?.addresses) ? n.status!.addresses! : [];
  for (const type of ['InternalIP', 'ExternalIP']) {
    addresses.forEach((a, i) => {
      if (a?.type !== type) return;
      const field = `status.addresses[${i}] (${type})`;
      try {
        const { family, address } = parseIP(String(a.address ?? ''));
        // An address of a disabled family is normal (dual-stack hosts in a
        // single-stack cluster): ignored, not an error.
        if (enabled.has(family) && !ips[family].includes(address)) ips[family].push(address);
      } catch (err) {
        at(field, a.address, reason(err));
      }
    });
  }
  const primaryIP = perFamily<string | undefined>((f) => ips[f][0]);

  // Pick the first source that is present at all; a present-but-bad source
  // is reported, not silently replaced by a lower-priority one.
  let source: { field: string; values: unknown[] } | undefined;
  const spec = n.spec ?? {};
  const annotation = n.metadata?.annotations?.[annotationKey];
  if (Array.isArray(spec.podCIDRs) && spec.podCIDRs.length > 0) {
    source = { field: 'spec.podCIDRs', values: spec.podCIDRs };
  } else if (typeof annotation === 'string' && annotation.trim() !== '') {
    source = { field: `metadata.annotations[${annotationKey}]`, values: annotation.split(',').map((s) => s.trim()) };
  } else if (spec.podCIDR !== undefined && spec.podCIDR !== '') {
    source = { field: 'spec.podCIDR', values: [spec.podCIDR] };
  }

  const podCIDRs = perFamily<string[]>(() => []);
  source?.values.forEach((value, i) => {
    const field = source.values.length > 1 || source.field !== 'spec.podCIDR' ? `${source.field}[${i}]` : source.field;
    let cidr;
    try {
      cidr = parseCidr(String(value));
    } catch (err) {
      at(field, value, reason(err));
      return;
    }
    if (!enabled.has(cidr.family)) {
      at(field, value, `${cidr.family} is not an enabled family`);
      return;
    }
    if (podCIDRs[cidr.family].length > 0) {
      at(field, value, `second ${cidr.family} pod CIDR; using ${podCIDRs[cidr.family][0]}`);
      return;
    }
    podCIDRs[cidr.family].push(cidr.text);
  });

  return { name, ips, primaryIP, podCIDRs, errors };
}
