import assert from 'node:assert/strict';
import { MIN_GAP_MS, STEP, shouldSettle, type SettleState } from '../../core/heap-settle.ts';

const MB = 2 ** 20;
const state = (over: Partial<SettleState> = {}): SettleState => ({ settled: 60 * MB, lastCommitted: 120 * MB, lastUsed: 90 * MB, at: 0, ...over });
const at = MIN_GAP_MS + 1;

describe('heap settle: one compaction after a burst', () => {
  it('compacts once the committed heap stopped growing STEP above what the last compaction left', () => {
    assert.equal(shouldSettle(state(), { committed: 120 * MB, used: 91 * MB, ms: at }), true);
  });

  it('waits while the burst goes on: the committed heap still grows, or much is still being allocated', () => {
    assert.equal(shouldSettle(state(), { committed: 121 * MB, used: 91 * MB, ms: at }), false);
    assert.equal(shouldSettle(state(), { committed: 120 * MB, used: 90 * MB + STEP / 16, ms: at }), false);
  });

  it('leaves a heap alone that grew less than STEP, or was compacted less than MIN_GAP_MS ago', () => {
    assert.equal(shouldSettle(state({ settled: 120 * MB - STEP + 1 }), { committed: 120 * MB, used: 90 * MB, ms: at }), false);
    assert.equal(shouldSettle(state({ settled: 120 * MB - STEP }), { committed: 120 * MB, used: 90 * MB, ms: at }), true);
    assert.equal(shouldSettle(state({ at: 10 }), { committed: 120 * MB, used: 90 * MB, ms: MIN_GAP_MS + 9 }), false);
  });

  it('a shrinking heap (V8 gave pages back itself) counts as quiet', () => {
    assert.equal(shouldSettle(state(), { committed: 110 * MB, used: 80 * MB, ms: at }), true);
  });
});
