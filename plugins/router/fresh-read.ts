/**
 * The result of an async read, reused while younger than `maxAgeMs`, and
 * never waited for once there is one: an older value is returned at once
 * while a new read runs in the background.
 *
 * The kernel-route sync judges learned routes against the node's addresses
 * (is the next hop directly reachable, is it our own address). Reading them
 * spawns `ip -json address show`, which on a loaded 2-core node costs
 * 10-40 ms. A burst of BGP paths usually comes after a quiet spell, so with
 * a plain age limit the first sync of every burst waited for that read
 * (measured: 21-36 ms of a 1,000-route burst whose kernel writes took
 * 40 ms). Addresses change rarely, and not by BGP: an event sync may judge
 * with a value one read old. Full syncs and node changes read afresh
 * (force), and a change of addresses still makes every route judged again
 * once it is seen.
 */
export class FreshRead<T> {
  private last?: { at: number; value: T };
  private refreshing?: Promise<void>;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
    /** A background read that failed (the old value stays, the next get tries again). */
    private readonly onBackgroundError: (err: unknown) => void = () => undefined,
  ) {}

  /**
   * Forced, or nothing read yet: a new read, waited for. Otherwise the last
   * value, at once; when it is older than the limit a new read starts in
   * the background (one at a time) for the gets after it. A failed read is
   * not cached.
   */
  async get(force = false): Promise<T> {
    if (force || !this.last) return this.readNow();
    if (this.now() - this.last.at >= this.maxAgeMs && !this.refreshing) {
      this.refreshing = this.readNow().then(
        () => undefined,
        (err: unknown) => this.onBackgroundError(err),
      );
      void this.refreshing.finally(() => (this.refreshing = undefined));
    }
    return this.last.value;
  }

  /** Resolves when no background read runs (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.refreshing) await this.refreshing;
  }

  private async readNow(): Promise<T> {
    const t = this.now();
    const value = await this.read();
    // A slower read started earlier does not replace a newer one.
    if (!this.last || this.last.at <= t) this.last = { at: t, value };
    return value;
  }
}
