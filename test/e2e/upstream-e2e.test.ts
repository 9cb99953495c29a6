/**
 * Upstream Kubernetes' own NetworkPolicy e2e specs, unmodified (e2e.test
 * built from the pinned k8s.io/kubernetes), against krouter's firewall on a
 * dual-stack lab: every `[sig-network] Netpol` spec but those that send SCTP
 * (the lab's listed skips, test/lab/upstream-e2e/plan.ts). None may fail,
 * and some must pass (a run that skipped everything proves nothing).
 *
 * The Services and IPv6DualStack sets, and the other family modes, run on
 * demand: `npm run lab -- up --family dual --router none`, then
 * `npm run lab -- upstream-e2e [--sets services,dualstack]`.
 */
import assert from 'node:assert/strict';
import { loadLabState } from '../lab/state.ts';
import { labForSuite } from '../lab/testing.ts';
import { summaryLines } from '../lab/upstream-e2e/report.ts';
import { runUpstreamE2e } from '../lab/upstream-e2e/run.ts';

describe('upstream network e2e specs against krouter (dual)', function () {
  this.timeout(3_600_000);
  const lab = labForSuite('krlab-upstream-', ['--family', 'dual', '--nodes', '3', '--router', 'none']);

  it('[sig-network] Netpol: no spec fails, and specs pass', async () => {
    const state = loadLabState(lab.stateDir)!;
    const result = await runUpstreamE2e(state, { sets: ['netpol'], log: (l) => console.log(l), timeoutMinutes: 30 });
    for (const line of summaryLines(result.summary, 'upstream e2e, Netpol (dual)')) console.log(line);
    assert.equal(result.summary.suiteFailure, undefined, `the suite failed before its specs: ${result.summary.suiteFailure}`);
    const failed = result.summary.results.filter((r) => r.outcome === 'failed');
    assert.deepEqual(failed.map((r) => `${r.text}: ${r.detail}`), [], `see ${result.logFile}`);
    assert.ok(result.summary.counts.passed >= 40, `only ${result.summary.counts.passed} Netpol specs passed`);
  });
});
