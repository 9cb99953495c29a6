/**
 * Binary IP addresses (network byte order, as BGP carries them) to text,
 * the same text ipaddr.js gives (IPv4 dotted quad; IPv6 per RFC 5952:
 * lower-case hex groups without leading zeros, the longest run of two or
 * more zero groups - the first of equal runs - written `::`). Pure.
 *
 * Written out rather than through ipaddr.js because the BMP feed formats
 * one prefix per best-path change: at 10,000 routes per family, ipaddr.js's
 * byte array copy, object and regex-based compression were ~100 ms of CPU
 * and much of the garbage of a burst.
 */

/**
 * The address in `size` bytes (4 or 16) of `buf` from `offset`, of which
 * only the first `present` bytes are read and the rest taken as zero (a
 * BGP prefix carries only its significant bytes).
 */
export function formatAddressBytes(buf: Uint8Array, offset: number, size: 4 | 16, present: number = size): string {
  // No closures here: the bundle names every function it creates (esbuild keepNames), which
  // per call of this hot function was more CPU than the formatting itself.
  if (size === 4) {
    return `${present > 0 ? buf[offset]! : 0}.${present > 1 ? buf[offset + 1]! : 0}.${present > 2 ? buf[offset + 2]! : 0}.${present > 3 ? buf[offset + 3]! : 0}`;
  }
  const groups: number[] = new Array(8);
  for (let g = 0; g < 8; g++) {
    const hi = 2 * g < present ? buf[offset + 2 * g]! : 0;
    const lo = 2 * g + 1 < present ? buf[offset + 2 * g + 1]! : 0;
    groups[g] = (hi << 8) | lo;
  }
  // Longest run of zero groups, at least two long; the first one wins a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let g = 0; g < 8; ) {
    if (groups[g] !== 0) {
      g++;
      continue;
    }
    let end = g;
    while (end < 8 && groups[end] === 0) end++;
    if (end - g > bestLen) {
      bestStart = g;
      bestLen = end - g;
    }
    g = end;
  }
  let text = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += '::';
      g += bestLen - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += groups[g]!.toString(16);
  }
  return text;
}
