import { AddressFamilies, Informers, Nftables, SDK_API_VERSION, definePlugin } from '@krouter/sdk';
import { cleanupFirewall, startFirewall } from './agent.ts';
import { firewallConfigSchema, type FirewallConfig } from './config.ts';

/**
 * The `firewall` plugin: networking.k8s.io/v1 NetworkPolicy for this node's
 * pods on nftables, every enabled family in one table, with pod events
 * applied as set element changes.
 */
export default definePlugin<FirewallConfig, { families: typeof AddressFamilies; nftables: typeof Nftables; informers: typeof Informers }>({
  name: 'firewall',
  apiVersion: SDK_API_VERSION,
  description: 'NetworkPolicy enforcement on nftables for IPv4, IPv6 and dual-stack',
  configSchema: firewallConfigSchema,
  requires: { families: AddressFamilies, nftables: Nftables, informers: Informers },
  start: (ctx, deps) => startFirewall(ctx, deps),
  cleanup: (ctx, deps) => cleanupFirewall(deps, ctx.logger),
});
