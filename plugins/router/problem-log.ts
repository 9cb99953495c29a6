/**
 * Reports each router problem once while it lasts: a sync reports what it
 * finds in a round, and a problem missing from the round that ends is
 * forgotten, so it is reported again if it comes back after a fix. (Before,
 * every message ever reported was kept for the agent's life: memory grew
 * with each distinct bad annotation, and a fixed-then-repeated mistake was
 * never reported again.)
 *
 * Reports outside a round (kernel-route write failures, which come from
 * the speaker's event path) are kept until the next round ends: they are
 * reported again at most once per router sync while they recur.
 */
export class ProblemLog {
  private shown = new Set<string>();
  private round?: Set<string>;

  constructor(private readonly emit: (message: string, node: string) => void) {}

  beginRound(): void {
    this.round = new Set();
  }

  report(message: string, node: string): void {
    this.round?.add(message);
    if (this.shown.has(message)) return;
    this.shown.add(message);
    this.emit(message, node);
  }

  /** Forgets what this round did not report. A sync that threw does not end its round: nothing is forgotten. */
  endRound(): void {
    if (!this.round) return;
    this.shown = this.round;
    this.round = undefined;
  }

  /** How many distinct problems are remembered (for tests and status). */
  get size(): number {
    return this.shown.size;
  }
}
