import ipaddr from 'ipaddr.js';
import { AddressError, hostPrefixLength, parseCidr, type Family } from '@krouter/sdk';

/**
 * NetworkPolicy ipBlocks as sets of prefixes, pure. An nft interval set
 * refuses overlapping elements, so `cidr` minus its `except` list is
 * computed here into disjoint prefixes, and several blocks of one rule are
 * merged before they become one set.
 */

export interface Interval {
  start: bigint;
  end: bigint;
}

function toBigInt(address: string): bigint {
  let n = 0n;
  for (const b of ipaddr.parse(address).toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBigInt(n: bigint, family: Family): string {
  const bytes: number[] = [];
  for (let i = 0; i < hostPrefixLength(family) / 8; i++) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

function intervalOf(cidr: string, family: Family): Interval {
  const c = parseCidr(cidr, family);
  const hostBits = BigInt(hostPrefixLength(family) - c.prefixLength);
  const start = toBigInt(c.network);
  return { start, end: start + (1n << hostBits) - 1n };
}

/** Sorts and merges touching or overlapping intervals. */
export function mergeIntervals(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end + 1n) {
      if (i.end > last.end) last.end = i.end;
    } else out.push({ ...i });
  }
  return out;
}

function subtract(from: Interval[], cut: Interval): Interval[] {
  const out: Interval[] = [];
  for (const i of from) {
    if (cut.end < i.start || cut.start > i.end) {
      out.push(i);
      continue;
    }
    if (cut.start > i.start) out.push({ start: i.start, end: cut.start - 1n });
    if (cut.end < i.end) out.push({ start: cut.end + 1n, end: i.end });
  }
  return out;
}

export type BlockResult = { family: Family; intervals: Interval[] } | { error: string; field: 'cidr' | `except[${number}]` };

/**
 * One ipBlock: its family is the cidr's; every except must be a CIDR of the
 * same family inside the block (the API server allows equal, not larger).
 */
export function readIpBlock(block: { cidr?: string; except?: string[] }): BlockResult {
  let family: Family;
  let whole: Interval;
  try {
    // Host bits are tolerated as the API server does (it validates only the syntax).
    family = parseCidr(String(block.cidr), undefined, { allowHostBits: true }).family;
    whole = intervalOf(parseCidr(String(block.cidr), family, { allowHostBits: true }).text, family);
  } catch (err) {
    return { error: err instanceof AddressError ? err.message : String(err), field: 'cidr' };
  }
  let rest = [whole];
  for (const [i, ex] of (block.except ?? []).entries()) {
    let cut: Interval;
    try {
      cut = intervalOf(parseCidr(String(ex), family, { allowHostBits: true }).text, family);
    } catch (err) {
      return { error: err instanceof AddressError ? err.message : String(err), field: `except[${i}]` };
    }
    if (cut.start < whole.start || cut.end > whole.end) {
      return { error: `${JSON.stringify(ex)} is not inside ${JSON.stringify(block.cidr)}`, field: `except[${i}]` };
    }
    rest = subtract(rest, cut);
  }
  return { family, intervals: rest };
}

/** Smallest list of prefixes covering an interval exactly, as `address/length`. */
export function intervalToPrefixes(i: Interval, family: Family): string[] {
  const bits = hostPrefixLength(family);
  const out: string[] = [];
  let start = i.start;
  while (start <= i.end) {
    // Largest aligned block starting at `start` that stays inside the interval.
    let size = 0;
    while (size < bits && (start & ((1n << BigInt(size + 1)) - 1n)) === 0n && start + (1n << BigInt(size + 1)) - 1n <= i.end) size++;
    out.push(`${fromBigInt(start, family)}/${bits - size}`);
    start += 1n << BigInt(size);
  }
  return out;
}
