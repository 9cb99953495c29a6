import assert from 'node:assert/strict';
import { coalesced } from '../../plugins/router/coalesced.ts';
import { FreshRead } from '../../plugins/router/fresh-read.ts';

describe('router: FreshRead (plugins/router/fresh-read.ts)', () => {
  it('reuses a read while younger than the limit, reads again after it or when forced', async () => {
    let now = 0;
    let reads = 0;
    const r = new FreshRead(async () => ++reads, 1000, () => now);
    assert.equal(await r.get(), 1);
    now = 999;
    assert.equal(await r.get(), 1, 'still fresh');
    assert.equal(await r.get(true), 2, 'forced');
    now = 1998;
    assert.equal(await r.get(), 2, 'fresh from the forced read');
    now = 1999;
    assert.equal(await r.get(), 3, 'stale');
  });

  it('does not cache a failed read', async () => {
    let fail = true;
    const r = new FreshRead(async () => {
      if (fail) throw new Error('ip failed');
      return 'ok';
    }, 1000, () => 0);
    await assert.rejects(r.get(), /ip failed/);
    fail = false;
    assert.equal(await r.get(), 'ok');
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
