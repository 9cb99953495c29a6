/**
 * The router plugin with BGP graceful restart on: node-1's agent is killed
 * with SIGKILL and started again (`lab restart-agent node-1 --kill`; it
 * adopts the gobgpd left running), then agent and gobgpd both killed
 * (`--kill-gobgpd`: a fresh gobgpd, real BGP graceful restart), while
 * - a pod on node-2 probes a pod on node-1 every 100 ms over TCP and UDP in
 *   both families (through the pod test server's control socket), and
 * - node-2's and node-3's kernel routes and BIRD's table are sampled for
 *   node-1's pod CIDRs.
 * Nothing may be lost: no probe fails and no sample misses a route, from
 * before the kill until the restarted agent has converged. Dual-stack,
 * 3 nodes, BIRD. Root.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { familyOf } from '../../sdk/src/families.ts';
import { gobgpNeighbors, KROUTER_PROTO, nodeKrouterRoutes, parseBirdRoutes } from '../lab/bgp-inspect.ts';
import { nodeNetns, podNetnsName, ROUTER_NETNS } from '../lab/config.ts';
import { labClient } from '../lab/api.ts';
import { R } from '../lab/kube.ts';
import { controlRequest, podSocketPath } from '../lab/kubelet/index.ts';
import { routerControlArgv } from '../lab/router/index.ts';
import { labCliAsync, labForSuite, until, type LabNodeInfo } from '../lab/testing.ts';
import { DEMO_NAMESPACE, DEMO_TCP_PORT, DEMO_UDP_PORT } from '../lab/workloads.ts';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROBE_EVERY_MS = 100;

interface Loop {
  stop(): Promise<void>;
  rounds(): number;
  failures: string[];
}

/** Runs `round` every `everyMs` until stopped; each failure message is kept. */
function every(everyMs: number, round: () => Promise<string[]>): Loop {
  const failures: string[] = [];
  let rounds = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const start = Date.now();
      try {
        failures.push(...(await round()));
      } catch (e) {
        failures.push(`${new Date().toISOString()} ${(e as Error).message}`);
      }
      rounds++;
      await sleep(Math.max(0, everyMs - (Date.now() - start)));
    }
  })();
  return {
    failures,
    rounds: () => rounds,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

describe('router e2e: agent killed and restarted with graceful restart (dual, 3 nodes, BIRD)', function () {
  this.timeout(300_000);
  // The router's restart alone (with the CNI): the proxy's and the firewall's restarts under probes
  // are their own suites' cases, so a probe lost here is the router's.
  const lab = labForSuite(
    'krlab-router-gr-',
    ['--family', 'dual', '--nodes', '3', '--router', 'bird', '--plugins', 'cni,router', '--router-config', JSON.stringify({ gracefulRestart: { enabled: true } })],
    { demoWorkloads: true },
  );

  /**
   * Restarts node-1's agent with `lab restart-agent ARGS` while probing and
   * sampling; returns what failed (nothing, when graceful restart works).
   */
  async function restartUnderProbe(restartArgs: string[]): Promise<{ probes: string[]; routes: string[] }> {
    const [node1, node2, node3] = lab.nodes as [LabNodeInfo, LabNodeInfo, LabNodeInfo];
    const client = labClient(lab.spec);
    const target = await client.get(R.pods, DEMO_NAMESPACE, `demo-${node1.name}-a`);
    const targetIPs = (target.status.podIPs as Array<{ ip: string }>).map((p) => p.ip);
    assert.deepEqual(targetIPs.map(familyOf), lab.fams);
    const socket = podSocketPath(lab.spec, podNetnsName(DEMO_NAMESPACE, `demo-${node2.name}-a`));
    const probes = targetIPs.flatMap((host) => [
      { host, port: DEMO_TCP_PORT, proto: 'tcp', timeoutMs: 1000 },
      { host, port: DEMO_UDP_PORT, proto: 'udp', timeoutMs: 1000 },
    ]);

    const probeLoop = every(PROBE_EVERY_MS, async () => {
      const res = (await controlRequest(socket, { probes }, 5000)) as { results: Array<{ ok: boolean; reply?: string; error?: string }> };
      return probes.flatMap((p, i) => {
        const r = res.results[i];
        return r?.ok && r.reply?.startsWith(target.metadata.name) ? [] : [`${new Date().toISOString()} ${p.proto} ${p.host}:${p.port}: ${r?.error ?? `reply ${JSON.stringify(r?.reply)}`}`];
      });
    });

    // node-1's pod CIDRs as the other nodes' kernels and BIRD hold them.
    const wanted = lab.fams.map((f) => ({ f, dst: node1.podCidrs[f]!, via: node1.addresses[f]! }));
    const routeLoop = every(PROBE_EVERY_MS, async () => {
      const missing: string[] = [];
      for (const peer of [node2, node3]) {
        for (const w of wanted) {
          const out = (await execFileP('ip', ['-n', nodeNetns(peer.name), '-j', w.f === 'ipv4' ? '-4' : '-6', 'route', 'show', 'proto', String(KROUTER_PROTO)])).stdout;
          const routes = JSON.parse(out || '[]') as Array<{ dst: string; gateway?: string }>;
          if (!routes.some((r) => r.dst === w.dst && r.gateway === w.via)) missing.push(`${new Date().toISOString()} ${peer.name}: no route ${w.dst} via ${w.via}`);
        }
      }
      for (const w of wanted) {
        const argv = ['ip', 'netns', 'exec', ROUTER_NETNS, ...routerControlArgv(lab.spec, ['show', 'route', w.dst, 'all'])];
        const text = (await execFileP(argv[0]!, argv.slice(1))).stdout;
        if (!parseBirdRoutes(text).some((r) => r.fromBgp && r.prefix === w.dst && r.nextHop === w.via)) missing.push(`${new Date().toISOString()} BIRD: no route ${w.dst} via ${w.via}`);
      }
      return missing;
    });

    try {
      // A baseline first: everything works before the kill.
      await until('a few clean probe rounds before the kill', () => (probeLoop.rounds() >= 10 && routeLoop.rounds() >= 5 ? true : undefined), 30_000, 50);
      assert.deepEqual([...probeLoop.failures, ...routeLoop.failures], [], 'baseline');
      const roundsBefore = probeLoop.rounds();

      const out = await labCliAsync(lab.stateDir, ['restart-agent', node1.name, ...restartArgs]);
      assert.match(out, /SIGKILL to pid/);
      if (restartArgs.includes('--kill-gobgpd')) assert.match(out, /SIGKILL to gobgpd pid/);
      assert.match(out, /healthy/);

      // Converged again: node-1's sessions are all up and its kernel routes to the others are there.
      await until(`${node1.name} converged after the restart`, () => {
        if (gobgpNeighbors(lab.spec, node1.name).some((n) => n.state !== 'established')) return undefined;
        for (const f of lab.fams) {
          const dsts = nodeKrouterRoutes(node1.name, f).map((r) => r.dst);
          if (![node2, node3].every((n) => dsts.includes(n.podCidrs[f]!))) return undefined;
        }
        return true;
      });
      // Peers flush stale routes after the restarted speaker's End-of-RIB, node-1 a few seconds after converging: keep watching.
      await sleep(8000);
      assert.ok(probeLoop.rounds() - roundsBefore >= 20, `probing went on during and after the restart (${probeLoop.rounds() - roundsBefore} rounds)`);
    } finally {
      await probeLoop.stop();
      await routeLoop.stop();
    }
    return { probes: probeLoop.failures, routes: routeLoop.failures };
  }

  it("agent killed (SIGKILL) and restarted: a continuous cross-node probe loses nothing, node-1's routes are never withdrawn from peers", async function () {
    const lost = await restartUnderProbe(['--kill']);
    assert.deepEqual(lost.probes, [], 'cross-node probes lost');
    assert.deepEqual(lost.routes, [], "node-1's routes withdrawn from peers");
  });

  it('agent and its gobgpd both killed (SIGKILL), agent restarted: BGP graceful restart keeps probes and routes', async function () {
    const lost = await restartUnderProbe(['--kill', '--kill-gobgpd']);
    assert.deepEqual(lost.probes, [], 'cross-node probes lost');
    assert.deepEqual(lost.routes, [], "node-1's routes withdrawn from peers");
  });
});
