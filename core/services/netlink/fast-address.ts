import { parseCidr, parseIP, type Cidr, type Family } from '@krouter/sdk';

/**
 * Fast paths for the SDK's parseIP/parseCidr on the common forms (dotted
 * IPv4, hexadecimal IPv6), with identical results; anything else falls back
 * to the SDK. Rendering 10k routes spends most of its time here, and the
 * generic parser costs ~20 µs per IPv6 address.
 */

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

/** Like the SDK's parseIP (same errors, same canonical text), faster on common input. */
export function fastParseIP(input: string): { family: Family; address: string } {
  if (typeof input === 'string') {
    if (v4Value(input) !== undefined) return { family: 'ipv4', address: input };
    const g = v6Groups(input);
    // ::x:y and ::ffff:x:y (IPv4-compatible/mapped) have their own text rules: leave them to the SDK.
    const special = g && g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && (g[5] === 0 || g[5] === 0xffff);
    if (g && !special) {
      return { family: 'ipv6', address: v6Text(g) };
    }
  }
  return parseIP(input);
}

/** Like the SDK's parseCidr (same errors, same result), faster on common input. */
export function fastParseCidr(input: string, opts: { allowHostBits?: boolean } = {}): Cidr {
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
        if (opts.allowHostBits) return parseCidr(input, undefined, opts);
      }
      const g = v4 === undefined ? v6Groups(addr) : undefined;
      if (g && len <= 128) {
        let hostBits = false;
        for (let i = 0; i < 8; i++) {
          const keep = Math.max(0, Math.min(16, len - i * 16));
          if ((g[i]! & ~((0xffff << (16 - keep)) & 0xffff) & 0xffff) !== 0) hostBits = true;
        }
        const text = fastParseIP(addr).address;
        if (!hostBits && !text.includes('.')) return { family: 'ipv6', network: text, prefixLength: len, text: `${text}/${len}` };
      }
    }
  }
  return parseCidr(input, undefined, opts);
}
