/**
 * A direct protobuf wire decoder for WatchEvent table events: gobgp api
 * Paths -> BgpRoute, reading only what decodePath (encode.ts) reads and
 * producing the same routes.
 *
 * Why not the generic decoder: gobgpd gives every path of a received UPDATE
 * the UPDATE's whole MP_REACH_NLRI attribute, so each IPv6 path carries the
 * NLRIs of up to ~450 sibling prefixes as packed google.protobuf.Any values
 * (~30 KB per path; 10k routes are ~300 MB on the wire). proto-loader's
 * `toObject` (json, defaults, oneofs) unpacks all of them into objects only
 * to be dropped: most of the agent's CPU and the growth of its heap while
 * routes arrive. Here a skipped field costs one length read.
 *
 * Field numbers are those of gobgp 3.x api/{gobgp,attribute}.proto; a unit
 * test checks them against the generated descriptor.
 */
import protobuf from 'protobufjs';
import { type BgpRoute, type Family } from '@krouter/sdk';
import { emptyAttributes, readPathAttributes, readPrefix } from './bmp-decode.ts';
import { formatCommunity } from './encode.ts';

type Reader = protobuf.Reader;

const TYPE_PREFIX = 'type.googleapis.com/apipb.';

/** Field numbers used below, by message (checked against the descriptor in tests). */
export const WIRE_FIELDS = {
  WatchEventResponse: { peer: 2, table: 3 },
  ListPathResponse: { destination: 1 },
  Destination: { paths: 2 },
  'WatchEventResponse.TableEvent': { paths: 2 },
  Path: { nlri: 1, pattrs: 2, best: 4, is_withdraw: 5, family: 9, source_asn: 10, neighbor_ip: 15, nlri_binary: 20, pattrs_binary: 21 },
  Family: { afi: 1, safi: 2 },
  IPAddressPrefix: { prefix_len: 1, prefix: 2 },
  NextHopAttribute: { next_hop: 1 },
  MpReachNLRIAttribute: { next_hops: 2 },
  AsPathAttribute: { segments: 1 },
  AsSegment: { numbers: 2 },
  CommunitiesAttribute: { communities: 1 },
} as const;

// Enum values of apipb.Family.
const AFI_IP = 1;
const AFI_IP6 = 2;
const SAFI_UNICAST = 1;

const LEN = 2; // wire type of length-delimited fields

/** Calls `field(number, wireType)` for each field of the message ending at `end`; it must consume or skip the value. */
function eachField(r: Reader, end: number, field: (n: number, wt: number) => void): void {
  while (r.pos < end) {
    const tag = r.uint32();
    field(tag >>> 3, tag & 7);
  }
}

/** End offset of the length-delimited value at the reader's position. */
function endOf(r: Reader): number {
  const len = r.uint32();
  return r.pos + len;
}

/** A repeated uint32, packed (proto3 default) or not: appends to `out`. */
function readUint32s(r: Reader, wt: number, out: number[], map: (v: number) => number = (v) => v): void {
  if (wt === LEN) {
    const end = endOf(r);
    while (r.pos < end) out.push(map(r.uint32()));
  } else {
    out.push(map(r.uint32()));
  }
}

function nonNil(s: string): string | undefined {
  // gobgp renders unset addresses as "<nil>".
  return s !== '' && s !== '<nil>' ? s : undefined;
}

interface PathFields {
  family?: Family;
  nlriType?: string;
  prefix: string;
  prefixLen: number;
  nextHop: string;
  asPath: number[];
  communities: string[];
  best: boolean;
  withdraw: boolean;
  sourceAsn: number;
  neighbor: string;
}

/** google.protobuf.Any: its type name (after the apipb prefix) and the offsets of its value. */
function readAny(r: Reader, end: number): { type?: string; start: number; end: number } {
  let type: string | undefined;
  let start = 0;
  let valueEnd = 0;
  eachField(r, end, (n, wt) => {
    if (n === 1 && wt === LEN) {
      const url = r.string();
      type = url.startsWith(TYPE_PREFIX) ? url.slice(TYPE_PREFIX.length) : undefined;
    } else if (n === 2 && wt === LEN) {
      valueEnd = endOf(r);
      start = r.pos;
      r.pos = valueEnd;
    } else r.skipType(wt);
  });
  return { type, start, end: valueEnd };
}

