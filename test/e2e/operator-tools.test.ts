/**
 * The operator's tools on a running lab (dual-stack, 2 nodes, BIRD, every
 * built-in plugin, the demo workloads and a NetworkPolicy):
 * - every metric the Grafana dashboard (deploy/grafana/krouter-dashboard.json)
 *   queries is declared on every agent's /metrics, read inside the node's
 *   namespace;
 * - `krouter status --json` run in a node's namespace names every built-in
 *   plugin with its state per family: BGP sessions established with counts,
 *   the other node's pod CIDR installed, the demo service's ports with
 *   endpoints, the policy and the pods it selects, the node's pod CIDRs on
 *   the bridge;
 * - `krouter status` prints the same as text, one block per plugin, one per
 *   family.
 * Root: the lab makes namespaces and links.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { StatusDocument } from '../../core/status/render.ts';
import { builtins } from '../../core/host/builtins.ts';
import type { CniStatus } from '../../plugins/cni/status.ts';
import type { FirewallStatus } from '../../plugins/firewall/status.ts';
import type { RouterStatus } from '../../plugins/router/status.ts';
import type { ServiceProxyStatus } from '../../plugins/service-proxy/status.ts';
import { expressions, loadDashboard, metricFamilies, metricNamesOf, missingMetrics } from '../helpers/dashboard.ts';
import { AGENT_HEALTH_PORT, AGENT_METRICS_PORT, nodeNetns } from '../lab/config.ts';
import { httpGetInNetns } from '../lab/proc.ts';
import { labCli, labForSuite, until } from '../lab/testing.ts';

const FAMILIES = ['ipv4', 'ipv6'] as const;
const BUILTIN_NAMES = builtins.map((b) => (b as { lazyBuiltin: string }).lazyBuiltin);
/** The built-in plugins the lab's agents run whatever else is enabled. */
const CORE_PLUGINS = ['cni', 'router', 'service-proxy', 'firewall'];

/** Whether a plugin's status has anything per family (a `families` block, or a value keyed by family). */
const hasPerFamily = (status: unknown): boolean =>
  typeof status === 'object' &&
  status !== null &&
  Object.values(status).some((v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k === 'ipv4' || k === 'ipv6'));

