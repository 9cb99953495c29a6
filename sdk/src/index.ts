/**
 * @krouter/sdk — the API krouter plugins are written against.
 * Plugins import only from here (and npm libraries), never from the host.
 */
export * from './token.ts';
export * from './families.ts';
export * from './nft-families.ts';
export * from './mac.ts';
export * from './sysctl-families.ts';
export * from './nft-filter-families.ts';
export * from './address-text.ts';
export * from './address-range.ts';
export * from './leader-election.ts';
export * from './plugin.ts';
export * from './reconciler.ts';
export * from './drift.ts';
export * from './node-network.ts';
export * from './services/address-families.ts';
export * from './services/netlink.ts';
export * from './services/nftables.ts';
export * from './services/gobgp.ts';
export * from './services/informers.ts';
export * from './services/basics.ts';
