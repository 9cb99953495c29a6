/**
 * BMP (RFC 7854) framing and the Route Monitoring messages of gobgpd's
 * Loc-RIB feed (RFC 9069), decoded to the best paths they carry. Pure.
 *
 * Why BMP for best paths: gobgpd's gRPC WatchEvent gives every path of a
 * received UPDATE the UPDATE's whole MP_REACH_NLRI (hundreds of sibling
 * prefixes, ~30 KB per IPv6 path), and marshalling that costs gobgpd itself
 * seconds of CPU for 10k routes. Its BMP Loc-RIB feed sends each best-path
 * change as a BGP UPDATE carrying that path's prefix alone, a few dozen bytes.
 */
import type { Family } from '@krouter/sdk';
import { formatAddressBytes } from './address-bytes.ts';

/** BMP message types (RFC 7854 §4.1). */
export const BMP_TYPE = { routeMonitoring: 0, statistics: 1, peerDown: 2, peerUp: 3, initiation: 4, termination: 5, routeMirroring: 6 } as const;

const BMP_COMMON_HEADER = 6;
const BMP_PER_PEER_HEADER = 42;
const BGP_HEADER = 19;
const BGP_UPDATE = 2;

const ATTR = { asPath: 2, nextHop: 3, communities: 8, mpReach: 14, mpUnreach: 15 } as const;
const AFI_FAMILY: Record<number, Family> = { 1: 'ipv4', 2: 'ipv6' };
const SAFI_UNICAST = 1;

export class BmpDecodeError extends Error {
  constructor(message: string) {
    super(`bmp: ${message}`);
    this.name = 'BmpDecodeError';
  }
}

export interface BmpMessage {
  type: number;
  body: Buffer;
}

/**
 * Cuts a TCP byte stream into whole BMP messages (a message may span reads,
 * a read may hold many).
 */
export class BmpFramer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): BmpMessage[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: BmpMessage[] = [];
    let pos = 0;
    while (this.pending.length - pos >= BMP_COMMON_HEADER) {
      const version = this.pending[pos]!;
      if (version !== 3) throw new BmpDecodeError(`unsupported version ${version} (want 3)`);
      const length = this.pending.readUInt32BE(pos + 1);
      if (length < BMP_COMMON_HEADER) throw new BmpDecodeError(`message length ${length} is shorter than its header`);
      if (this.pending.length - pos < length) break;
      out.push({ type: this.pending[pos + 5]!, body: this.pending.subarray(pos + BMP_COMMON_HEADER, pos + length) });
      pos += length;
    }
    this.pending = pos === this.pending.length ? Buffer.alloc(0) : Buffer.from(this.pending.subarray(pos));
    return out;
  }
}

export interface BmpAnnounced {
  family: Family;
  prefix: string;
  nextHop: string;
  asPath: number[];
  communities: string[];
}

export interface BmpWithdrawn {
  family: Family;
  prefix: string;
}

export interface BmpUpdate {
  announced: BmpAnnounced[];
  withdrawn: BmpWithdrawn[];
}

/**
 * NLRI prefixes (length in bits, then the significant bytes) of one family
 * in buf[start, end), appended to `into`. Offsets rather than subarrays and
 * no callbacks: this runs per path of a burst, and each Buffer view or
 * closure made here was garbage (or naming work, under esbuild keepNames).
 */
function readPrefixes(buf: Buffer, start: number, end: number, family: Family, into: string[]): void {
  const size = family === 'ipv4' ? 4 : 16;
  let pos = start;
  while (pos < end) {
    const bits = buf[pos++]!;
    if (bits > size * 8) throw new BmpDecodeError(`${family} prefix length ${bits}`);
    const n = (bits + 7) >> 3;
    if (pos + n > end) throw new BmpDecodeError('truncated prefix');
    // Read in place, the missing bytes as zero: no copy per prefix.
    into.push(`${formatAddressBytes(buf, pos, size, n)}/${bits}`);
    pos += n;
  }
}

