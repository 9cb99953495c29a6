import assert from 'node:assert/strict';
import { LAB_SKIPS, labSkipOf, runPlan, SPEC_SETS } from '../lab/upstream-e2e/plan.ts';
import { specText, summarize, summaryLines } from '../lab/upstream-e2e/report.ts';
import { mergeSummaries, resultsTable } from '../lab/upstream-e2e/table.ts';

const spec = (containers: string[], leaf: string, state: string, extra: Record<string, unknown> = {}) => ({
  ContainerHierarchyTexts: containers,
  LeafNodeType: 'It',
  LeafNodeText: leaf,
  State: state,
  RunTime: 2_500_000_000,
  ...extra,
});

describe('lab upstream-e2e: plan', () => {
  it('focuses on the union of every set by default and on the named sets when given', () => {
    const all = runPlan('dual');
    for (const re of Object.values(SPEC_SETS)) assert.ok(all.focus.includes(re), re);
    assert.equal(runPlan('dual', { sets: ['netpol'] }).focus, SPEC_SETS.netpol);
    assert.equal(runPlan('dual', { focus: 'X', sets: ['netpol'] }).focus, 'X');
  });

  it('skips the dual-stack specs outside the dual mode only', () => {
    const text = '[sig-network] [Feature:IPv6DualStack] should create service with ipv6 cluster ip';
    assert.equal(labSkipOf(text, runPlan('dual').skips), undefined);
    assert.match(labSkipOf(text, runPlan('ipv4').skips)!.reason, /dual mode/);
    assert.match(labSkipOf(text, runPlan('ipv6').skips)!.reason, /dual mode/);
  });

  it('skips the specs that send SCTP in every mode, with a reason, and keeps ordinary specs', () => {
    for (const mode of ['ipv4', 'ipv6', 'dual'] as const) {
      const plan = runPlan(mode);
      assert.ok(labSkipOf('[sig-network] Services should allow creating a basic SCTP service with pod and endpoints', plan.skips));
      assert.equal(labSkipOf('[sig-network] Services should serve a basic endpoint from pods [Conformance]', plan.skips), undefined);
      assert.ok(labSkipOf('[sig-network] Netpol [Feature:SCTPConnectivity] [LinuxOnly] NetworkPolicy between server and client using SCTP should enforce policy based on Ports', plan.skips));
      assert.ok(new RegExp(plan.skip).test('[sig-network] Netpol [Feature:SCTPConnectivity] x'));
      // These send TCP only; their policies merely name SCTP.
      const tcpOnly = "[sig-network] Netpol NetworkPolicy between server and client should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP";
      assert.equal(labSkipOf(tcpOnly, plan.skips), undefined);
      assert.ok(!new RegExp(plan.skip).test(tcpOnly));
    }
    for (const s of LAB_SKIPS) assert.ok(s.reason.length > 20, `skip ${s.pattern} says why`);
  });
});

