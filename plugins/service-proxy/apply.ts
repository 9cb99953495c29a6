import type { Nftables } from '@krouter/sdk';
import { TABLE } from './names.ts';

/** The one table this plugin owns, written through the Nftables service. */

/**
 * Full sync: the whole table replaced in one transaction, but for the
 * `dynamicSets` the body declares (ClientIP affinity, filled by the data
 * path), which keep their clients. Returns the transaction's size in bytes.
 */
export async function applyFull(nft: Nftables, body: string, dynamicSets: Iterable<string>): Promise<number> {
  await nft.applyTable(TABLE, body, { keepSets: dynamicSets });
  return Buffer.byteLength(body);
}

/** Partial sync: only the changed services' chains and elements, one transaction. Returns its size in bytes. */
export async function applyPartial(nft: Nftables, script: string): Promise<number> {
  if (script === '') return 0;
  await nft.applyScript(script);
  return Buffer.byteLength(script);
}

export async function removeTable(nft: Nftables): Promise<boolean> {
  if (!(await nft.tableExists(TABLE))) return false;
  await nft.deleteTable(TABLE);
  return true;
}

/** The table as nft JSON (drift checks); undefined when it does not exist. */
export async function readTable(nft: Nftables): Promise<unknown | undefined> {
  return nft.listTable(TABLE);
}
