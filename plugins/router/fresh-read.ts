/**
 * The result of an async read, reused while younger than `maxAgeMs`.
 *
 * The kernel-route sync judges learned routes against the node's addresses
 * (is the next hop directly reachable, is it our own address). Reading them
 * spawns `ip -json address show`, which on a loaded 2-core node costs
 * 10-30 ms; during a burst of BGP paths the sync runs every few tens of ms,
 * and that read sat in front of every batch of routes. Addresses change
 * rarely: a read at most `maxAgeMs` old is good enough for event syncs,
 * full syncs read afresh (force), and a change of addresses still makes
 * every route judged again once it is seen.
 */
export class FreshRead<T> {
  private last?: { at: number; value: T };

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The cached value while fresh (and not forced), else a new read. A failed read is not cached. */
  async get(force = false): Promise<T> {
    const t = this.now();
    if (!force && this.last && t - this.last.at < this.maxAgeMs) return this.last.value;
    const value = await this.read();
    this.last = { at: t, value };
    return value;
  }
}
