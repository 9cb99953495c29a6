import ipaddr from 'ipaddr.js';
import { parseCidr, parseIP, type Family } from './families.ts';

/**
 * Addresses as numbers, for allocators: an address of either family is a
 * bigint (IPv4 in 32 bits, IPv6 in 128), so ranges, ordering and counting
 * are the same code for both families.
 */

/** An IP address as a number. */
export function ipToBigInt(ip: string): bigint {
  const { address } = parseIP(ip);
  let n = 0n;
  for (const b of ipaddr.parse(address).toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

/** A number back to the canonical text of an address of `family`. */
export function bigIntToIP(value: bigint, family: Family): string {
  const size = family === 'ipv4' ? 4 : 16;
  if (value < 0n || value >> BigInt(size * 8) !== 0n) throw new RangeError(`${value} is not an ${family} address`);
  const bytes: number[] = [];
  let v = value;
  for (let i = 0; i < size; i++) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** The addresses of a prefix that may be handed to hosts, inclusive, as numbers. */
export interface HostRange {
  family: Family;
  /** The prefix, normalised. */
  cidr: string;
  first: bigint;
  last: bigint;
}

/**
 * The host addresses of a prefix, as an allocator should hand them out: an
 * IPv4 prefix of /30 or wider loses its network and broadcast addresses; an
 * IPv6 prefix of /126 or wider loses its all-zero address (the subnet-router
 * anycast address; IPv6 has no broadcast). /31, /32, /127 and /128 keep every
 * address. Throws AddressError for a malformed prefix.
 */
export function hostRange(cidr: string): HostRange {
  const c = parseCidr(cidr, undefined, { allowHostBits: false });
  const bits = c.family === 'ipv4' ? 32 : 128;
  const size = 1n << BigInt(bits - c.prefixLength);
  const network = ipToBigInt(c.network);
  let first = network;
  let last = network + size - 1n;
  if (bits - c.prefixLength >= 2) {
    first += 1n;
    if (c.family === 'ipv4') last -= 1n;
  }
  return { family: c.family, cidr: c.text, first, last };
}

/** Number of addresses a HostRange holds. */
export function hostRangeSize(range: HostRange): bigint {
  return range.last - range.first + 1n;
}

/** True when the address (of any family) lies in the range. */
export function hostRangeContains(range: HostRange, ip: string): boolean {
  let parsed;
  try {
    parsed = parseIP(ip);
  } catch {
    return false;
  }
  if (parsed.family !== range.family) return false;
  const n = ipToBigInt(parsed.address);
  return n >= range.first && n <= range.last;
}
