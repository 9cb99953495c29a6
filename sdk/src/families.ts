import ipaddr from 'ipaddr.js';

/** The two address families. Every function loops over the enabled ones. */
export type Family = 'ipv4' | 'ipv6';
export const ALL_FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

/** One value per family; the normal shape of every per-family fact. */
export type PerFamily<T> = { ipv4: T; ipv6: T };

export function perFamily<T>(make: (family: Family) => T): PerFamily<T> {
  return { ipv4: make('ipv4'), ipv6: make('ipv6') };
}

/** Error for an address or prefix that does not parse or is of the wrong family. */
export class AddressError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`${JSON.stringify(input)}: ${reason}`);
    this.name = 'AddressError';
  }
}

/** A parsed, normalised prefix: `network` has the host bits cleared. */
export interface Cidr {
  family: Family;
  /** Network address, canonical text form. */
  network: string;
  prefixLength: number;
  /** `network/prefixLength`. */
  text: string;
}

function familyOfParsed(addr: ipaddr.IPv4 | ipaddr.IPv6): Family {
  return addr.kind() === 'ipv4' ? 'ipv4' : 'ipv6';
}

/** Parses an IP address (no prefix). IPv4-mapped IPv6 stays IPv6. */
export function parseIP(input: string, expect?: Family): { family: Family; address: string } {
  if (typeof input !== 'string' || input.includes('/')) throw new AddressError(String(input), 'not an IP address');
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // isValid + parse rejects shorthand forms like "10.1" that parse() accepts.
    if (ipaddr.IPv4.isValidFourPartDecimal(input)) addr = ipaddr.IPv4.parse(input);
    else if (ipaddr.IPv6.isValid(input)) addr = ipaddr.IPv6.parse(input);
    else throw new Error('invalid');
  } catch {
    throw new AddressError(input, 'not an IP address');
  }
  const family = familyOfParsed(addr);
  if (expect && family !== expect) throw new AddressError(input, `is ${family}, expected ${expect}`);
  return { family, address: addr.toString() };
}

/** Parses a prefix; host bits must be zero unless `allowHostBits`. */
export function parseCidr(input: string, expect?: Family, opts: { allowHostBits?: boolean } = {}): Cidr {
  if (typeof input !== 'string' || !input.includes('/')) throw new AddressError(String(input), 'not a CIDR (address/length)');
  const [addrText, lenText] = input.split('/', 2) as [string, string];
  const { family, address } = parseIP(addrText);
  const max = family === 'ipv4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
    throw new AddressError(input, `prefix length must be 0..${max}`);
  }
  const prefixLength = Number(lenText);
  if (expect && family !== expect) throw new AddressError(input, `is ${family}, expected ${expect}`);
  const parsed = ipaddr.parse(address);
  const bytes = parsed.toByteArray();
  const masked = bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefixLength - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
  const network = ipaddr.fromByteArray(masked).toString();
  if (!opts.allowHostBits && network !== address) {
    throw new AddressError(input, `host bits set (network is ${network}/${prefixLength})`);
  }
  return { family, network, prefixLength, text: `${network}/${prefixLength}` };
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

/** True when `ip` lies inside `cidr` (both of the same family). */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr, undefined, { allowHostBits: true });
  const a = parseIP(ip);
  if (a.family !== c.family) return false;
  return ipaddr.parse(a.address).match(ipaddr.parse(c.network), c.prefixLength);
}

/** Host route prefix length for a family: /32 or /128. */
export function hostPrefixLength(family: Family): number {
  return family === 'ipv4' ? 32 : 128;
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
