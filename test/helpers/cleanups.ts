/**
 * How to take a fixture down again: each step that sets something up (a
 * namespace, a process, a directory) registers its undo right after it
 * succeeded; `run()` undoes last-first and goes on past a failing step, so
 * one stuck process does not leave namespaces behind. Running it again does
 * nothing.
 */
export class Cleanups {
  private readonly steps: Array<() => Promise<unknown> | unknown> = [];

  add(step: () => Promise<unknown> | unknown): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step();
      } catch {
        /* the remaining steps still run */
      }
    }
  }
}
