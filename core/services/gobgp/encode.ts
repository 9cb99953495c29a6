/**
 * Pure translation between krouter's BGP model (@krouter/sdk) and the gobgp
 * API objects as grpc-js/proto-loader sees them (keepCase, enums as strings,
 * google.protobuf.Any as { '@type': 'type.googleapis.com/apipb.X', ...fields }).
 *
 * The family of a path is always derived from its prefix. Sending an IPv6
 * prefix with family AFI_IP is accepted silently by gobgpd and corrupts the
 * IPv4 RIB (kube-router's bug), so a next hop of the other family is refused
 * here instead of being passed on.
 */
import { createHash } from 'node:crypto';
import { nextHopMayCarry, parseCidr, parseIP, type BgpGlobal, type BgpPath, type BgpPeer, type BgpPeerState, type BgpPeerStateName, type BgpRoute, type Family } from '@krouter/sdk';

const TYPE_PREFIX = 'type.googleapis.com/apipb.';

export interface ApiFamily {
  afi: string;
  safi: string;
}

export type ApiAny = { '@type': string } & Record<string, unknown>;

export interface ApiPath {
  family: ApiFamily;
  nlri: ApiAny;
  pattrs: ApiAny[];
  [key: string]: unknown;
}

/** Bad BGP input (path, peer, global, policy): names the object and the reason. */
export class BgpInputError extends Error {
  constructor(what: string, reason: string) {
    super(`${what}: ${reason}`);
    this.name = 'BgpInputError';
  }
}

function any(type: string, fields: Record<string, unknown>): ApiAny {
  return { '@type': TYPE_PREFIX + type, ...fields };
}

function typeName(a: { '@type'?: unknown } | null | undefined): string | undefined {
  const t = a?.['@type'];
  return typeof t === 'string' && t.startsWith(TYPE_PREFIX) ? t.slice(TYPE_PREFIX.length) : undefined;
}

// ---------------------------------------------------------------------------
// Families

export function familyToApi(family: Family): ApiFamily {
  switch (family) {
    case 'ipv4':
      return { afi: 'AFI_IP', safi: 'SAFI_UNICAST' };
    case 'ipv6':
      return { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' };
    default:
      throw new BgpInputError(`family ${JSON.stringify(family)}`, 'must be ipv4 or ipv6');
  }
}

/** The family of an API family, or undefined for anything but IPv4/IPv6 unicast. */
export function familyFromApi(f: Partial<ApiFamily> | null | undefined): Family | undefined {
  if (!f || f.safi !== 'SAFI_UNICAST') return undefined;
  if (f.afi === 'AFI_IP') return 'ipv4';
  if (f.afi === 'AFI_IP6') return 'ipv6';
  return undefined;
}

/**
 * Global.families are indexes into gobgp's AFI-SAFI type table
 * (0 = ipv4-unicast, 1 = ipv6-unicast), not AFI<<16|SAFI codes.
 */
export function globalFamilyCode(family: Family): number {
  if (family === 'ipv4') return 0;
  if (family === 'ipv6') return 1;
  throw new BgpInputError(`family ${JSON.stringify(family)}`, 'must be ipv4 or ipv6');
}

// ---------------------------------------------------------------------------
// Scalars

const WELL_KNOWN_COMMUNITIES: Record<string, number> = {
  'no-export': 0xffffff01,
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'no-peer': 0xffffff04,
};

/** "65000:100", a decimal, or a well-known name -> the 32-bit community value. */
export function parseCommunity(text: string): number {
  if (typeof text !== 'string') throw new BgpInputError(`community ${JSON.stringify(text)}`, 'must be a string');
  const wk = WELL_KNOWN_COMMUNITIES[text.toLowerCase()];
  if (wk !== undefined) return wk;
  let m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  if (m) {
    const hi = Number(m[1]);
    const lo = Number(m[2]);
    if (hi > 0xffff || lo > 0xffff) throw new BgpInputError(`community ${JSON.stringify(text)}`, 'each half must be 0..65535');
    return hi * 0x10000 + lo;
  }
  m = /^\d{1,10}$/.exec(text);
  if (m && Number(text) <= 0xffffffff) return Number(text);
  throw new BgpInputError(`community ${JSON.stringify(text)}`, 'expected "ASN:VALUE" (0..65535 each), a 32-bit decimal or a well-known name');
}

/** A 32-bit community value -> "hi:lo". */
export function formatCommunity(value: number): string {
  return `${Math.floor(value / 0x10000)}:${value % 0x10000}`;
}

function checkUint32(what: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 0xffffffff) {
    throw new BgpInputError(what, `must be an integer ${min}..4294967295, got ${JSON.stringify(value)}`);
  }
  return value;
}

