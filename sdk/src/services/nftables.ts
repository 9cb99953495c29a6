import { serviceToken } from '../token.ts';

/** nftables families krouter may own tables in. */
export type NftFamily = 'inet' | 'ip' | 'ip6' | 'bridge' | 'netdev';

export interface NftTableRef {
  family: NftFamily;
  /** Must start with `krouter-`: krouter touches only tables it owns. */
  name: string;
}

/** How `applyTable` treats what the kernel already holds. */
export interface ApplyTableOptions {
  /**
   * Sets the kernel fills itself (dynamic sets that rules `update`, such as
   * ClientIP affinity): when the table exists and holds a set of one of
   * these names that the new body declares again, the set keeps its
   * elements; everything else is replaced as usual, in the same one
   * transaction. A set left out of the new body is removed.
   */
  keepSets?: Iterable<string>;
}

/**
 * nftables: whole-table transactions. A plugin renders the complete body of
 * its table; the service replaces the table atomically in one `nft -f`.
 */
export interface Nftables {
  /**
   * Replaces the table with `body` (the text between the table's braces:
   * sets, maps, chains) in one transaction. Creates it when missing.
   * Throws NftError naming the failing line; the old table stays in place.
   */
  applyTable(table: NftTableRef, body: string, options?: ApplyTableOptions): Promise<void>;
  /** Runs an nft script (e.g. element adds) that touches only owned tables, as one transaction. */
  applyScript(script: string): Promise<void>;
  /** The table as `nft -j list table` JSON, or undefined if it does not exist. */
  listTable(table: NftTableRef): Promise<unknown | undefined>;
  deleteTable(table: NftTableRef): Promise<void>;
  tableExists(table: NftTableRef): Promise<boolean>;
}

export const Nftables = serviceToken<Nftables>('nftables', 1);