/** The first next hop of an MP_REACH_NLRI (buf[start, start+len)): a global IPv6 address (a link-local second one is ignored) or an IPv4 one. */
function mpNextHop(buf: Buffer, start: number, len: number): string {
  if (len === 4) return formatAddressBytes(buf, start, 4);
  if (len === 16 || len === 32) return formatAddressBytes(buf, start, 16);
  throw new BmpDecodeError(`next hop of ${len} bytes`);
}

function formatCommunity(v: number): string {
  return `${v >>> 16}:${v & 0xffff}`;
}

/** What a path's attributes say, accumulated attribute by attribute. */
export interface PathAttributes {
  /** NEXT_HOP (IPv4 unicast). */
  nextHop: string;
  asPath: number[];
  communities: string[];
  /** MP_REACH_NLRI (RFC 4760): its next hop and the prefixes it announces. */
  mpReach?: { family: Family; nextHop: string; prefixes: string[] };
  /** MP_UNREACH_NLRI: the prefixes it withdraws. */
  mpUnreach?: { family: Family; prefixes: string[] };
}

export function emptyAttributes(): PathAttributes {
  return { nextHop: '', asPath: [], communities: [] };
}

/**
 * AS_PATH segments with 2- or 4-byte AS numbers. `asSize` undefined: the
 * size whose segments exactly fill the attribute (a serialized path from
 * gobgpd's ListPath does not say which it holds).
 */
function readAsPath(value: Buffer, asSize: 2 | 4 | undefined, into: number[]): void {
  const fits = (size: number): boolean => {
    let i = 0;
    while (i + 2 <= value.length) i += 2 + value[i + 1]! * size;
    return i === value.length;
  };
  const size = asSize ?? (fits(4) ? 4 : 2);
  // Every segment's numbers in order (AS_SEQUENCE and AS_SET alike), as gobgpd's API lists them.
  for (let i = 0; i + 2 <= value.length; ) {
    const count = value[i + 1]!;
    i += 2;
    for (let k = 0; k < count && i + size <= value.length; k++, i += size) into.push(size === 4 ? value.readUInt32BE(i) : value.readUInt16BE(i));
  }
}

/**
 * Reads the path attributes in `attrs` (each with its flags/type/length
 * header, RFC 4271 §4.3) into `out`; returns `out`. Unicast only: other
 * address families in MP_REACH/MP_UNREACH are ignored.
 */
export function readPathAttributes(attrs: Buffer, out: PathAttributes, asSize?: 2 | 4): PathAttributes {
  return readPathAttributesAt(attrs, 0, attrs.length, out, asSize);
}

/** readPathAttributes of buf[start, end). */
function readPathAttributesAt(buf: Buffer, start: number, end: number, out: PathAttributes, asSize?: 2 | 4): PathAttributes {
  let pos = start;
  while (pos < end) {
    if (pos + 3 > end) throw new BmpDecodeError('truncated path attribute header');
    const flags = buf[pos]!;
    const type = buf[pos + 1]!;
    const extended = (flags & 0x10) !== 0;
    if (extended && pos + 4 > end) throw new BmpDecodeError('truncated path attribute header');
    const len = extended ? buf.readUInt16BE(pos + 2) : buf[pos + 2]!;
    const v = pos + (extended ? 4 : 3);
    if (v + len > end) throw new BmpDecodeError(`truncated path attribute ${type}`);
    pos = v + len;
    if (type === ATTR.nextHop && len === 4) out.nextHop = formatAddressBytes(buf, v, 4);
    else if (type === ATTR.asPath) readAsPath(buf.subarray(v, v + len), asSize, out.asPath);
    else if (type === ATTR.communities) {
      for (let i = v; i + 4 <= v + len; i += 4) out.communities.push(formatCommunity(buf.readUInt32BE(i)));
    } else if (type === ATTR.mpReach || type === ATTR.mpUnreach) {
      if (len < 3) throw new BmpDecodeError(`truncated path attribute ${type}`);
      const family = AFI_FAMILY[buf.readUInt16BE(v)];
      if (!family || buf[v + 2] !== SAFI_UNICAST) continue;
      const prefixes: string[] = [];
      if (type === ATTR.mpUnreach) {
        readPrefixes(buf, v + 3, v + len, family, prefixes);
        out.mpUnreach = { family, prefixes };
        continue;
      }
      const nhLen = buf[v + 3]!;
      if (4 + nhLen + 1 > len) throw new BmpDecodeError(`truncated path attribute ${type}`);
      // One reserved byte after the next hop (RFC 4760 §3).
      readPrefixes(buf, v + 4 + nhLen + 1, v + len, family, prefixes);
      out.mpReach = { family, nextHop: mpNextHop(buf, v + 4, nhLen), prefixes };
    }
  }
  return out;
}

