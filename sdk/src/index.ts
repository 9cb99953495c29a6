/**
 * @krouter/sdk — the API krouter plugins are written against.
 * Plugins import only from here (and npm libraries), never from the host.
 */
export * from './token.ts';
export * from './families.ts';
export * from './plugin.ts';
export * from './reconciler.ts';
export * from './node-network.ts';
export * from './services/address-families.ts';
export * from './services/netlink.ts';
export * from './services/nftables.ts';
export * from './services/gobgp.ts';
export * from './services/informers.ts';
export * from './services/basics.ts';
