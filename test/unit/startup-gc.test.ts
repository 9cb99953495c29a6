import assert from 'node:assert/strict';
import vm from 'node:vm';
import { obtainGc, scheduleStartupGc, type GcFunction } from '../../core/startup-gc.ts';

describe('start-up garbage collection (core/startup-gc.ts)', () => {
  it("obtains V8's gc function without leaving it exposed to new contexts", () => {
    const gc = obtainGc();
    assert.equal(typeof gc, 'function');
    gc!({ type: 'minor' });
    assert.equal(vm.runInNewContext('typeof gc'), 'undefined');
  });

  it('runs one last-resort major collection after the delay, and none once cancelled', async () => {
    const calls: unknown[] = [];
    const fake: GcFunction = (options) => calls.push(options);
    const reports: unknown[] = [];
    scheduleStartupGc(1, () => fake, (r) => reports.push(r));
    const cancel = scheduleStartupGc(1, () => fake);
    cancel();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(calls, [{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
    assert.equal(reports.length, 1, 'the collection is reported once');
  });

  it('does nothing where the runtime gives no gc function', async () => {
    scheduleStartupGc(1, () => undefined);
    await new Promise((r) => setTimeout(r, 10));
  });
});
