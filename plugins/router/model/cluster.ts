import type { NodeNetwork } from '@krouter/sdk';
import type { NodeBgpSettings } from '../annotations.ts';

/** One node as the router sees it: addressing per family plus its BGP annotations. */
export interface ClusterNode {
  name: string;
  net: NodeNetwork;
  bgp: NodeBgpSettings;
}

/** The node's ASN: its `kube-router.io/node.asn` annotation, else the cluster ASN. */
export function nodeAsn(node: ClusterNode, clusterAsn: number): number {
  return node.bgp.asn ?? clusterAsn;
}
