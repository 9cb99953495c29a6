/**
 * Runs `task` in the background, never twice at once: a call while it runs
 * asks for one more run after it (calls meanwhile fold into that one), so
 * the last call is always followed by a run that started after it. With
 * `spacingMs`, that follow-up run waits until `spacingMs` after the start of
 * the one before: a burst of calls costs one run per interval, not one per
 * call. For bookkeeping (metrics) that must not hold up the caller. Errors
 * go to `onError`.
 */
export function coalesced(
  task: () => Promise<void>,
  onError: (err: unknown) => void,
  opts: { spacingMs?: number } = {},
): { (): void; idle(): Promise<void> } {
  const spacingMs = opts.spacingMs ?? 0;
  let running: Promise<void> | undefined;
  let again = false;
  /** Ends the wait before a follow-up run early (idle(): shutdown and tests do not wait out the spacing). */
  let hurry: (() => void) | undefined;
  let idling = false;
  const spaced = (since: number): Promise<void> => {
    const wait = since + spacingMs - Date.now();
    if (wait <= 0 || idling) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      timer.unref?.();
      hurry = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      hurry = undefined;
    });
  };
  const start = (): void => {
    running = (async () => {
      let started = 0;
      do {
        if (started) await spaced(started);
        again = false;
        started = Date.now();
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
  /** Resolves when no run is in flight (tests, shutdown); a pending follow-up run starts at once. */
  run.idle = async (): Promise<void> => {
    idling = true;
    try {
      while (running) {
        hurry?.();
        await running;
      }
    } finally {
      idling = false;
    }
  };
  return run;
}
