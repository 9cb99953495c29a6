import type { ApplyTableOptions, NftTableRef, Nftables } from '../services/nftables.ts';

function refKey(t: NftTableRef): string {
  return `${t.family} ${t.name}`;
}

function checkOwned(t: NftTableRef): void {
  if (!t.name.startsWith('krouter-')) throw new Error(`table ${refKey(t)} is not owned by krouter (names start with "krouter-")`);
}

/**
 * nftables in memory: each table is its body text. Refuses tables whose name
 * does not start with `krouter-`, as the host's service does. `failNext(msg)`
 * makes the next write throw, leaving the old table in place.
 */
export class FakeNftables implements Nftables {
  readonly tables = new Map<string, string>();
  /** Every write, in order. */
  readonly writes: Array<
    { kind: 'table'; table: NftTableRef; body: string; keepSets?: string[] } | { kind: 'script'; script: string } | { kind: 'delete'; table: NftTableRef }
  > = [];
  private failure: string | undefined;

  failNext(message: string): void {
    this.failure = message;
  }

  private maybeFail() {
    const f = this.failure;
    this.failure = undefined;
    if (f !== undefined) throw new Error(f);
  }

  /** The body last applied to a table, or undefined. */
  body(table: NftTableRef): string | undefined {
    return this.tables.get(refKey(table));
  }

  /** Records `keepSets` with the write (sorted); the fake holds no set elements to keep. */
  async applyTable(table: NftTableRef, body: string, options?: ApplyTableOptions): Promise<void> {
    checkOwned(table);
    this.maybeFail();
    const keepSets = options?.keepSets ? [...options.keepSets].sort() : undefined;
    this.writes.push({ kind: 'table', table: { ...table }, body, ...(keepSets?.length ? { keepSets } : {}) });
    this.tables.set(refKey(table), body);
  }

  async applyScript(script: string): Promise<void> {
    // Every table the script names must be an owned one.
    for (const m of script.matchAll(/\btable\s+(inet|ip6?|bridge|netdev|arp)\s+([^\s{;]+)/g)) {
      checkOwned({ family: m[1] as NftTableRef['family'], name: m[2]! });
    }
    for (const m of script.matchAll(/\b(?:element|set|map|chain|rule)\s+(inet|ip6?|bridge|netdev|arp)\s+([^\s{;]+)/g)) {
      checkOwned({ family: m[1] as NftTableRef['family'], name: m[2]! });
    }
    if (/^\s*flush\s+ruleset\b/m.test(script)) throw new Error('flush ruleset touches tables krouter does not own');
    this.maybeFail();
    this.writes.push({ kind: 'script', script });
  }

  async listTable(table: NftTableRef): Promise<unknown | undefined> {
    checkOwned(table);
    const body = this.tables.get(refKey(table));
    if (body === undefined) return undefined;
    return { nftables: [{ metainfo: { json_schema_version: 1 } }, { table: { family: table.family, name: table.name, handle: 1 } }], body };
  }

  async deleteTable(table: NftTableRef): Promise<void> {
    checkOwned(table);
    this.maybeFail();
    this.writes.push({ kind: 'delete', table: { ...table } });
    this.tables.delete(refKey(table));
  }

  async tableExists(table: NftTableRef): Promise<boolean> {
    checkOwned(table);
    return this.tables.has(refKey(table));
  }
}
