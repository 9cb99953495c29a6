/**
 * krouter as a drop-in for kube-router, end to end (dual-stack, 2 nodes,
 * BIRD): the lab's agents are configured the way kube-router's DaemonSets
 * configure kube-router (`lab up --kube-router-args`): kube-router's flags
 * with no subcommand, KUBE_ROUTER_CNI_CONF_FILE, a kubeconfig whose user has
 * a `tokenFile`, and no krouter config file.
 * - `lab check` passes (pod to pod on and across nodes, pod to node, egress,
 *   services) over both families;
 * - each agent warned once about the flag that has no effect here
 *   (--enable-overlay) and about nothing else.
 * Root: the lab makes namespaces and links.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { agentLogPath } from '../lab/agents.ts';
import { labCli, labForSuite } from '../lab/testing.ts';

interface CheckJson {
  ok: boolean;
  rows: Array<{ from: string; to: string; kind: string; family: string; proto: string; result: string; detail: string; host: string }>;
}

describe('kube-router args e2e: agents configured by kube-router flags only (dual, 2 nodes, BIRD)', function () {
  this.timeout(400_000);
  const lab = labForSuite('krlab-kr-args-', ['--family', 'dual', '--nodes', '2', '--router', 'bird', '--kube-router-args'], { demoWorkloads: true });

  it('`lab check` passes over both families', function () {
    const out = labCli(lab.stateDir, ['check', '--json']);
    const res = JSON.parse(out) as CheckJson;
    assert.equal(res.ok, true, out);
    for (const f of ['ipv4', 'ipv6']) {
      const cross = res.rows.filter((r) => r.kind === 'cross-node' && r.family === f);
      assert.ok(cross.length > 0, `cross-node ${f} probes`);
      assert.deepEqual(res.rows.filter((r) => r.result !== 'ok' && r.result !== 'expected-fail').map((r) => `${r.from} -> ${r.to} ${r.host}: ${r.result} ${r.detail}`), []);
    }
  });

  it('each agent ran from flags alone and warned once, about --enable-overlay only', function () {
    for (const node of lab.spec.nodes) {
      const log = agentLogPath(lab.spec, node);
      assert.ok(log, `${node}: agent log`);
      const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      const records = lines.flatMap((l) => {
        try {
          return [JSON.parse(l) as { level?: number | string; msg?: string; config?: string; plugins?: unknown }];
        } catch {
          return [];
        }
      });
      const flagWarnings = records.filter((r) => typeof r.msg === 'string' && /^--[a-z-]+: /.test(r.msg)).map((r) => r.msg!);
      assert.deepEqual([...new Set(flagWarnings)].map((w) => w.split(':')[0]), ['--enable-overlay'], `${node}: flag warnings: ${flagWarnings.join(' | ')}`);
      const starting = records.find((r) => r.msg === 'krouter starting');
      assert.match(String(starting?.config), /absent; kube-router's defaults/, `${node}: no config file`);
    }
  });
});
