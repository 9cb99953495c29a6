/**
 * Address and prefix texts: parsing, validation, canonical form (RFC 5952
 * for IPv6). The generic parsers go through ipaddr.js; parseIP and
 * parseCidr take hand-written fast paths for the common forms first.
 */
import ipaddr from 'ipaddr.js';
import type { Family } from './families.ts';

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

/** Canonical dotted-quad IPv4 (no leading zeros): already in the form ipaddr.js would print. */
const CANONICAL_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * IPv6 texts already parsed -> canonical form. ipaddr.js takes microseconds per
 * IPv6 address, and a proxy re-reads the same tens of thousands on every full
 * sync; bounded so a churning cluster cannot grow it without end.
 */
const PARSED_IPV6 = new Map<string, string>();
const PARSED_IPV6_MAX = 100_000;

/** parseIP through ipaddr.js: every form it accepts. */
export function parseIPGeneric(input: string, expect?: Family): { family: Family; address: string } {
  if (typeof input !== 'string' || input.includes('/')) throw new AddressError(String(input), 'not an IP address');
  // Fast path: proxies parse tens of thousands of addresses per sync, and ipaddr.js's IPv4 check is slow.
  if (CANONICAL_IPV4.test(input)) {
    if (expect && expect !== 'ipv4') throw new AddressError(input, `is ipv4, expected ${expect}`);
    return { family: 'ipv4', address: input };
  }
  const known = PARSED_IPV6.get(input);
  if (known !== undefined) {
    if (expect && expect !== 'ipv6') throw new AddressError(input, `is ipv6, expected ${expect}`);
    return { family: 'ipv6', address: known };
  }
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // isValid + parse rejects shorthand forms like "10.1" that parse() accepts. A text with a colon
    // skips the IPv4 check, which throws (and builds a stack trace) inside ipaddr.js for every IPv6 text.
    if (!input.includes(':') && ipaddr.IPv4.isValidFourPartDecimal(input)) addr = ipaddr.IPv4.parse(input);
    else if (ipaddr.IPv6.isValid(input)) addr = ipaddr.IPv6.parse(input);
    else throw new Error('invalid');
  } catch {
    throw new AddressError(input, 'not an IP address');
  }
  const family = familyOfParsed(addr);
  const address = addr.toString();
  if (family === 'ipv6') {
    if (PARSED_IPV6.size >= PARSED_IPV6_MAX) PARSED_IPV6.clear();
    PARSED_IPV6.set(input, address);
  }
  if (expect && family !== expect) throw new AddressError(input, `is ${family}, expected ${expect}`);
  return { family, address };
}

/** parseCidr through ipaddr.js: every form it accepts. */
export function parseCidrGeneric(input: string, expect?: Family, opts: { allowHostBits?: boolean } = {}): Cidr {
  if (typeof input !== 'string' || !input.includes('/')) throw new AddressError(String(input), 'not a CIDR (address/length)');
  // Exactly one slash: split('/', 2) would drop a trailing "/8" of "10.0.0.0/24/8" and accept it.
  const parts = input.split('/');
  if (parts.length !== 2) throw new AddressError(input, 'not a CIDR (address/length)');
  const [addrText, lenText] = parts as [string, string];
  const { family, address } = parseIPGeneric(addrText);
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

// ---- fast paths -------------------------------------------------------------
// The common forms (dotted IPv4, hexadecimal IPv6) parsed by hand with results
// identical to the generic parser's; anything else falls back to it. Rendering
// and judging 10k routes spends most of its time here, and ipaddr.js costs
// microseconds per IPv6 address.

/** Value of a dotted-quad IPv4 address (no leading zeros), or undefined. Hand-written: this is the hot path. */
function v4Value(s: string): number | undefined {
  const n = s.length;
  if (n < 7 || n > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46; // treat the end as a final '.'
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else if (c === 46) {
      if (digits === 0) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      if (i < n && ++dots > 3) return undefined;
    } else {
      return undefined;
    }
  }
  return dots === 3 ? value : undefined;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Eight 16-bit groups of a hexadecimal IPv6 address, or undefined (not this simple form). */
function v6Groups(s: string): number[] | undefined {
  const n = s.length;
  if (n < 2 || n > 39) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  let cur = head;
  let gap = false;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    gap = true;
    cur = tail;
    i = 2;
    if (i === n) return [0, 0, 0, 0, 0, 0, 0, 0];
  }
  while (i < n) {
    let v = 0;
    let d = 0;
    while (i < n) {
      const h = hexDigit(s.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      if (++d > 4) return undefined;
      i++;
    }
    if (d === 0) return undefined;
    cur.push(v);
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return undefined; // '.', '%', anything else: not the simple form
    i++;
    if (s.charCodeAt(i) === 58) {
      if (gap) return undefined;
      gap = true;
      cur = tail;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return undefined; // trailing single ':'
    }
  }
  if (!gap) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  const out = head;
  for (let k = head.length + tail.length; k < 8; k++) out.push(0);
  for (const t of tail) out.push(t);
  return out;
}

/** RFC 5952 text: longest run (first on ties) of two or more zero groups becomes `::`. */
function v6Text(g: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // Plain loops, no closures: this runs once per address of a large batch.
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out && !out.endsWith(':')) out += ':';
    out += g[i]!.toString(16);
  }
  return out;
}