function checkRange(what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BgpInputError(what, `must be an integer ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function wrapAddressError<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new BgpInputError(what, (e as Error).message);
  }
}

// ---------------------------------------------------------------------------
// Paths

export interface EncodedPath {
  family: Family;
  /** Normalised prefix text (the key of the desired-paths map). */
  prefix: string;
  path: ApiPath;
}

/** Validates a path and returns its canonical prefix and family. */
export function pathKey(path: Pick<BgpPath, 'prefix'>): { prefix: string; family: Family } {
  const cidr = wrapAddressError(`path ${JSON.stringify(path?.prefix)}`, () => parseCidr(path.prefix));
  return { prefix: cidr.text, family: cidr.family };
}

/** BgpPath -> gobgp api Path. Throws BgpInputError on bad input, including a next hop of the other family. */
export function encodePath(path: BgpPath): EncodedPath {
  const cidr = wrapAddressError(`path ${JSON.stringify(path?.prefix)}`, () => parseCidr(path.prefix));
  const what = `path ${cidr.text}`;
  if (typeof path.nextHop !== 'string') throw new BgpInputError(what, 'nextHop is required');
  const nh = wrapAddressError(`${what}: next hop`, () => parseIP(path.nextHop));
  // RFC 8950: an IPv4 prefix may carry an IPv6 next hop, when the caller asks for it.
  const extended = nh.family !== cidr.family;
  if (!nextHopMayCarry(nh.family, cidr.family, { extendedNexthop: path.extendedNexthop === true })) {
    throw new BgpInputError(
      what,
      `next hop ${path.nextHop} is ${nh.family} but the prefix is ${cidr.family}; a path's next hop must be of the prefix's family`,
    );
  }
  const family = familyToApi(cidr.family);
  const nlri = any('IPAddressPrefix', { prefix: cidr.network, prefix_len: cidr.prefixLength });
  // Origin IGP: the path is injected by this node.
  const pattrs: ApiAny[] = [any('OriginAttribute', { origin: 0 })];
  if (cidr.family === 'ipv4' && !extended) {
    pattrs.push(any('NextHopAttribute', { next_hop: nh.address }));
  } else {
    // IPv6 (RFC 4760), and IPv4 with an IPv6 next hop (RFC 8950): next hop and NLRI travel in MP_REACH_NLRI.
    pattrs.push(any('MpReachNLRIAttribute', { family, next_hops: [nh.address], nlris: [nlri] }));
  }
  if (path.asPath && path.asPath.length > 0) {
    const numbers = path.asPath.map((asn, i) => checkUint32(`${what}: asPath[${i}]`, asn, 1));
    pattrs.push(any('AsPathAttribute', { segments: [{ type: 'AS_SEQUENCE', numbers }] }));
  }
  if (path.med !== undefined) pattrs.push(any('MultiExitDiscAttribute', { med: checkUint32(`${what}: med`, path.med) }));
  if (path.localPref !== undefined) {
    pattrs.push(any('LocalPrefAttribute', { local_pref: checkUint32(`${what}: localPref`, path.localPref) }));
  }
  if (path.communities && path.communities.length > 0) {
    const communities = path.communities.map((c) => {
      try {
        return parseCommunity(c);
      } catch (e) {
        throw new BgpInputError(what, (e as Error).message);
      }
    });
    pattrs.push(any('CommunitiesAttribute', { communities }));
  }
  return { family: cidr.family, prefix: cidr.text, path: { family, nlri, pattrs } };
}

function nonNil(s: unknown): string | undefined {
  // gobgp renders unset addresses as "<nil>".
  return typeof s === 'string' && s !== '' && s !== '<nil>' ? s : undefined;
}

/** gobgp api Path -> BgpRoute; undefined for anything but IPv4/IPv6 unicast prefixes. */
export function decodePath(p: Record<string, any>): BgpRoute | undefined {
  const family = familyFromApi(p?.family);
  if (!family || typeName(p.nlri) !== 'IPAddressPrefix') return undefined;
  const prefix = `${p.nlri.prefix}/${p.nlri.prefix_len}`;
  let nextHop = '';
  const asPath: number[] = [];
  const communities: string[] = [];
  for (const a of (p.pattrs ?? []) as ApiAny[]) {
    switch (typeName(a)) {
      case 'NextHopAttribute':
        nextHop = nonNil(a.next_hop) ?? nextHop;
        break;
      case 'MpReachNLRIAttribute': {
        // The first next hop is the global one; a second may be link-local.
        const hops = (a.next_hops as string[] | undefined) ?? [];
        nextHop = nonNil(hops[0]) ?? nextHop;
        break;
      }
      case 'AsPathAttribute':
        for (const seg of (a.segments as Array<{ numbers?: number[] }> | undefined) ?? []) asPath.push(...(seg.numbers ?? []));
        break;
      case 'CommunitiesAttribute':
        for (const c of (a.communities as number[] | undefined) ?? []) communities.push(formatCommunity(c));
        break;
    }
  }
  const route: BgpRoute = { family, prefix, nextHop, asPath, communities, best: Boolean(p.best) };
  const source = nonNil(p.neighbor_ip);
  // Locally originated paths carry no neighbor (gobgp shows 0.0.0.0 / "::" / "<nil>").
  if (source && source !== '0.0.0.0' && source !== '::') route.source = source;
  if (p.source_asn) route.sourceAsn = p.source_asn;
  if (p.is_withdraw) route.withdrawal = true;
  return route;
}

/**
 * True when a locally originated path as gobgpd lists it carries exactly
 * what `want` would originate (next hop, AS path, communities, MED, local
 * preference), so re-adding it would change nothing.
 */
export function localPathMatches(listed: Record<string, any>, want: BgpPath): boolean {
  const have = decodePath(listed);
  if (!have || have.source !== undefined) return false;
  let encoded: EncodedPath;
  try {
    encoded = encodePath(want);
  } catch {
    return false;
  }
  if (pathKey(have).prefix !== encoded.prefix) return false;
  if (have.nextHop !== parseIP(want.nextHop).address) return false;
  if (JSON.stringify(have.asPath) !== JSON.stringify(want.asPath ?? [])) return false;
  const communities = (want.communities ?? []).map((c) => formatCommunity(parseCommunity(c)));
  if (JSON.stringify(have.communities) !== JSON.stringify(communities)) return false;
  let med: number | undefined;
  let localPref: number | undefined;
  for (const a of (listed.pattrs ?? []) as ApiAny[]) {
    if (typeName(a) === 'MultiExitDiscAttribute') med = Number(a.med);
    if (typeName(a) === 'LocalPrefAttribute') localPref = Number(a.local_pref);
  }
  return med === want.med && localPref === want.localPref;
}

/** ListPath's Destination -> its routes. */
export function decodeDestination(d: Record<string, any>): BgpRoute[] {
  const out: BgpRoute[] = [];
  for (const p of (d?.paths ?? []) as Array<Record<string, any>>) {
    const r = decodePath(p);
    if (r) out.push(r);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Global

export function encodeGlobal(g: BgpGlobal): Record<string, unknown> {
  const asn = checkUint32('bgp global: asn', g?.asn, 1);
  const routerId = wrapAddressError('bgp global: routerId', () => parseIP(g.routerId, 'ipv4')).address;
  const listenPort = g.listenPort ?? 179;
  if (listenPort !== -1) checkRange('bgp global: listenPort', listenPort, 1, 65535);
  const listenAddresses = (g.listenAddresses ?? []).map(
    (a, i) => wrapAddressError(`bgp global: listenAddresses[${i}]`, () => parseIP(a)).address,
  );
  if (!Array.isArray(g.families) || g.families.length === 0) throw new BgpInputError('bgp global: families', 'at least one family is required');
  const global: Record<string, unknown> = {
    asn,
    router_id: routerId,
    listen_port: listenPort,
    listen_addresses: listenAddresses,
    families: [...new Set(g.families)].map(globalFamilyCode),
  };
  if (g.gracefulRestart?.enabled) {
    global.graceful_restart = {
      enabled: true,
      restart_time: checkRange('bgp global: gracefulRestart.restartTime', g.gracefulRestart.restartTime ?? 120, 1, 4095),
      deferral_time: checkRange('bgp global: gracefulRestart.deferralTime', g.gracefulRestart.deferralTime ?? 360, 1, 65535),
    };
  }
  return global;
}

// ---------------------------------------------------------------------------
// Peers

/**
 * BgpPeer -> gobgp api Peer.
 *
 * `extendedNexthop` needs no field: gobgpd advertises the RFC 8950 extended
 * next hop capability for IPv4 unicast on every session by itself. `nextHopSelf`
 * is not a peer setting in gobgp; the service renders it as an export policy
 * statement (see policy.ts).
 */
export function encodePeer(peer: BgpPeer, opts: { localRestarting?: boolean } = {}): Record<string, unknown> {
  const address = wrapAddressError('bgp peer: address', () => parseIP(peer?.address)).address;
  const what = `bgp peer ${address}`;
  const asn = checkUint32(`${what}: asn`, peer.asn, 1);
  if (!Array.isArray(peer.families) || peer.families.length === 0) throw new BgpInputError(`${what}: families`, 'at least one family is required');
  const gr = peer.gracefulRestart?.enabled ? peer.gracefulRestart : undefined;
  const afiSafis = [...new Set(peer.families)].map((f) => {
    const afiSafi: Record<string, unknown> = { config: { family: familyToApi(f), enabled: true } };
    // Graceful restart is negotiated per AFI-SAFI; without this gobgpd sends an empty tuple list.
    if (gr) afiSafi.mp_graceful_restart = { config: { enabled: true } };
    return afiSafi;
  });
  const conf: Record<string, unknown> = { neighbor_address: address, peer_asn: asn };
  if (peer.password !== undefined && peer.password !== '') conf.auth_password = peer.password;
  if (peer.description !== undefined) conf.description = peer.description;
  const transport: Record<string, unknown> = {};
  if (peer.localAddress !== undefined) {
    const local = wrapAddressError(`${what}: localAddress`, () => parseIP(peer.localAddress!));
    if (local.family !== parseIP(address).family) {
      throw new BgpInputError(`${what}: localAddress`, `${peer.localAddress} is ${local.family}, the peer address is not`);
    }
    transport.local_address = local.address;
  }
  if (peer.port !== undefined) transport.remote_port = checkRange(`${what}: port`, peer.port, 1, 65535);
  if (peer.passive) transport.passive_mode = true;
  const out: Record<string, unknown> = { conf, afi_safis: afiSafis };
  if (Object.keys(transport).length > 0) out.transport = transport;
  if (peer.multihopTtl !== undefined) {
    out.ebgp_multihop = { enabled: true, multihop_ttl: checkRange(`${what}: multihopTtl`, peer.multihopTtl, 1, 255) };
  }
  if (peer.routeReflectorClient) {
    const rr: Record<string, unknown> = { route_reflector_client: true };
    if (peer.routeReflectorClusterId !== undefined) {
      rr.route_reflector_cluster_id = wrapAddressError(`${what}: routeReflectorClusterId`, () => parseIP(peer.routeReflectorClusterId!, 'ipv4')).address;
    }
    out.route_reflector = rr;
  }
  if (gr) {
    out.graceful_restart = {
      enabled: true,
      restart_time: checkRange(`${what}: gracefulRestart.restartTime`, gr.restartTime ?? 120, 1, 4095),
      ...(gr.deferralTime !== undefined ? { deferral_time: checkRange(`${what}: gracefulRestart.deferralTime`, gr.deferralTime, 1, 65535) } : {}),
      // This gobgpd replaces one that died while the kernel kept forwarding:
      // OPEN carries the restart and forwarding-state bits (RFC 4724), so
      // helpers keep our routes until our End-of-RIB. gobgpd's own -r flag
      // does the same only for peers from a config file, not API peers.
      ...(opts.localRestarting ? { local_restarting: true } : {}),
    };
  }
  const timers: Record<string, number> = {};
  if (peer.holdTime !== undefined) {
    const h = checkRange(`${what}: holdTime`, peer.holdTime, 0, 65535);
    if (h !== 0 && h < 3) throw new BgpInputError(`${what}: holdTime`, 'must be 0 or at least 3 seconds (RFC 4271)');
    timers.hold_time = h;
  }
  if (peer.keepaliveInterval !== undefined) timers.keepalive_interval = checkRange(`${what}: keepaliveInterval`, peer.keepaliveInterval, 1, 65535);
  if (peer.connectRetry !== undefined) timers.connect_retry = checkRange(`${what}: connectRetry`, peer.connectRetry, 1, 65535);
  if (Object.keys(timers).length > 0) out.timers = { config: timers };
  return out;
}

/** A canonical text of a peer's config, to tell whether addPeer must update. */
/**
 * A peer's canonical config, hashed: fingerprints are compared and recorded
 * in `<socket>.state.json`, and the peer's password must not be written there.
 */
export function peerFingerprint(peer: BgpPeer): string {
  const canonical = JSON.stringify([encodePeer(peer), Boolean(peer.nextHopSelf), Boolean(peer.extendedNexthop)]);
  return createHash('sha256').update(canonical).digest('hex');
}

const STATE_NAMES: Record<string, BgpPeerStateName> = {
  UNKNOWN: 'unknown',
  IDLE: 'idle',
  CONNECT: 'connect',
  ACTIVE: 'active',
  OPENSENT: 'opensent',
  OPENCONFIRM: 'openconfirm',
  ESTABLISHED: 'established',
};

function timestampSeconds(t: unknown): number | undefined {
  const s = (t as { seconds?: number | string } | null | undefined)?.seconds;
  const n = typeof s === 'string' ? Number(s) : s;
  return typeof n === 'number' && n > 0 ? n : undefined;
}

/** gobgp api Peer (ListPeer / WatchEvent) -> BgpPeerState. */
export function decodePeerState(p: Record<string, any>): BgpPeerState {
  const address = nonNil(p?.state?.neighbor_address) ?? nonNil(p?.conf?.neighbor_address) ?? '';
  const state = STATE_NAMES[String(p?.state?.session_state ?? 'UNKNOWN')] ?? 'unknown';
  const families: BgpPeerState['families'] = {};
  for (const a of (p?.afi_safis ?? []) as Array<Record<string, any>>) {
    const family = familyFromApi(a?.state?.family ?? a?.config?.family);
    if (!family) continue;
    families[family] = {
      received: Number(a.state?.received ?? 0),
      accepted: Number(a.state?.accepted ?? 0),
      advertised: Number(a.state?.advertised ?? 0),
    };
  }
  const out: BgpPeerState = { address, asn: Number(p?.state?.peer_asn || p?.conf?.peer_asn || 0), state, families };
  const uptime = state === 'established' ? timestampSeconds(p?.timers?.state?.uptime) : undefined;
  if (uptime !== undefined) out.uptime = uptime;
  const description = p?.conf?.description || p?.state?.description;
  if (description) out.description = description;
  return out;
}
