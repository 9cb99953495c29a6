/**
 * The desired-state store and its diff, pure: a caller's BgpDesiredState is
 * validated and encoded once into a BgpState (keyed, fingerprinted objects),
 * and two BgpStates give the plan of RPCs that turns one into the other.
 *
 * The same diff serves every case: a sync (applied -> desired), the replay
 * after a gobgpd restart (empty -> desired) and the adoption of a running
 * gobgpd (what it holds -> desired).
 */
import { parseIP, type BgpDesiredState, type BgpGlobal, type BgpPath, type BgpPeer, type BgpPolicy, type BgpRejection } from '@krouter/sdk';
import { BgpInputError, encodeGlobal, encodePath, localPathMatches, peerFingerprint, type EncodedPath } from './encode.ts';
import { renderPolicies, type PolicyDirection, type RenderedPolicies } from './policy.ts';

export interface StatePeer {
  peer: BgpPeer;
  /** Canonical config; '' when unknown (a peer found on an adopted gobgpd without a record). */
  fingerprint: string;
}

export interface StatePath {
  path: BgpPath;
  encoded: EncodedPath;
  /** Canonical encoding; undefined for a path read back from gobgpd (compared through `listed`). */
  fingerprint?: string;
  /** The path as gobgpd listed it (adopted gobgpd only). */
  listed?: Record<string, any>;
}

export interface StatePolicies {
  policies: Partial<Record<PolicyDirection, BgpPolicy>>;
  rendered: RenderedPolicies;
  /** Per direction, the canonical rendering; undefined when unknown (adopted gobgpd without a record). */
  fingerprint: Record<PolicyDirection, string> | undefined;
}

/** A BGP state, desired or held by gobgpd. */
export interface BgpState {
  global?: { global: BgpGlobal; fingerprint: string };
  peers: Map<string, StatePeer>;
  paths: Map<string, StatePath>;
  policies: StatePolicies;
}

export function emptyState(): BgpState {
  return { peers: new Map(), paths: new Map(), policies: statePolicies({}, new Map()) };
}

/** Per direction, what gobgpd's policy depends on (rendering is deterministic). */
function policyFingerprint(policies: Partial<Record<PolicyDirection, BgpPolicy>>, nextHopSelf: readonly string[]): Record<PolicyDirection, string> {
  return {
    import: JSON.stringify(policies.import ?? null),
    export: JSON.stringify([policies.export ?? null, [...nextHopSelf].sort()]),
  };
}

export function globalFingerprint(global: BgpGlobal): string {
  return JSON.stringify(encodeGlobal(global));
}

