import assert from 'node:assert/strict';
import { coalesced } from '../../plugins/router/coalesced.ts';
import { FreshRead } from '../../plugins/router/fresh-read.ts';

describe('router: FreshRead (plugins/router/fresh-read.ts)', () => {
  it('reuses a read while younger than the limit; when older, returns it at once and reads again in the background; forced reads wait', async () => {
    let now = 0;
    let reads = 0;
    const r = new FreshRead(async () => ++reads, 1000, () => now);
    assert.equal(await r.get(), 1, 'nothing read yet: waits for the read');
    now = 999;
    assert.equal(await r.get(), 1, 'still fresh');
    assert.equal(reads, 1);
    assert.equal(await r.get(true), 2, 'forced');
    now = 1998;
    assert.equal(await r.get(), 2, 'fresh from the forced read');
    now = 1999;
    const both = await Promise.all([r.get(), r.get()]);
    assert.deepEqual(both, [2, 2], 'stale: the old value, without waiting');
    await r.idle();
    assert.equal(reads, 3, 'one background read for both gets');
    assert.equal(await r.get(), 3, 'the background read is used by the next get');
  });

  it('does not cache a failed read; a failed background read keeps the old value and is reported', async () => {
    let fail = true;
    let now = 0;
    const errors: unknown[] = [];
    const r = new FreshRead(
      async () => {
        if (fail) throw new Error('ip failed');
        return `ok@${now}`;
      },
      1000,
      () => now,
      (e) => errors.push(e),
    );
    await assert.rejects(r.get(), /ip failed/);
    fail = false;
    assert.equal(await r.get(), 'ok@0');
    fail = true;
    now = 5000;
    assert.equal(await r.get(), 'ok@0');
    await r.idle();
    assert.equal(errors.length, 1);
    fail = false;
    assert.equal(await r.get(), 'ok@0', 'still the old value while the retry runs');
    await r.idle();
    assert.equal(await r.get(), 'ok@5000');
  });
});

describe('router: coalesced (plugins/router/coalesced.ts)', () => {
  it('runs in the background, once at a time, and once more after calls made while running', async () => {
    const releases: Array<() => void> = [];
    let runs = 0;
    const run = coalesced(
      () =>
        new Promise<void>((resolve) => {
          runs++;
          releases.push(resolve);
        }),
      () => undefined,
    );
    run();
    run();
    run();
    assert.equal(runs, 1, 'calls while running wait');
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.equal(runs, 2, 'one more run for all the calls meanwhile');
    releases.shift()!();
    await run.idle();
    assert.equal(runs, 2);
  });

  it('with a spacing, folds a burst of calls into the run in flight and one run after the spacing', async () => {
    let runs = 0;
    const run = coalesced(async () => void runs++, () => undefined, { spacingMs: 60_000 });
    run();
    for (let i = 0; i < 100; i++) run();
    assert.equal(runs, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(runs, 1, 'the follow-up run waits out the spacing');
    await run.idle();
    assert.equal(runs, 2, 'idle() starts the waiting run at once: nothing is lost and nobody waits a minute');
    run();
    await run.idle();
    assert.equal(runs, 3);
  });

  it('hands errors to onError and keeps working', async () => {
    const errors: unknown[] = [];
    let n = 0;
    const run = coalesced(async () => {
      if (++n === 1) throw new Error('gobgpd busy');
    }, (e) => errors.push(e));
    run();
    await run.idle();
    run();
    await run.idle();
    assert.equal(n, 2);
    assert.equal(errors.length, 1);
  });
});
