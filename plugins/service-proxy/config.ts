import { z } from 'zod';
import { isCidr } from '@krouter/sdk';

const cidr = z.string().refine(isCidr, { message: 'must be a CIDR with no host bits, e.g. 198.18.0.0/16 or fd00::/48' });

/** kube-proxy's --nodeport-addresses: CIDRs, or `primary` for the node's primary address of each family. */
const nodePortAddress = z.union([z.literal('primary'), cidr]);

const portRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'must be FIRST-LAST, e.g. 30000-32767')
  .refine((s) => {
    const [a, b] = s.split('-').map(Number) as [number, number];
    return a >= 1 && b <= 65535 && a <= b;
  }, 'ports must be 1..65535 and FIRST <= LAST');

export const configSchema = z
  .object({
    /** Set by the host's config file; the plugin does not use it itself. */
    enabled: z.boolean().optional(),
    /**
     * Where NodePorts answer (kube-proxy's --nodeport-addresses): `primary`
     * (the node's primary address per family) and/or CIDRs; a local address
     * inside any of them takes NodePorts. `0.0.0.0/0` and `::/0` mean every
     * local address but loopback (kube-router's --nodeport-bindon-all-ip).
     */
    nodePortAddresses: z.array(nodePortAddress).default(['primary']),
    /** Only ExternalIPs inside these ranges are served (kube-router's --service-external-ip-range); empty: any. */
    externalIPRanges: z.array(cidr).default([]),
    /**
     * kube-router's --strict-external-ip-validation: an ExternalIP is served
     * only inside externalIPRanges and a LoadBalancer IP only inside
     * loadBalancerIPRanges; an empty list then allows none. Off: ExternalIPs
     * are checked against externalIPRanges when it is set, LoadBalancer IPs not at all.
     */
    strictExternalIPValidation: z.boolean().default(false),
    /** Where LoadBalancer IPs may be (kube-router's --loadbalancer-ip-range); used with strictExternalIPValidation. */
    loadBalancerIPRanges: z.array(cidr).default([]),
    /**
     * Conntrack timeouts of service connections, in seconds (kube-router's
     * --service-tcp-timeout, --service-tcpfin-timeout, --service-udp-timeout);
     * 0 keeps the kernel's. Applied as nftables `ct timeout` policies per
     * family and protocol to each new connection to a service.
     */
    conntrackTimeouts: z
      .object({
        /** TCP established. */
        tcp: z.number().int().min(0).max(2 ** 31 - 1).default(0),
        /** TCP after a FIN (fin_wait). */
        tcpFin: z.number().int().min(0).max(2 ** 31 - 1).default(0),
        /** UDP, replied or not. */
        udp: z.number().int().min(0).max(2 ** 31 - 1).default(0),
      })
      .strict()
      .prefault({}),
    /** Masquerade all traffic to services, not only off-cluster and external traffic (--masquerade-all). */
    masqueradeAll: z.boolean().default(false),
    /**
     * Ranges whose sources are "in the cluster": traffic to a ClusterIP from
     * anywhere else is masqueraded. Empty: every node's pod CIDRs (kube-proxy's --cluster-cidr).
     */
    clusterCIDRs: z.array(cidr).default([]),
    /** Service ClusterIP ranges (--service-cluster-ip-range); informational, shown in status. */
    serviceClusterIPRanges: z.array(cidr).default([]),
    /** NodePort range (--service-node-port-range); a NodePort outside it is a bad-input warning and not served. */
    nodePortRange: portRange.default('30000-32767'),
    /** A pod reaching itself through its service is masqueraded so the reply returns (--hairpin-mode); per service: the kube-router.io/service.hairpin annotation. */
    hairpinMode: z.boolean().default(true),
    /** Bit of the packet mark that asks for masquerade (kube-proxy's --iptables-masquerade-bit). */
    masqueradeBit: z.number().int().min(0).max(31).default(14),
    /**
     * Serve only services whose `service.kubernetes.io/service-proxy-name`
     * label has this value; unset: only services without that label.
     */
    serviceProxyName: z.string().min(1).optional(),
    /** Answer healthCheckNodePort of externalTrafficPolicy: Local services. */
    healthCheckNodePorts: z.boolean().default(true),
    /** Delete UDP conntrack entries of removed endpoints after the sync that removed them. */
    conntrackCleanup: z.boolean().default(true),
    /** Full resync period (repairs drift); event syncs in between are partial. */
    resyncSeconds: z.number().int().min(5).default(300),
    /** Syncs run at most this often (kube-proxy's --min-sync-period). */
    minSyncMs: z.number().int().min(0).max(60_000).default(100),
  })
  .strict();

export type ServiceProxyConfig = z.output<typeof configSchema>;