function readFamily(r: Reader, end: number): Family | undefined {
  let afi = 0;
  let safi = 0;
  eachField(r, end, (n, wt) => {
    if (n === WIRE_FIELDS.Family.afi && wt === 0) afi = r.uint32();
    else if (n === WIRE_FIELDS.Family.safi && wt === 0) safi = r.uint32();
    else r.skipType(wt);
  });
  if (safi !== SAFI_UNICAST) return undefined;
  return afi === AFI_IP ? 'ipv4' : afi === AFI_IP6 ? 'ipv6' : undefined;
}

function readNlri(r: Reader, p: PathFields, end: number): void {
  const any = readAny(r, end);
  p.nlriType = any.type;
  if (any.type !== 'IPAddressPrefix') return;
  const after = r.pos;
  r.pos = any.start;
  eachField(r, any.end, (n, wt) => {
    if (n === WIRE_FIELDS.IPAddressPrefix.prefix_len && wt === 0) p.prefixLen = r.uint32();
    else if (n === WIRE_FIELDS.IPAddressPrefix.prefix && wt === LEN) p.prefix = r.string();
    else r.skipType(wt);
  });
  r.pos = after;
}

function readAttribute(r: Reader, p: PathFields, end: number): void {
  const any = readAny(r, end);
  const after = r.pos;
  r.pos = any.start;
  switch (any.type) {
    case 'NextHopAttribute':
      eachField(r, any.end, (n, wt) => {
        if (n === WIRE_FIELDS.NextHopAttribute.next_hop && wt === LEN) p.nextHop = nonNil(r.string()) ?? p.nextHop;
        else r.skipType(wt);
      });
      break;
    case 'MpReachNLRIAttribute': {
      // The first next hop is the global one; a second may be link-local.
      // The NLRIs (the whole UPDATE's) are skipped unread.
      let first: string | undefined;
      let seen = false;
      eachField(r, any.end, (n, wt) => {
        if (n === WIRE_FIELDS.MpReachNLRIAttribute.next_hops && wt === LEN && !seen) {
          seen = true;
          first = r.string();
        } else r.skipType(wt);
      });
      if (first !== undefined) p.nextHop = nonNil(first) ?? p.nextHop;
      break;
    }
    case 'AsPathAttribute':
      eachField(r, any.end, (n, wt) => {
        if (n !== WIRE_FIELDS.AsPathAttribute.segments || wt !== LEN) return r.skipType(wt);
        eachField(r, endOf(r), (sn, swt) => {
          if (sn === WIRE_FIELDS.AsSegment.numbers) readUint32s(r, swt, p.asPath);
          else r.skipType(swt);
        });
      });
      break;
    case 'CommunitiesAttribute': {
      const values: number[] = [];
      eachField(r, any.end, (n, wt) => {
        if (n === WIRE_FIELDS.CommunitiesAttribute.communities) readUint32s(r, wt, values);
        else r.skipType(wt);
      });
      for (const v of values) p.communities.push(formatCommunity(v));
      break;
    }
  }
  r.pos = after;
}

/**
 * A path as gobgpd serializes it for ListPath's `enable_only_binary`: the
 * NLRI and each attribute in their BGP wire form (see bmp-decode.ts). Far
 * cheaper for gobgpd than the google.protobuf.Any form, whose IPv6
 * MP_REACH_NLRI carries every sibling prefix of the UPDATE as an object.
 */
function readBinary(p: PathFields, family: Family, nlri: Uint8Array, pattrs: Uint8Array[]): void {
  const prefix = readPrefix(Buffer.from(nlri.buffer, nlri.byteOffset, nlri.byteLength), family);
  if (!prefix) return;
  const slash = prefix.indexOf('/');
  p.nlriType = 'IPAddressPrefix';
  p.prefix = prefix.slice(0, slash);
  p.prefixLen = Number(prefix.slice(slash + 1));
  const attrs = emptyAttributes();
  for (const a of pattrs) readPathAttributes(Buffer.from(a.buffer, a.byteOffset, a.byteLength), attrs);
  p.nextHop = attrs.mpReach?.nextHop || attrs.nextHop || p.nextHop;
  p.asPath.push(...attrs.asPath);
  p.communities.push(...attrs.communities);
}

