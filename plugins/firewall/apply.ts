import type { Nftables } from '@krouter/sdk';
import { TABLE } from './names.ts';

/** The firewall's kernel writes: whole table, element script, removal. Thin on purpose. */

export async function replaceTable(nft: Nftables, body: string): Promise<void> {
  await nft.applyTable(TABLE, body);
}

export async function applyElements(nft: Nftables, script: string): Promise<void> {
  if (script) await nft.applyScript(script);
}

export async function removeTable(nft: Nftables): Promise<boolean> {
  if (!(await nft.tableExists(TABLE))) return false;
  await nft.deleteTable(TABLE);
  return true;
}

/** The table as nft JSON, for reading counters; undefined when it does not exist. */
export async function readTable(nft: Nftables): Promise<unknown | undefined> {
  return nft.listTable(TABLE);
}
