import type { Family } from '../families.ts';
import { serviceToken } from '../token.ts';

export interface BgpGracefulRestart {
  enabled: boolean;
  /** Seconds peers keep our routes after the session drops. */
  restartTime?: number;
  /** Seconds to wait for peers' End-of-RIB after a restart before selecting paths. */
  deferralTime?: number;
}

export interface BgpGlobal {
  asn: number;
  routerId: string;
  /** TCP port to listen on; -1 disables listening. Default 179. */
  listenPort?: number;
  listenAddresses?: string[];
  families: Family[];
  gracefulRestart?: BgpGracefulRestart;
}

export interface BgpPeer {
  address: string;
  asn: number;
  /** Families this session carries; each becomes an AFI-SAFI. */
  families: Family[];
  port?: number;
  password?: string;
  /** eBGP multihop TTL; absent means directly connected. */
  multihopTtl?: number;
  localAddress?: string;
  holdTime?: number;
  keepaliveInterval?: number;
  connectRetry?: number;
  passive?: boolean;
  description?: string;
  routeReflectorClient?: boolean;
  routeReflectorClusterId?: string;
  gracefulRestart?: BgpGracefulRestart;
  /** Carry IPv4 over an IPv6 session (RFC 8950 extended next hop). */
  extendedNexthop?: boolean;
  /** Replace the next hop with our local address when sending to this peer. */
  nextHopSelf?: boolean;
}

/** A path to originate. Its family is derived from `prefix`, never from the caller. */
export interface BgpPath {
  prefix: string;
  nextHop: string;
  /**
   * Allows an IPv6 next hop for an IPv4 prefix (RFC 8950 extended next hop,
   * for IPv6-only underlays). Without it, a next hop of the other family is
   * refused; an IPv4 next hop for an IPv6 prefix is always refused.
   */
  extendedNexthop?: boolean;
  /** Standard communities, "65000:100" or a decimal. */
  communities?: string[];
  localPref?: number;
  /** ASNs prepended to the AS path. */
  asPath?: number[];
  med?: number;
}

/** A path in a RIB. */
export interface BgpRoute {
  family: Family;
  prefix: string;
  nextHop: string;
  /** Peer address it came from; absent for locally originated paths. */
  source?: string;
  sourceAsn?: number;
  asPath: number[];
  communities: string[];
  best: boolean;
  withdrawal?: boolean;
}

export type BgpPeerStateName = 'unknown' | 'idle' | 'connect' | 'active' | 'opensent' | 'openconfirm' | 'established';

export interface BgpPeerState {
  address: string;
  asn: number;
  state: BgpPeerStateName;
  /** Unix seconds of the last transition to established, if any. */
  uptime?: number;
  families: Record<string, { received: number; accepted: number; advertised: number }>;
  description?: string;
}

export type BgpEvent =
  | { type: 'best'; route: BgpRoute }
  | { type: 'withdraw'; route: BgpRoute }
  | { type: 'peer'; peer: BgpPeerState }
  /** gobgpd was (re)started and the desired state replayed. */
  | { type: 'restarted' }
  /** The event stream broke and was re-established: events may have been missed; re-read what you keep. */
  | { type: 'watch-restarted' };

export type RibTable = 'global' | 'local' | 'adj-in' | 'adj-out';

/** Export/import policy: one named statement list, applied per direction. */
export interface BgpPolicy {
  name: string;
  /** Statements evaluated in order; first match wins. */
  statements: Array<{
    prefixes?: Array<{ prefix: string; maskLengthMin?: number; maskLengthMax?: number }>;
    neighbors?: string[];
    action: 'accept' | 'reject';
    addCommunities?: string[];
    prependAsn?: { asn: number; repeat: number };
    nextHop?: string | 'self';
  }>;
}

/**
 * The whole BGP state a plugin wants, handed over on every sync. The
 * service diffs it against what gobgpd holds and sends only the difference.
 */
export interface BgpDesiredState {
  /** The speaker's global settings; absent means BGP stopped (gobgpd is stopped). */
  global?: BgpGlobal;
  peers: readonly BgpPeer[];
  /** Paths to originate; each prefix at most once (a later duplicate is rejected). */
  paths: readonly BgpPath[];
  policies?: { import?: BgpPolicy; export?: BgpPolicy };
}

/** Why one object of a desired state was not applied. */
export type BgpRejectionKind =
  /** The object itself is malformed (bad address, next hop of the wrong family, duplicate). */
  | 'invalid'
  /** gobgpd refused it. */
  | 'refused';

export interface BgpRejection {
  object: 'peer' | 'path';
  /** Peer address or path prefix, as given. */
  key: string;
  kind: BgpRejectionKind;
  message: string;
}

export interface BgpApplyResult {
  /** Objects left out; everything else is applied (or will be, once gobgpd is up). */
  rejected: BgpRejection[];
}

/**
 * BGP through a supervised gobgpd, declaratively: `apply` takes the whole
 * desired state; the service alone keeps it, diffs it against gobgpd,
 * adopts a gobgpd left running by a previous agent (removing what is no
 * longer desired) and replays it after gobgpd restarts.
 */
export interface Gobgp {
  /**
   * Makes gobgpd hold exactly this state. Applying the same state again
   * sends nothing. Throws on a malformed global config or policy (nothing
   * changes then); a malformed peer or path is rejected alone.
   */
  apply(desired: BgpDesiredState): Promise<BgpApplyResult>;
  listPeers(): Promise<BgpPeerState[]>;
  /** Paths of one family in a table (adj tables need `peer`). */
  listPaths(family: Family, table?: RibTable, peer?: string): Promise<BgpRoute[]>;
  /** Subscribes to best-path and peer-state changes. */
  watch(listener: (event: BgpEvent) => void): () => void;
  /** True while gobgpd is up and the desired state has been replayed. */
  readonly ready: boolean;
}

export const Gobgp = serviceToken<Gobgp>('gobgp', 2);
