import { AddressFamilies, Exec, Informers, Nftables, SDK_API_VERSION, definePlugin } from '@krouter/sdk';
import { cleanupServiceProxy, startServiceProxy } from './agent.ts';
import { configSchema, type ServiceProxyConfig } from './config.ts';

/**
 * The `service-proxy` plugin: Kubernetes Services on nftables, one `inet
 * krouter-proxy` table for every enabled family — ClusterIPs, NodePorts,
 * ExternalIPs and LoadBalancer IPs DNATed to endpoints through per-family
 * verdict maps, with partial syncs that touch only the changed services.
 */
export default definePlugin<
  ServiceProxyConfig,
  { families: typeof AddressFamilies; nftables: typeof Nftables; informers: typeof Informers; exec: typeof Exec }
>({
  name: 'service-proxy',
  apiVersion: SDK_API_VERSION,
  description: 'Kubernetes Services (ClusterIP, NodePort, ExternalIPs, LoadBalancer) on nftables for IPv4, IPv6 and dual-stack',
  configSchema,
  requires: { families: AddressFamilies, nftables: Nftables, informers: Informers, exec: Exec },
  start: (ctx, deps) => startServiceProxy(ctx, deps),
  cleanup: (ctx, deps) => cleanupServiceProxy(deps, ctx.logger),
});