const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: ops-allow-all, namespace: demo }
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{}]
`;

describe('operator tools e2e: dashboard metrics and krouter status (dual, 2 nodes, BIRD, every plugin)', function () {
  this.timeout(600_000);
  const lab = labForSuite('krlab-ops-', ['--family', 'dual', '--nodes', '2', '--router', 'bird'], { demoWorkloads: true });

  /** `krouter status ARGS` in the node's namespace, as an operator runs it on the node. */
  const status = (node: string, args: string[]): string =>
    execFileSync('ip', ['netns', 'exec', nodeNetns(node), lab.spec.krouterBin, 'status', '--port', String(AGENT_HEALTH_PORT), ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  const statusJson = (node: string) => JSON.parse(status(node, ['--json'])) as StatusDocument;

  before(function () {
    labCli(lab.stateDir, ['kubectl', 'apply', '-f', '-'], { input: POLICY });
  });

  it("every metric the dashboard queries is on every agent's /metrics", function () {
    const names = [...new Set(expressions(loadDashboard()).flatMap(metricNamesOf))];
    assert.ok(names.length >= 20, `the dashboard queries ${names.length} metrics`);
    for (const node of lab.spec.nodes) {
      const res = httpGetInNetns(nodeNetns(node), `http://127.0.0.1:${AGENT_METRICS_PORT}/metrics`);
      assert.equal(res.status, 200, `${node}: /metrics answers`);
      const families = metricFamilies(res.body);
      assert.ok(families.size > 20, `${node}: /metrics declares metric families`);
      assert.deepEqual(missingMetrics(names, families), [], `${node}: dashboard metrics missing from /metrics`);
    }
  });

  it('`krouter status --json` shows every built-in plugin per family', async function () {
    const node = lab.nodes[0]!;
    const other = lab.nodes[1]!;
    // Converged: sessions up in both families, the other node's pod CIDRs installed, the policy selecting pods.
    const doc = await until(
      'status with established sessions, installed routes and the policy',
      () => {
        const d = statusJson(node.name);
        const router = d.plugins.router as RouterStatus;
        const fw = d.plugins.firewall as FirewallStatus;
        const ready = FAMILIES.every(
          (f) =>
            router.families[f]?.peers.some((p) => p.state === 'established') &&
            router.families[f]?.routes.some((r) => r.destination === other.podCidrs[f]) &&
            fw.families[f]?.policies.some((p) => p.policy === 'demo/ops-allow-all'),
        );
        return ready ? d : undefined;
      },
      120_000,
      1000,
    );
    assert.equal(doc.node, node.name);
    assert.deepEqual(doc.families, [...FAMILIES]);
    const running = Object.keys(doc.plugins);
    for (const name of CORE_PLUGINS) assert.ok(running.includes(name), `${name} in ${running.join(', ')}`);
    assert.deepEqual(running, BUILTIN_NAMES.filter((n) => running.includes(n)), 'built-in plugins in start order');
    for (const [name, s] of Object.entries(doc.plugins)) assert.equal((s as { error?: string }).error, undefined, `${name} status has no error`);

    const router = doc.plugins.router as RouterStatus;
    const cni = doc.plugins.cni as CniStatus;
    const proxy = doc.plugins['service-proxy'] as ServiceProxyStatus;
    const fw = doc.plugins.firewall as FirewallStatus;
    for (const s of [router, cni, proxy, fw]) assert.deepEqual(Object.keys(s.families), [...FAMILIES]);
    for (const f of FAMILIES) {
      const fam = router.families[f]!;
      for (const p of fam.peers.filter((x) => x.state === 'established')) {
        assert.ok(p.uptimeSeconds !== null && p.uptimeSeconds >= 0, `${f} ${p.peer}: uptime`);
        assert.ok(p.advertised >= 1, `${f} ${p.peer}: advertises this node's pod CIDR`);
      }
      assert.equal(fam.routesInstalled, fam.routes.length);
      assert.ok(fam.advertised.some((a) => a.prefix === node.podCidrs[f]), `${f}: this node advertises its pod CIDR`);

      assert.equal(cni.families[f]!.podCIDR, node.podCidrs[f], `${f}: cni pod CIDR`);
      assert.equal(cni.families[f]!.bridgeAddresses.length, 1, `${f}: one bridge address`);

      const demo = proxy.families[f]!.ports.filter((p) => p.service === 'demo/demo');
      assert.deepEqual(demo.map((p) => `${p.protocol}/${p.port}`).sort(), ['tcp/80', 'udp/53'], `${f}: the demo service's ports`);
      for (const p of demo) assert.ok(p.endpoints >= 1 && p.clusterIP, `${f}: ${p.protocol}/${p.port} has a ClusterIP and endpoints`);
      assert.ok(proxy.families[f]!.services >= 1 && proxy.families[f]!.endpoints >= 1, `${f}: service and endpoint counts`);

      const policy = fw.families[f]!.policies.find((p) => p.policy === 'demo/ops-allow-all')!;
      assert.deepEqual(policy.types, ['ingress']);
      assert.ok(policy.pods.length >= 1, `${f}: the policy selects this node's demo pods`);
      for (const pod of policy.pods) assert.match(pod, f === 'ipv4' ? /^demo\/\S+ \d+\.\d+\.\d+\.\d+$/ : /^demo\/\S+ [0-9a-f:]+$/);
    }
  });

  it('`krouter status` prints a block per plugin with a block per family', function () {
    const doc = statusJson(lab.nodes[0]!.name);
    const text = status(lab.nodes[0]!.name, []);
    const lines = text.split('\n');
    assert.match(lines[0]!, new RegExp(`^node ${lab.nodes[0]!.name}  krouter \\S+  families ipv4, ipv6$`));
    for (const name of Object.keys(doc.plugins).filter((n) => CORE_PLUGINS.includes(n) || hasPerFamily(doc.plugins[n]))) {
      const start = lines.indexOf(name);
      assert.ok(start > 0, `a block for ${name}:\n${text}`);
      const end = lines.indexOf('', start);
      const block = lines.slice(start, end < 0 ? undefined : end);
      for (const f of FAMILIES) assert.ok(block.includes(`  ${f}`), `${name}: a ${f} block:\n${block.join('\n')}`);
    }
    assert.ok(lines.some((l) => /^ {6}PEER +ASN +STATE +UPTIME +RECEIVED +ACCEPTED +ADVERTISED( +DESCRIPTION)?$/.test(l)), `router peers table:\n${text}`);
    assert.ok(lines.some((l) => /^ {6}DESTINATION +VIA$/.test(l)), `installed routes table:\n${text}`);
    assert.ok(lines.some((l) => /^ {6}[0-9a-f.:]+ +6451[23] +established +\S+ +\d+ +\d+ +\d+/.test(l)), `an established session row:\n${text}`);
  });
});
