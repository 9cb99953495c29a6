/**
 * @krouter/sdk/testing — in-memory doubles of every service, so a plugin can
 * be unit-tested without root, kernel or cluster.
 */
export * from './basics.ts';
export * from './address-families.ts';
export * from './netlink.ts';
export * from './nftables.ts';
export * from './gobgp.ts';
export * from './informers.ts';
export * from './context.ts';
