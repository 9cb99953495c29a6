/**
 * Upstream Kubernetes' own network e2e specs, unmodified (e2e.test built
 * from the pinned k8s.io/kubernetes), against krouter on a dual-stack lab:
 * every `[sig-network] Netpol`, `[sig-network] Services` and
 * `[Feature:IPv6DualStack]` spec but the lab's listed skips
 * (test/lab/upstream-e2e/plan.ts), in one ginkgo run. Per set: none may
 * fail, and at least a floor must pass (a run that skipped everything
 * proves nothing; the floors sit a few under what passes today, so a spec
 * quietly turning into a skip shows).
 *
 * The other family modes run on demand: `npm run lab -- up --family ipv6
 * --router none`, then `npm run lab -- upstream-e2e`.
 */
import assert from 'node:assert/strict';
import { loadLabState } from '../lab/state.ts';
import { labForSuite } from '../lab/testing.ts';
import { SPEC_SETS, type SpecSetName } from '../lab/upstream-e2e/plan.ts';
import { summaryLines, type Summary } from '../lab/upstream-e2e/report.ts';
import { runUpstreamE2e, type UpstreamE2eResult } from '../lab/upstream-e2e/run.ts';

/** Specs that must pass per set (passing in the dual mode today: Netpol 48, Services 46, IPv6DualStack 22). */
const MIN_PASSED: Record<SpecSetName, number> = { netpol: 45, services: 43, dualstack: 20 };
/** More processes than cores: the specs mostly wait (for pods, for affinity timeouts). */
const PROCS = 6;

describe('upstream network e2e specs against krouter (dual)', function () {
  this.timeout(3_600_000);
  const lab = labForSuite('krlab-upstream-', ['--family', 'dual', '--nodes', '3', '--router', 'none']);
  let result: UpstreamE2eResult;

  before(async () => {
    const state = loadLabState(lab.stateDir)!;
    result = await runUpstreamE2e(state, { sets: ['netpol', 'services', 'dualstack'], procs: PROCS, log: (l) => console.log(l), timeoutMinutes: 40 });
    for (const line of summaryLines(result.summary, 'upstream e2e (dual)')) console.log(line);
    assert.equal(result.summary.suiteFailure, undefined, `the suite failed before its specs: ${result.summary.suiteFailure}`);
  });

  /** The results of one set's specs. */
  const ofSet = (summary: Summary, set: SpecSetName) => summary.results.filter((r) => new RegExp(SPEC_SETS[set]).test(r.text));

  for (const [set, title] of [
    ['netpol', '[sig-network] Netpol'],
    ['services', '[sig-network] Services'],
    ['dualstack', '[Feature:IPv6DualStack]'],
  ] as const) {
    it(`${title}: no spec fails, and at least ${MIN_PASSED[set]} pass`, () => {
      const results = ofSet(result.summary, set);
      const failed = results.filter((r) => r.outcome === 'failed');
      assert.deepEqual(failed.map((r) => `${r.text}: ${r.detail}`), [], `see ${result.logFile}`);
      const passed = results.filter((r) => r.outcome === 'passed').length;
      assert.ok(passed >= MIN_PASSED[set], `only ${passed} ${title} specs passed`);
    });
  }
});