function message(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

/**
 * Validates and encodes a desired state. A malformed global config or policy
 * throws (BgpInputError); a malformed peer or path is left out and named.
 */
export function normalizeDesired(desired: BgpDesiredState): { state: BgpState; rejected: BgpRejection[] } {
  const rejected: BgpRejection[] = [];
  const state = emptyState();
  if (desired.global) state.global = { global: structuredClone(desired.global), fingerprint: globalFingerprint(desired.global) };
  for (const peer of desired.peers ?? []) {
    try {
      const fingerprint = peerFingerprint(peer);
      const address = parseIP(peer.address).address;
      if (state.peers.has(address)) throw new BgpInputError(`bgp peer ${address}`, 'configured twice; keeping the first');
      state.peers.set(address, { peer: { ...structuredClone(peer), address }, fingerprint });
    } catch (e) {
      rejected.push({ object: 'peer', key: String(peer?.address), kind: 'invalid', message: message(e) });
    }
  }
  for (const path of desired.paths ?? []) {
    try {
      const encoded = encodePath(path);
      if (state.paths.has(encoded.prefix)) throw new BgpInputError(`path ${encoded.prefix}`, 'given twice; keeping the first');
      state.paths.set(encoded.prefix, {
        path: { ...structuredClone(path), prefix: encoded.prefix },
        encoded,
        fingerprint: JSON.stringify(encoded.path),
      });
    } catch (e) {
      rejected.push({ object: 'path', key: String(path?.prefix), kind: 'invalid', message: message(e) });
    }
  }
  const policies: Partial<Record<PolicyDirection, BgpPolicy>> = {};
  if (desired.policies?.import) policies.import = structuredClone(desired.policies.import);
  if (desired.policies?.export) policies.export = structuredClone(desired.policies.export);
  state.policies = statePolicies(policies, state.peers);
  return { state, rejected };
}

/** Policies as gobgpd gets them: next-hop-self is an export statement naming those peers. */
export function statePolicies(policies: Partial<Record<PolicyDirection, BgpPolicy>>, peers: ReadonlyMap<string, StatePeer>): StatePolicies {
  const nextHopSelf = [...peers.values()].filter((p) => p.peer.nextHopSelf).map((p) => p.peer.address);
  const rendered = renderPolicies(policies, nextHopSelf);
  return { policies, rendered, fingerprint: policyFingerprint(policies, nextHopSelf) };
}

/** What to send to turn `have` into `want`, in the order it must be sent. */
export interface BgpPlan {
  /** The global config differs: gobgpd's BGP must be (re)started, and everything is replayed. */
  global: 'same' | 'start' | 'restart' | 'stop';
  deletePaths: StatePath[];
  deletePeers: string[];
  policies: PolicyDirection[];
  /** New paths and paths whose attributes changed (AddPath replaces a local path). */
  addPaths: StatePath[];
  addPeers: StatePeer[];
  updatePeers: StatePeer[];
}

export function emptyPlan(plan: BgpPlan): boolean {
  return (
    plan.global === 'same' &&
    plan.deletePaths.length + plan.deletePeers.length + plan.policies.length + plan.addPaths.length + plan.addPeers.length + plan.updatePeers.length === 0
  );
}

function samePath(have: StatePath, want: StatePath): boolean {
  if (have.fingerprint !== undefined) return have.fingerprint === want.fingerprint;
  return have.listed !== undefined && localPathMatches(have.listed, want.path);
}

/**
 * The diff. Paths go before peers: a session that comes up gets the whole
 * table at once (an empty table then End-of-RIB would make a graceful-restart
 * helper flush our routes). Withdrawals and removed peers go before a policy
 * change, so the policy is judged against what stays.
 */
export function diffState(have: BgpState, want: BgpState): BgpPlan {
  if (!want.global) {
    const global = have.global ? 'stop' : 'same';
    return { global, deletePaths: [], deletePeers: [], policies: [], addPaths: [], addPeers: [], updatePeers: [] };
  }
  if (!have.global || have.global.fingerprint !== want.global.fingerprint) {
    // A fresh BGP instance holds nothing: everything desired is sent.
    const replay = diffState({ ...emptyState(), global: want.global }, want);
    return { ...replay, global: have.global ? 'restart' : 'start' };
  }
  const deletePaths = [...have.paths].filter(([prefix]) => !want.paths.has(prefix)).map(([, p]) => p);
  const deletePeers = [...have.peers.keys()].filter((address) => !want.peers.has(address));
  const policies = (['import', 'export'] as const).filter((d) => have.policies.fingerprint?.[d] !== want.policies.fingerprint![d]);
  const addPaths = [...want.paths].filter(([prefix, p]) => {
    const h = have.paths.get(prefix);
    return !h || !samePath(h, p);
  }).map(([, p]) => p);
  const addPeers: StatePeer[] = [];
  const updatePeers: StatePeer[] = [];
  for (const [address, p] of want.peers) {
    const h = have.peers.get(address);
    if (!h) addPeers.push(p);
    else if (h.fingerprint !== p.fingerprint) updatePeers.push(p);
  }
  return { global: 'same', deletePaths, deletePeers, policies, addPaths, addPeers, updatePeers };
}