describe('lab upstream-e2e: report', () => {
  const focus = runPlan('ipv4', { sets: ['services', 'dualstack'] });
  const report = JSON.stringify([
    {
      SpecReports: [
        { LeafNodeType: 'SynchronizedBeforeSuite', State: 'passed' },
        spec(['[sig-network] Services'], 'should serve a basic endpoint from pods [Conformance]', 'passed'),
        spec(['[sig-network] Services'], 'should be rejected when no endpoints exist', 'failed', { Failure: { Message: 'connection timed out\nmore' } }),
        spec(['[sig-network] Services'], 'should allow creating a basic SCTP service with pod and endpoints', 'skipped'),
        spec(['[sig-network] Services'], 'should have session affinity timeout work for NodePort service', 'skipped', { Failure: { Message: 'Only supported for providers [gce]' } }),
        spec(['[sig-network]', '[Feature:IPv6DualStack]'], 'should have at least one dual-stack node', 'skipped'),
        spec(['[sig-network] [Feature:IPv6DualStack] Granular Checks: Services Secondary IP Family [LinuxOnly]'], 'should function for client IP based session affinity: udp [LinuxOnly]', 'failed', { Failure: { Message: 'two endpoints' } }),
        spec(['[sig-network] Netpol'], 'should deny ingress', 'skipped'),
      ],
    },
  ]);

  it('gives each spec in the focus its outcome, and leaves out the rest', () => {
    const s = summarize(report, focus.focus, focus.skips);
    assert.deepEqual(s.counts, { passed: 1, failed: 1, 'skipped by the lab': 3, 'skipped by the spec': 1 });
    assert.equal(s.results.length, 6);
    const failed = s.results.find((r) => r.outcome === 'failed')!;
    assert.equal(failed.detail, 'connection timed out');
    assert.equal(failed.seconds, 2.5);
    assert.equal(s.results.find((r) => r.outcome === 'skipped by the spec')!.detail, 'Only supported for providers [gce]');
    assert.equal(s.suiteFailure, undefined);
  });

  it('leaves out specs a narrower run never started (outside its own focus), keeping lab skips and skips by the spec', () => {
    const narrow = JSON.stringify([
      {
        SpecReports: [
          spec(['[sig-network] Netpol'], 'should deny ingress', 'passed', { NumAttempts: 1 }),
          spec(['[sig-network] Services'], 'should serve a basic endpoint from pods [Conformance]', 'skipped', { NumAttempts: 0 }),
          spec(['[sig-network] Services'], 'should allow creating a basic SCTP service with pod and endpoints', 'skipped', { NumAttempts: 0 }),
          spec(['[sig-network] Services'], 'should have session affinity timeout work for NodePort service', 'skipped', { NumAttempts: 1, Failure: { Message: 'Only supported for providers [gce]' } }),
        ],
      },
    ]);
    const all = runPlan('ipv4');
    const s = summarize(narrow, all.focus, all.skips);
    assert.deepEqual(s.counts, { passed: 1, failed: 0, 'skipped by the lab': 1, 'skipped by the spec': 1 });
    assert.ok(!s.results.some((r) => r.text.includes('basic endpoint')));
  });

  it('reports a failed suite node, which voids the run', () => {
    const bad = JSON.stringify([{ SpecReports: [{ LeafNodeType: 'SynchronizedBeforeSuite', State: 'failed', Failure: { Message: 'nodes not ready' } }] }]);
    const s = summarize(bad, focus.focus, focus.skips);
    assert.equal(s.suiteFailure, 'SynchronizedBeforeSuite: nodes not ready');
    assert.match(summaryLines(s, 't').join('\n'), /SUITE FAILED/);
  });

  it('prints the counts and every failure and skip with its reason', () => {
    const lines = summaryLines(summarize(report, focus.focus, focus.skips), 'upstream e2e (ipv4)').join('\n');
    assert.match(lines, /upstream e2e \(ipv4\): 1 passed, 1 failed, 4 skipped \(3 by the lab, 1 by the spec itself\)/);
    assert.match(lines, /should be rejected when no endpoints exist\n\s+connection timed out/);
    assert.match(lines, /SCTP service with pod and endpoints\n\s+this kernel has no SCTP/);
  });

  it('joins container and spec texts as ginkgo focuses on them', () => {
    assert.equal(specText({ ContainerHierarchyTexts: ['[sig-network] Netpol', 'NetworkPolicy'], LeafNodeText: 'x' }), '[sig-network] Netpol NetworkPolicy x');
  });
});

describe('lab upstream-e2e: results table', () => {
  const summaryOf = (mode: 'ipv4' | 'dual', specs: object[]) => summarize(JSON.stringify([{ SpecReports: specs }]), runPlan(mode).focus, runPlan(mode).skips);

  it('one row per spec, one column per mode, outcomes and totals; a spec a mode did not run says so', () => {
    const dual = summaryOf('dual', [
      spec(['[sig-network] Services'], 'should serve a basic endpoint from pods [Conformance]', 'passed'),
      spec(['[sig-network] [Feature:IPv6DualStack]'], 'should create service with ipv6 cluster ip', 'failed', { Failure: { Message: 'boom' } }),
    ]);
    const ipv4 = summaryOf('ipv4', [
      spec(['[sig-network] Services'], 'should serve a basic endpoint from pods [Conformance]', 'passed'),
      spec(['[sig-network] [Feature:IPv6DualStack]'], 'should create service with ipv6 cluster ip', 'skipped'),
    ]);
    const table = resultsTable([
      { mode: 'ipv4', summary: ipv4 },
      { mode: 'dual', summary: dual },
    ]).split('\n');
    assert.equal(table[0], '| set | spec | ipv4 | dual |');
    assert.ok(table.includes('| IPv6DualStack | should create service with ipv6 cluster ip | skip (lab) | **FAIL** |'), table.join('\n'));
    assert.ok(table.includes('| Services | should serve a basic endpoint from pods [Conformance] | pass | pass |'));
    assert.ok(table.includes('| passed | 1 | 1 |'));
    assert.ok(table.includes('| failed | 0 | 1 |'));
    const merged = mergeSummaries([summaryOf('dual', [spec(['[sig-network] Netpol'], 'should deny ingress', 'passed')]), dual]);
    assert.deepEqual(merged.counts, { passed: 2, failed: 1, 'skipped by the lab': 0, 'skipped by the spec': 0 });
    // A spec skipped in one run and run in another counts as run.
    const again = mergeSummaries([ipv4, summaryOf('ipv4', [spec(['[sig-network] Services'], 'should serve a basic endpoint from pods [Conformance]', 'failed')])]);
    assert.equal(again.results.find((r) => r.text.includes('basic endpoint'))!.outcome, 'passed');
    const only = resultsTable([{ mode: 'dual', summary: dual }, { mode: 'ipv4', summary: summaryOf('ipv4', []) }]);
    assert.match(only, /\| Services \| should serve a basic endpoint from pods \[Conformance\] \| pass \| not run \|/);
  });
});
