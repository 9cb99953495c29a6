import { AddressFamilies, Informers, Netlink, Nftables, SDK_API_VERSION, definePlugin } from '@krouter/sdk';
import { cleanupCni, startCni } from './agent.ts';
import { configSchema, type CniConfig } from './config.ts';

/**
 * The `cni` plugin: the node's pod network. Writes the CNI config (bridge +
 * host-local IPAM with one range per enabled family, then portmap), sets up
 * kube-bridge with the gateway address of each family, and masquerades pod
 * traffic leaving the cluster's ranges.
 */
export default definePlugin<CniConfig, { families: typeof AddressFamilies; netlink: typeof Netlink; nftables: typeof Nftables; informers: typeof Informers }>({
  name: 'cni',
  apiVersion: SDK_API_VERSION,
  description: 'CNI config, kube-bridge and pod egress masquerade for every enabled family',
  configSchema,
  requires: { families: AddressFamilies, netlink: Netlink, nftables: Nftables, informers: Informers },
  start: (ctx, deps) => startCni(ctx, deps),
  cleanup: (ctx, deps) => cleanupCni(ctx.config, deps, ctx.logger),
});