/** One NLRI prefix of a family, as gobgpd serializes a path's (ListPath's nlri_binary). */
export function readPrefix(buf: Buffer, family: Family): string | undefined {
  const out: string[] = [];
  readPrefixes(buf, 0, buf.length, family, out);
  return out[0];
}

/**
 * A Route Monitoring message body (per-peer header + BGP UPDATE) -> the
 * unicast prefixes it announces (with their attributes) and withdraws.
 * Other address families are skipped. AS numbers are 4 bytes unless the
 * per-peer header's A flag says 2 (gobgpd sets none on its Loc-RIB feed).
 */
export function decodeRouteMonitoring(body: Buffer): BmpUpdate {
  if (body.length < BMP_PER_PEER_HEADER + BGP_HEADER) throw new BmpDecodeError('route monitoring message too short');
  const twoByteAs = (body[1]! & 0x20) !== 0;
  const pdu = BMP_PER_PEER_HEADER;
  const length = body.readUInt16BE(pdu + 16);
  if (body[pdu + 18] !== BGP_UPDATE) throw new BmpDecodeError(`BGP message type ${body[pdu + 18]} (want UPDATE)`);
  if (length > body.length - pdu || length < BGP_HEADER + 4) throw new BmpDecodeError(`BGP message length ${length}`);
  const msg = pdu + BGP_HEADER;
  const msgEnd = pdu + length;

  const out: BmpUpdate = { announced: [], withdrawn: [] };
  const withdrawnLen = body.readUInt16BE(msg);
  if (msg + 2 + withdrawnLen + 2 > msgEnd) throw new BmpDecodeError('truncated withdrawn routes');
  const prefixes: string[] = [];
  readPrefixes(body, msg + 2, msg + 2 + withdrawnLen, 'ipv4', prefixes);
  for (const prefix of prefixes) out.withdrawn.push({ family: 'ipv4', prefix });
  const attrsLen = body.readUInt16BE(msg + 2 + withdrawnLen);
  const attrsStart = msg + 2 + withdrawnLen + 2;
  if (attrsStart + attrsLen > msgEnd) throw new BmpDecodeError('truncated path attributes');
  const a = readPathAttributesAt(body, attrsStart, attrsStart + attrsLen, emptyAttributes(), twoByteAs ? 2 : 4);
  const { asPath, communities } = a;
  prefixes.length = 0;
  readPrefixes(body, attrsStart + attrsLen, msgEnd, 'ipv4', prefixes);
  for (const prefix of prefixes) out.announced.push({ family: 'ipv4', prefix, nextHop: a.nextHop, asPath, communities });
  if (a.mpReach) {
    const { family, nextHop } = a.mpReach;
    for (const prefix of a.mpReach.prefixes) out.announced.push({ family, prefix, nextHop, asPath, communities });
  }
  if (a.mpUnreach) {
    const { family } = a.mpUnreach;
    for (const prefix of a.mpUnreach.prefixes) out.withdrawn.push({ family, prefix });
  }
  return out;
}
