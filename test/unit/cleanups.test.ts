import assert from 'node:assert/strict';
import { Cleanups } from '../helpers/cleanups.ts';

describe('test fixtures: Cleanups', () => {
  it('undoes last-first, goes on past a failing step, and runs each step once', async () => {
    const done: string[] = [];
    const c = new Cleanups();
    c.add(() => done.push('directory'));
    c.add(async () => {
      done.push('namespace');
      throw new Error('busy');
    });
    c.add(() => done.push('process'));
    await c.run();
    assert.deepEqual(done, ['process', 'namespace', 'directory']);
    await c.run();
    assert.equal(done.length, 3, 'a second run undoes nothing again');
  });
});