function readPath(r: Reader, end: number): BgpRoute | undefined {
  const f = WIRE_FIELDS.Path;
  let nlriBinary: Uint8Array | undefined;
  const pattrsBinary: Uint8Array[] = [];
  const p: PathFields = {
    prefix: '',
    prefixLen: 0,
    nextHop: '',
    asPath: [],
    communities: [],
    best: false,
    withdraw: false,
    sourceAsn: 0,
    neighbor: '',
  };
  eachField(r, end, (n, wt) => {
    if (n === f.nlri && wt === LEN) readNlri(r, p, endOf(r));
    else if (n === f.pattrs && wt === LEN) readAttribute(r, p, endOf(r));
    else if (n === f.best && wt === 0) p.best = r.bool();
    else if (n === f.is_withdraw && wt === 0) p.withdraw = r.bool();
    else if (n === f.family && wt === LEN) p.family = readFamily(r, endOf(r));
    else if (n === f.source_asn && wt === 0) p.sourceAsn = r.uint32();
    else if (n === f.neighbor_ip && wt === LEN) p.neighbor = r.string();
    else if (n === f.nlri_binary && wt === LEN) nlriBinary = r.bytes();
    else if (n === f.pattrs_binary && wt === LEN) pattrsBinary.push(r.bytes());
    else r.skipType(wt);
  });
  if (p.family && nlriBinary) readBinary(p, p.family, nlriBinary, pattrsBinary);
  if (!p.family || p.nlriType !== 'IPAddressPrefix') return undefined;
  const route: BgpRoute = {
    family: p.family,
    prefix: `${p.prefix}/${p.prefixLen}`,
    nextHop: p.nextHop,
    asPath: p.asPath,
    communities: p.communities,
    best: p.best,
  };
  const source = nonNil(p.neighbor);
  // Locally originated paths carry no neighbor (gobgp shows 0.0.0.0 / "::" / "<nil>").
  if (source && source !== '0.0.0.0' && source !== '::') route.source = source;
  if (p.sourceAsn) route.sourceAsn = p.sourceAsn;
  if (p.withdraw) route.withdrawal = true;
  return route;
}

/**
 * A WatchEventResponse: the IPv4/IPv6 unicast routes of a table event, or
 * undefined when it is not a table event (a peer event: decode it generically).
 */
export function decodeWatchTableEvent(buf: Uint8Array): BgpRoute[] | undefined {
  const r = protobuf.Reader.create(buf);
  let routes: BgpRoute[] | undefined;
  eachField(r, buf.length, (n, wt) => {
    if (n !== WIRE_FIELDS.WatchEventResponse.table || wt !== LEN) return r.skipType(wt);
    routes ??= [];
    eachField(r, endOf(r), (tn, twt) => {
      if (tn !== WIRE_FIELDS['WatchEventResponse.TableEvent'].paths || twt !== LEN) return r.skipType(twt);
      const route = readPath(r, endOf(r));
      if (route) routes!.push(route);
    });
  });
  return routes;
}

/** A ListPathResponse (one destination): its IPv4/IPv6 unicast routes, as decodeDestination would give them. */
export function decodeListPathRoutes(buf: Uint8Array): BgpRoute[] {
  const r = protobuf.Reader.create(buf);
  const routes: BgpRoute[] = [];
  eachField(r, buf.length, (n, wt) => {
    if (n !== WIRE_FIELDS.ListPathResponse.destination || wt !== LEN) return r.skipType(wt);
    eachField(r, endOf(r), (dn, dwt) => {
      if (dn !== WIRE_FIELDS.Destination.paths || dwt !== LEN) return r.skipType(dwt);
      const route = readPath(r, endOf(r));
      if (route) routes.push(route);
    });
  });
  return routes;
}
