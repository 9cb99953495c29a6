import { isIPv4, isIPv6 } from 'node:net';
import type { Family } from './families.ts';

/**
 * The family of an IP address (no prefix) by the platform's own parser, or
 * undefined when it is not one. Same answer as `tryFamilyOf` for addresses,
 * without building an object per call: for hot paths that read thousands
 * of pod addresses per sync.
 */
export function addressFamily(ip: string): Family | undefined {
  if (isIPv4(ip)) return 'ipv4';
  if (isIPv6(ip)) return 'ipv6';
  return undefined;
}
