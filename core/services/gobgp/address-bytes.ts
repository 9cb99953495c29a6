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
  const byte = (i: number) => (i < present ? buf[offset + i]! : 0);
  if (size === 4) return `${byte(0)}.${byte(1)}.${byte(2)}.${byte(3)}`;
  const groups: number[] = new Array(8);
  for (let g = 0; g < 8; g++) groups[g] = (byte(2 * g) << 8) | byte(2 * g + 1);
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
  const hex = (from: number, to: number) => groups.slice(from, to).map((v) => v.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}
