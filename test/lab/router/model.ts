/**
 * What the external router does, independent of BIRD or FRR: one eBGP
 * session per node and enabled family (router ASN 64513, nodes 64512),
 * accept what nodes send, originate the "internet" prefixes and a default
 * route, and optionally install learned routes into its own kernel.
 */
import {
  CLUSTER_ASN,
  ROUTER_ASN,
  families,
  nodeUnderlay,
  routerOriginated,
  routerUnderlay,
  type Family,
  type LabSpec,
} from '../config.ts';

export interface RouterSession {
  /** A name usable as a BIRD protocol name: node_1_v4. */
  name: string;
  node: string;
  family: Family;
  neighbor: string;
  neighborAsn: number;
  localAddress: string;
}

export interface RouterModel {
  routerId: string;
  asn: number;
  families: Family[];
  sessions: RouterSession[];
  /** Per family: prefixes originated towards the nodes, the default route included. */
  originate: Record<Family, string[]>;
  /** Install learned routes into the router namespace's kernel. */
  kernelRoutes: boolean;
}

const DEFAULT: Record<Family, string> = { ipv4: '0.0.0.0/0', ipv6: '::/0' };

export function routerModel(spec: LabSpec): RouterModel {
  const fams = families(spec);
  const local = routerUnderlay(spec);
  const sessions: RouterSession[] = [];
  spec.nodes.forEach((node, i) => {
    const addrs = nodeUnderlay(spec, i + 1);
    for (const f of fams) {
      sessions.push({
        name: `${node.replace(/[^a-zA-Z0-9]/g, '_')}_v${f === 'ipv4' ? 4 : 6}`,
        node,
        family: f,
        neighbor: addrs[f]!,
        neighborAsn: CLUSTER_ASN,
        localAddress: local[f]!,
      });
    }
  });
  const originated = routerOriginated(spec);
  const originate = { ipv4: [] as string[], ipv6: [] as string[] };
  for (const f of fams) originate[f] = [originated[f]!, DEFAULT[f]];
  return {
    // A router id must be an IPv4-shaped number even on IPv6-only routers.
    routerId: local.ipv4 ?? '198.18.0.254',
    asn: ROUTER_ASN,
    families: fams,
    sessions,
    originate,
    kernelRoutes: spec.routerKernelRoutes,
  };
}
