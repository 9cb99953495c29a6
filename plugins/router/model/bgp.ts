import type { BgpDesiredState, BgpPath, BgpPeer, Family, V1EndpointSlice, V1Service } from '@krouter/sdk';
import type { RouterConfig } from '../config.ts';
import type { ClusterNode } from './cluster.ts';
import { externalPeers, meshPeers } from './peers.ts';
import { podCidrPaths, serviceVipPaths } from './paths.ts';
import { exportPolicy, importPolicy, refusedPrefixes } from './policies.ts';
import { desiredGlobal } from './speaker.ts';

export interface BgpModelInput {
  local: ClusterNode;
  nodes: readonly ClusterNode[];
  config: RouterConfig;
  families: readonly Family[];
  services: readonly V1Service[];
  endpointSlices: readonly V1EndpointSlice[];
  /** Passwords of config.peerRouters read from peerRouterPasswordsFile, by index. */
  passwordsFromFile?: readonly (string | undefined)[];
  /** Our Node object was deleted after we had started: originate nothing (its pod CIDRs may go to another node). */
  withdrawAll?: boolean;
}

/** A line of `errors` and the Node it is about (the Node its Warning event goes on). */
export interface BgpProblem {
  node: string;
  message: string;
}

export interface BgpModel {
  desired: BgpDesiredState & { global: NonNullable<BgpDesiredState['global']>; peers: BgpPeer[]; paths: BgpPath[] };
  /** One line per object that could not be configured, naming node/key. */
  errors: string[];
  /**
   * The same lines with the Node each is about: another node's malformed
   * topology annotation (ASN, route reflector) is about that node, the rest
   * about this one.
   */
  problems: BgpProblem[];
}

/**
 * This node's whole desired BGP state, from the caches: the speaker, the
 * sessions (cluster mesh or reflectors, and external routers), the paths it
 * originates and the import/export policies. Pure; the Gobgp service does
 * the rest.
 */
export function desiredBgp(input: BgpModelInput): BgpModel | { error: string } {
  const { local, nodes, config, families } = input;
  const { global, error } = desiredGlobal(local, config, families);
  if (!global) return { error: error! };
  const problems: BgpProblem[] = [];
  const about = (node: string, lines: readonly string[]) => {
    for (const message of lines) problems.push({ node, message });
  };
  about(local.name, [...local.net.errors, ...local.bgp.errors]);
  for (const n of nodes) if (n !== local) about(n.name, n.bgp.topologyErrors);

  const external = externalPeers(local, config, families, input.passwordsFromFile ?? []);
  about(local.name, external.errors);
  const peers = new Map<string, BgpPeer>();
  for (const p of [...meshPeers(local, nodes, config, families), ...external.peers]) {
    if (!peers.has(p.address)) peers.set(p.address, p);
  }

  const pod = config.advertisePodCidr ? podCidrPaths(local, families, { extendedNexthop: config.sessionMode === 'single' }) : { paths: [], errors: [] };
  const vip = serviceVipPaths(local, input.services, input.endpointSlices, config, families);
  about(local.name, [...pod.errors, ...vip.errors]);
  const paths = input.withdrawAll ? new Map<string, BgpPath>() : new Map<string, BgpPath>([...pod.paths, ...vip.paths].map((p) => [p.prefix, p]));

  const externalAddresses = external.peers.map((p) => p.address).filter((a) => peers.get(a)?.description === 'external');
  const refused = refusedPrefixes([...config.serviceClusterIPRanges, ...config.serviceExternalIPRanges], families);
  return {
    desired: {
      global,
      peers: [...peers.values()],
      paths: [...paths.values()],
      policies: { import: importPolicy(refused), export: exportPolicy(externalAddresses, [...paths.keys()]) },
    },
    errors: problems.map((p) => p.message),
    problems,
  };
}
