import type { Endpoint } from './model.ts';

/** One endpoint address of one EndpointSlice, as read for one service port. */
export interface Candidate extends Endpoint {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** Hints of the EndpointSlice controller (topology-aware routing); undefined when the endpoint has none. */
  zoneHints?: readonly string[];
  nodeHints?: readonly string[];
}

export interface Topology {
  nodeName: string;
  /** This node's `topology.kubernetes.io/zone` label. */
  zone?: string;
}

/**
 * Endpoints for traffic under the Cluster policy (kube-proxy's rules): the
 * ready ones, narrowed by topology hints when they can be used; when none is
 * ready, the ones still serving while terminating, so connections drain
 * instead of failing.
 */
export function clusterEndpoints(all: readonly Candidate[], topology: Topology): Candidate[] {
  const ready = all.filter((e) => e.ready);
  if (ready.length) return byHints(ready, topology);
  return all.filter((e) => e.serving && e.terminating);
}

/** This node's endpoints for the Local policies: ready ones, else serving-and-terminating ones. */
export function localEndpoints(all: readonly Candidate[]): Candidate[] {
  const local = all.filter((e) => e.local);
  const ready = local.filter((e) => e.ready);
  return ready.length ? ready : local.filter((e) => e.serving && e.terminating);
}

/**
 * Topology-aware routing as kube-proxy does it: the EndpointSlice controller
 * writes hints only for services that ask for them (trafficDistribution:
 * PreferClose / PreferSameNode, topology-mode: Auto), so hints are used when
 * every endpoint carries them and some are meant for this node (or, next,
 * its zone); otherwise all endpoints are used, never none.
 */
export function byHints(ready: readonly Candidate[], topology: Topology): Candidate[] {
  const pick = (hints: (e: Candidate) => readonly string[] | undefined, mine: string | undefined): Candidate[] | undefined => {
    if (!mine || !ready.every((e) => (hints(e)?.length ?? 0) > 0)) return undefined;
    const chosen = ready.filter((e) => hints(e)!.includes(mine));
    return chosen.length ? chosen : undefined;
  };
  return pick((e) => e.nodeHints, topology.nodeName) ?? pick((e) => e.zoneHints, topology.zone) ?? [...ready];
}
