import { z } from 'zod';

const asn = z.number().int().min(1).max(4294967295);
const port = z.number().int().min(1).max(65535);

/** A BGP peer outside the cluster, from config or kube-router's --peer-router-* flags. */
export const peerRouterSchema = z
  .object({
    address: z.string(),
    asn,
    port: port.optional(),
    /** Base64, as kube-router's --peer-router-passwords. */
    password: z.string().optional(),
    multihopTtl: z.number().int().min(1).max(255).optional(),
    localAddress: z.string().optional(),
  })
  .strict();

const gracefulRestartSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Seconds peers keep our routes while we restart (kube-router: --bgp-graceful-restart-time). */
    restartTime: z.number().int().min(1).max(4095).default(90),
    /** Seconds to wait for peers' End-of-RIB after our restart (kube-router: --bgp-graceful-restart-deferral-time, at most 18h). */
    deferralTime: z.number().int().min(1).max(64800).default(360),
  })
  .strict();

export const routerConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    clusterAsn: asn.default(64512),
    /** An IPv4 address, or 'generate' (stable, derived from the node name; needed on IPv6-only nodes). */
    routerId: z.string().optional(),
    bgpPort: port.default(179),
    /** Addresses gobgpd listens on; default: all. */
    listenAddresses: z.array(z.string()).optional(),
    holdTime: z.number().int().min(3).max(65535).default(90),
    keepaliveInterval: z.number().int().min(1).max(21845).optional(),
    /**
     * Seconds between connection attempts to a peer. gobgp's default (120 s)
     * makes a session whose first attempt raced the other side's config wait
     * two minutes; gobgp ignores values below 5.
     */
    connectRetry: z.number().int().min(1).max(65535).default(5),
    /** iBGP full mesh among nodes of the same ASN. Off when route reflectors are used. */
    nodesFullMesh: z.boolean().default(true),
    /**
     * BGP sessions with the other nodes at all (full mesh or route
     * reflectors); false: only the peers outside the cluster (kube-router's --enable-ibgp).
     */
    ibgp: z.boolean().default(true),
    /**
     * per-family: one session per family over that family's node addresses.
     * single: one session over IPv6 carrying both families (IPv4 with extended next hop).
     */
    sessionMode: z.enum(['per-family', 'single']).default('per-family'),
    advertisePodCidr: z.boolean().default(true),
    advertiseClusterIP: z.boolean().default(false),
    advertiseExternalIP: z.boolean().default(false),
    advertiseLoadBalancerIP: z.boolean().default(false),
    peerRouters: z.array(peerRouterSchema).default([]),
    /** A file with comma-separated base64 passwords, one per peer router in order. */
    peerRouterPasswordsFile: z.string().optional(),
    peerMultihopTtl: z.number().int().min(1).max(255).optional(),
    overrideNexthop: z.boolean().default(false),
    gracefulRestart: gracefulRestartSchema.default({ enabled: false, restartTime: 90, deferralTime: 360 }),
    /** Install routes learned over BGP in the kernel. */
    installRoutes: z.boolean().default(true),
    /** Ranges never installed from peers (service ranges); kube-router's --service-cluster-ip-range. */
    serviceClusterIPRanges: z.array(z.string()).default([]),
    serviceExternalIPRanges: z.array(z.string()).default([]),
    /** Routing table for learned routes (main by default). */
    routeTable: z.number().int().min(1).max(4294967295).optional(),
    /** Full resync of the speaker, peers and advertised paths (kube-router: --routes-sync-period). */
    resyncSeconds: z.number().int().min(5).default(60),
    /** Full resync of the learned routes in the kernel (kube-router: --injected-routes-sync-period). */
    kernelRoutesResyncSeconds: z.number().int().min(5).default(60),
  })
  .strict();

export type RouterConfig = z.infer<typeof routerConfigSchema>;
export type PeerRouterConfig = z.infer<typeof peerRouterSchema>;
