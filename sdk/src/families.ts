import ipaddr from 'ipaddr.js';
import { AddressError, parseCidr, parseIP, type Cidr } from './address-parse.ts';

export { AddressError, cidrContains, parseCidr, parseIP, type Cidr } from './address-parse.ts';

/** The two address families. Every function loops over the enabled ones. */
export type Family = 'ipv4' | 'ipv6';
export const ALL_FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

/** One value per family; the normal shape of every per-family fact. */
export type PerFamily<T> = { ipv4: T; ipv6: T };

export function perFamily<T>(make: (family: Family) => T): PerFamily<T> {
  return { ipv4: make('ipv4'), ipv6: make('ipv6') };
}

/** True when `input` is a prefix with no host bits (for config schemas: a refine that names no family). */
export function isCidr(input: string): boolean {
  try {
    parseCidr(input);
    return true;
  } catch {
    return false;
  }
}

/** The family of an IP or CIDR; throws AddressError if it is neither. */
export function familyOf(ipOrCidr: string): Family {
  return ipOrCidr.includes('/') ? parseCidr(ipOrCidr, undefined, { allowHostBits: true }).family : parseIP(ipOrCidr).family;
}

/** The family, or undefined if the text is not an address or prefix. */
export function tryFamilyOf(ipOrCidr: string): Family | undefined {
  try {
    return familyOf(ipOrCidr);
  } catch {
    return undefined;
  }
}

/** Splits addresses/prefixes by family; anything unparsable goes to `invalid`. */
export function splitByFamily(items: readonly string[]): PerFamily<string[]> & { invalid: string[] } {
  const out = { ipv4: [] as string[], ipv6: [] as string[], invalid: [] as string[] };
  for (const item of items) {
    const family = tryFamilyOf(item);
    (family ? out[family] : out.invalid).push(item);
  }
  return out;
}


/** Host route prefix length for a family: /32 or /128. */
export function hostPrefixLength(family: Family): number {
  return family === 'ipv4' ? 32 : 128;
}

/** The default route of a family: 0.0.0.0/0 or ::/0. */
export function defaultRoute(family: Family): string {
  return family === 'ipv4' ? '0.0.0.0/0' : '::/0';
}

/**
 * Whether a next hop of one family may carry a prefix of another. The same
 * family always may; an IPv6 next hop may carry an IPv4 prefix (RFC 8950
 * extended next hop, for IPv6-only underlays) when the caller allows it
 * (default: allowed); an IPv4 next hop never carries an IPv6 prefix.
 */
export function nextHopMayCarry(nextHopFamily: Family, prefixFamily: Family, opts: { extendedNexthop?: boolean } = {}): boolean {
  if (nextHopFamily === prefixFamily) return true;
  return prefixFamily === 'ipv4' && nextHopFamily === 'ipv6' && opts.extendedNexthop !== false;
}

/** The first usable address of a prefix (network + 1), e.g. a bridge gateway. */
export function firstHost(cidr: string): string {
  const c = parseCidr(cidr, undefined, { allowHostBits: true });
  const bytes = ipaddr.parse(c.network).toByteArray();
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = (bytes[i]! + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** The unspecified ("any") address of a family, for a listener on every address of that family only. */
export function unspecifiedAddress(family: Family): string {
  return family === 'ipv4' ? '0.0.0.0' : '::';
}

/** Kubernetes' family names (`spec.ipFamilies`, EndpointSlice `addressType`) to ours; undefined for anything else (e.g. FQDN). */
export function familyOfKubernetes(name: unknown): Family | undefined {
  return name === 'IPv4' ? 'ipv4' : name === 'IPv6' ? 'ipv6' : undefined;
}
