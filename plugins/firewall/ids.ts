import { createHash } from 'node:crypto';

/**
 * Short stable ids for nft object names: a policy's namespace/name can be
 * 300 characters, an nft name at most 255, and set names are derived from
 * selector contents so that equal selectors of many policies share one set.
 */
export function shortId(parts: readonly unknown[], length = 12): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, length);
}