/** Parses an IP address (no prefix). IPv4-mapped IPv6 stays IPv6. */
export function parseIP(input: string, expect?: Family): { family: Family; address: string } {
  if (expect) return parseIPGeneric(input, expect);
  if (typeof input === 'string') {
    if (v4Value(input) !== undefined) return { family: 'ipv4', address: input };
    const g = v6Groups(input);
    // ::x:y and ::ffff:x:y (IPv4-compatible/mapped) have their own text rules: left to the generic parser.
    const special = g && g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && (g[5] === 0 || g[5] === 0xffff);
    if (g && !special) {
      return { family: 'ipv6', address: v6Text(g) };
    }
  }
  return parseIPGeneric(input);
}

/** Parses a prefix; host bits must be zero unless `allowHostBits`. */
export function parseCidr(input: string, expect?: Family, opts: { allowHostBits?: boolean } = {}): Cidr {
  if (expect) return parseCidrGeneric(input, expect, opts);
  const slash = typeof input === 'string' ? input.indexOf('/') : -1;
  if (slash > 0) {
    const addr = input.slice(0, slash);
    const lenText = input.slice(slash + 1);
    if (/^\d{1,3}$/.test(lenText)) {
      const len = Number(lenText);
      const v4 = v4Value(addr);
      if (v4 !== undefined && len <= 32) {
        const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
        const net = (v4 & mask) >>> 0;
        if (net === v4) return { family: 'ipv4', network: addr, prefixLength: len, text: `${addr}/${len}` };
        if (opts.allowHostBits) return parseCidrGeneric(input, undefined, opts);
      }
      const g = v4 === undefined ? v6Groups(addr) : undefined;
      if (g && len <= 128) {
        let hostBits = false;
        for (let i = 0; i < 8; i++) {
          const keep = Math.max(0, Math.min(16, len - i * 16));
          if ((g[i]! & ~((0xffff << (16 - keep)) & 0xffff) & 0xffff) !== 0) hostBits = true;
        }
        const text = parseIP(addr).address;
        if (!hostBits && !text.includes('.')) return { family: 'ipv6', network: text, prefixLength: len, text: `${text}/${len}` };
      }
    }
  }
  return parseCidrGeneric(input, undefined, opts);
}

/** True when `ip` lies inside `cidr` (both of the same family). */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr, undefined, { allowHostBits: true });
  const a = parseIP(ip);
  if (a.family !== c.family) return false;
  const len = c.prefixLength;
  const netV4 = v4Value(c.network);
  const ipV4 = v4Value(a.address);
  if (netV4 !== undefined && ipV4 !== undefined) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return ((ipV4 & mask) >>> 0) === ((netV4 & mask) >>> 0);
  }
  const netV6 = v6Groups(c.network);
  const ipV6 = v6Groups(a.address);
  if (netV6 && ipV6) {
    for (let i = 0; i < 8; i++) {
      const keep = Math.max(0, Math.min(16, len - i * 16));
      const mask = (0xffff << (16 - keep)) & 0xffff;
      if ((netV6[i]! & mask) !== (ipV6[i]! & mask)) return false;
    }
    return true;
  }
  return ipaddr.parse(a.address).match(ipaddr.parse(c.network), len);
}
