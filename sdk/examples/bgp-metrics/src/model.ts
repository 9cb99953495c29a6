import type { BgpPeerState, BgpPeerStateName, Family } from '@krouter/sdk';

/** What one sync reads from BGP. */
export interface BgpSnapshot {
  /** False while BGP is not running (no router started it yet). */
  running: boolean;
  peers: BgpPeerState[];
  /** Number of prefixes in the global RIB, per enabled family. */
  ribRoutes: Partial<Record<Family, number>>;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Gauge values rendered from a snapshot; the plugin writes them as they are. */
export interface RenderedMetrics {
  running: number;
  peerEstablished: Sample[];
  peerReceivedRoutes: Sample[];
  ribRoutes: Sample[];
}

/** Pure: snapshot -> gauge samples. One sample per peer, per peer family, per enabled family. */
export function renderMetrics(snapshot: BgpSnapshot): RenderedMetrics {
  const peerEstablished: Sample[] = [];
  const peerReceivedRoutes: Sample[] = [];
  for (const peer of snapshot.peers) {
    const base = { peer: peer.address, peer_asn: String(peer.asn) };
    peerEstablished.push({ labels: base, value: peer.state === 'established' ? 1 : 0 });
    for (const [family, counts] of Object.entries(peer.families)) {
      peerReceivedRoutes.push({ labels: { ...base, family }, value: counts.accepted });
    }
  }
  const ribRoutes = Object.entries(snapshot.ribRoutes).map(([family, value]) => ({ labels: { family }, value: value ?? 0 }));
  return { running: snapshot.running ? 1 : 0, peerEstablished, peerReceivedRoutes, ribRoutes };
}

export interface PeerTransition {
  address: string;
  from: BgpPeerStateName | 'absent';
  to: BgpPeerStateName | 'absent';
}

/** Pure: which peers changed state between two syncs (worth one log line each). */
export function peerTransitions(previous: ReadonlyMap<string, BgpPeerStateName>, peers: readonly BgpPeerState[]): PeerTransition[] {
  const out: PeerTransition[] = [];
  const seen = new Set<string>();
  for (const peer of peers) {
    seen.add(peer.address);
    const from = previous.get(peer.address) ?? 'absent';
    if (from !== peer.state) out.push({ address: peer.address, from, to: peer.state });
  }
  for (const [address, from] of previous) {
    if (!seen.has(address)) out.push({ address, from, to: 'absent' });
  }
  return out;
}
