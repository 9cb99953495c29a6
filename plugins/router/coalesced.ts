/**
 * Runs `task` in the background, never twice at once: a call while it runs
 * asks for one more run after it (calls meanwhile fold into that one), so
 * the last call is always followed by a run that started after it. For
 * bookkeeping (metrics) that must not hold up the caller. Errors go to
 * `onError`.
 */
export function coalesced(task: () => Promise<void>, onError: (err: unknown) => void): { (): void; idle(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  const start = (): void => {
    running = (async () => {
      do {
        again = false;
        try {
          await task();
        } catch (err) {
          onError(err);
        }
      } while (again);
    })().finally(() => {
      running = undefined;
    });
  };
  const run = (): void => {
    if (running) again = true;
    else start();
  };
  /** Resolves when no run is in flight (tests, shutdown). */
  run.idle = async (): Promise<void> => {
    while (running) await running;
  };
  return run;
}
