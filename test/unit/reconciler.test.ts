import assert from 'node:assert/strict';
import { createReconciler, type BuiltinSyncReason } from '@krouter/sdk';
import { createTestContext } from '@krouter/sdk/testing';

type Reason = 'path' | 'node';

/** A reconciler whose syncs record their reasons and can be held open until released. */
function recorder(opts: { failFirst?: boolean } = {}) {
  const { ctx, abort } = createTestContext({}, { name: 'r' });
  const syncs: Array<Array<Reason | BuiltinSyncReason>> = [];
  let hold: Promise<void> | undefined;
  let release = () => {};
  let entered = () => {};
  let failNext = opts.failFirst ?? false;
  const r = createReconciler<Reason>({
    name: 'r',
    sync: async (reasons) => {
      syncs.push([...reasons]);
      entered();
      if (hold) await hold;
      if (failNext) {
        failNext = false;
        throw new Error('kernel said no');
      }
    },
    logger: ctx.logger,
    metrics: ctx.metrics,
    health: ctx.health,
    signal: ctx.signal,
    debounceMs: 0,
    minIntervalMs: 0,
    resyncIntervalMs: 0,
    retryMs: 1,
  });
  return {
    r,
    syncs,
    /** The next sync blocks until release(); resolves once it has started. */
    holdNext(): Promise<void> {
      hold = new Promise((resolve) => (release = () => ((hold = undefined), resolve())));
      return new Promise((resolve) => (entered = resolve));
    },
    release: () => release(),
    async settle(count: number): Promise<void> {
      while (syncs.length < count) await new Promise((resolve) => setImmediate(resolve));
    },
    stop: async () => {
      abort.abort();
      await r.stop();
    },
  };
}

describe('SDK reconciler', () => {
  it('hands a burst of triggers to one sync, each reason once', async () => {
    const t = recorder();
    try {
      await t.r.start();
      for (let i = 0; i < 2000; i++) t.r.trigger('path');
      t.r.trigger('node');
      t.r.trigger('path');
      await t.settle(2);
      assert.deepEqual(t.syncs, [['start'], ['path', 'node']]);
    } finally {
      await t.stop();
    }
  });

  it('follows triggers that came during a sync with one more sync carrying them', async () => {
    const t = recorder();
    try {
      await t.r.start();
      const started = t.holdNext();
      t.r.trigger('node');
      await started;
      for (let i = 0; i < 100; i++) t.r.trigger('path');
      t.release();
      await t.settle(3);
      assert.deepEqual(t.syncs, [['start'], ['node'], ['path']]);
    } finally {
      await t.stop();
    }
  });

  it('retries a failed sync with the retry reason, once however often it is asked for', async () => {
    const t = recorder({ failFirst: true });
    try {
      await t.r.start();
      await t.settle(2);
      assert.deepEqual(t.syncs, [['start'], ['retry']]);
      assert.equal(t.r.lastError, undefined);
    } finally {
      await t.stop();
    }
  });
});
