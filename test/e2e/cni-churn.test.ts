/**
 * Pod churn does not cut the other pods on a node off their gateway, in each
 * family mode. Without a MAC of its own, Linux lends kube-bridge the lowest
 * MAC among its ports, so deleting the pod that owns it changes the gateway's
 * MAC while the other pods' neighbour entries still hold the old one, and
 * their traffic off the node black-holes until those entries go stale.
 *
 * Pods A, B and C run on node-1 and one more on node-2. B probes, over every
 * enabled family and without a pause, its gateway on the bridge (the agent's
 * health port listens on `::` in the node namespace), its node, the pod on
 * node-2 and the external router, while A and then C are deleted and
 * recreated. Every probe must answer, and the bridge must keep the MAC the
 * CNI model gives the node. A is the pod whose veth holds the lowest MAC,
 * so without the fix the bridge's MAC would change with the first delete.
 * Root: the lab makes namespaces and links.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { familyOf, type Family } from '../../sdk/src/families.ts';
import { bridgeMacFor, gatewayOf } from '../../plugins/cni/model.ts';
import { AGENT_HEALTH_PORT, nodeNetns, podNetnsName } from '../lab/config.ts';
import { HTTP_PROBE, planProbes, probeFromPod, startRouterResponder, type CheckPod, type CheckRow, type PlannedProbe } from '../lab/check.ts';
import { labClient, podIPsByFamily, podReady } from '../lab/api.ts';
import { R, type KubeClient, type Obj } from '../lab/kube.ts';
import { podSocketPath } from '../lab/kubelet/index.ts';
import { podPorts } from '../lab/kubelet/pod.ts';
import { labCliAsync, labForSuite, until } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';

const NS = 'churn';
const BRIDGE = 'kube-bridge';
const PROBE_TIMEOUT_MS = 1500;
/** Rounds probed after the last pod is back, so that a late failure is seen too. */
const ROUNDS_AFTER = 10;

const kubectl = (stateDir: string, args: string[]) => labCliAsync(stateDir, ['kubectl', '--', ...args]);
/** A bounded wait polling every 250 ms. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined) => until(what, fn, 120_000, 250);
const ipJson = (netns: string, args: string[]): Obj[] => JSON.parse(execFileSync('ip', ['-n', netns, '-j', ...args], { encoding: 'utf8' }));
const netnsList = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);

function bridgeMac(node: string): string {
  return ipJson(nodeNetns(node), ['link', 'show', 'dev', BRIDGE])[0]!.address;
}

/** MAC of the node-side end of a pod's eth0 (the bridge port). */
function hostVethMac(node: string, podNetns: string): string {
  const peer = ipJson(podNetns, ['link', 'show', 'dev', 'eth0'])[0]!.link_index;
  const port = ipJson(nodeNetns(node), ['link', 'show', 'master', BRIDGE]).find((l) => l.ifindex === peer);
  assert.ok(port, `no port of ${BRIDGE} on ${node} is the peer (ifindex ${peer}) of ${podNetns}'s eth0`);
  return port.address;
}

/** B's probes of its gateway on the bridge: the agent's health port, per family. */
function gatewayProbes(src: CheckPod, gateways: Partial<Record<Family, string>>): PlannedProbe[] {
  return Object.entries(gateways).map(([family, host]) => ({
    row: { from: src.key, fromNode: src.node, to: `gateway:${src.node}`, toNode: src.node, kind: 'node', family: family as Family, proto: 'tcp', host: host!, port: AGENT_HEALTH_PORT, expected: true },
    probe: { host: host!, port: AGENT_HEALTH_PORT, proto: 'tcp', timeoutMs: PROBE_TIMEOUT_MS, send: HTTP_PROBE },
    expectReply: 'HTTP/',
  }));
}

const describeRow = (r: CheckRow) => `${r.to} ${r.family}/${r.proto} ${r.host}:${r.port}: ${r.detail}`;

for (const family of ['ipv4', 'ipv6', 'dual'] as const) {
  describe(`lab CNI e2e: pod churn keeps the gateway (${family})`, function () {
    this.timeout(900_000);
    const lab = labForSuite(`krlab-e2e-churn-${family}-`, ['--family', family, '--nodes', '2', '--router', 'bird']);
    let client: KubeClient;

    before(function () {
      client = labClient(lab.spec);
    });

    const readyPod = (name: string) =>
      waitFor(`pod ${NS}/${name} Ready`, async () => {
        const p = await client.tryGet(R.pods, NS, name);
        return p && podReady(p as never) && !p.metadata.deletionTimestamp ? p : undefined;
      });

    const checkPod = (p: Obj): CheckPod => ({
      key: `${NS}/${p.metadata.name}`,
      name: p.metadata.name,
      node: p.spec.nodeName,
      ips: podIPsByFamily(p as never),
      ...podPorts(p as never),
      socket: podSocketPath(lab.spec, podNetnsName(NS, p.metadata.name)),
    });

    it('B reaches its gateway, its node, a pod on node-2 and the router without a single failure while A and C are deleted and recreated; the bridge keeps its MAC', async () => {
      const [node1, node2] = lab.spec.nodes as [string, string];
      const local = ['churn-a', 'churn-b', 'churn-c'];
      const pods = [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
        ...local.map((name) => testPod({ name, namespace: NS, nodeName: node1, labels: { app: NS } })),
        testPod({ name: 'churn-remote', namespace: NS, nodeName: node2, labels: { app: NS } }),
      ];
      const file = path.join(lab.stateDir, 'churn-pods.json');
      writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
      await kubectl(lab.stateDir, ['create', '--validate=false', '-f', file]);
      for (const name of [...local, 'churn-remote']) await readyPod(name);

      // Roles by the MACs of the pods' bridge ports: A holds the lowest, the
      // one a bridge without its own MAC carries; B (the prober) the highest.
      const byMac = local
        .map((name) => ({ name, mac: hostVethMac(node1, podNetnsName(NS, name)) }))
        .sort((x, y) => x.mac.localeCompare(y.mac));
      const [a, c, b] = byMac.map((x) => x.name) as [string, string, string];
      const roles = `A=${a} C=${c} B=${b} (port MACs ${byMac.map((x) => `${x.name} ${x.mac}`).join(', ')})`;

      const node = await client.get(R.nodes, undefined, node1);
      const gateways: Partial<Record<Family, string>> = {};
      for (const cidr of node.spec.podCIDRs as string[]) {
        const f = familyOf(cidr);
        if (lab.fams.includes(f)) gateways[f] = gatewayOf(cidr).address;
      }
      assert.deepEqual(Object.keys(gateways).sort(), [...lab.fams].sort(), `a gateway per enabled family on ${node1}`);

      const prober = checkPod(await client.get(R.pods, NS, b));
      const remote = checkPod(await client.get(R.pods, NS, 'churn-remote'));
      // From the lab check's plan: B to the pod on node-2, to its node and to the router (TCP), plus its gateway.
      const planned = (planProbes(lab.spec, [prober, remote], true, PROBE_TIMEOUT_MS).get(prober.key) ?? []).filter((p) => p.probe.proto === 'tcp');
      const probes = [...gatewayProbes(prober, gateways), ...planned];
      for (const kind of ['cross-node', 'node', 'egress'] as const) {
        assert.equal(probes.filter((p) => p.row.kind === kind && p.row.to !== `gateway:${node1}`).length, lab.fams.length, `one ${kind} probe per family`);
      }

      const stopResponder = await startRouterResponder(lab.spec);
      try {
        // Warm-up: everything answers before the churn starts (first packets may race neighbour discovery).
        await waitFor(`every probe from ${b} answering`, async () => ((await probeFromPod(prober.socket, probes)).every((r) => r.result === 'ok') ? true : undefined));
        const macBefore = bridgeMac(node1);

        let phase = 'before';
        let stop = false;
        const rounds: Array<{ phase: string; rows: CheckRow[] }> = [];
        const loop = (async () => {
          while (!stop) {
            const at = phase;
            rounds.push({ phase: at, rows: await probeFromPod(prober.socket, probes) });
            await new Promise((r) => setTimeout(r, 100));
          }
        })();

        const macs: Array<{ phase: string; mac: string }> = [{ phase, mac: macBefore }];
        /** Next phase; the bridge MAC is sampled at every change, and a whole round is probed inside each phase. */
        const enter = async (next: string) => {
          phase = next;
          macs.push({ phase, mac: bridgeMac(node1) });
          const seen = rounds.length;
          await waitFor(`a probe round while ${next}`, () => (rounds.slice(seen).some((r) => r.phase === next) ? true : undefined));
        };
        try {
          for (const victim of [a, c]) {
            const netns = podNetnsName(NS, victim);
            phase = `${victim} deleting`;
            await kubectl(lab.stateDir, ['-n', NS, 'delete', 'pod', victim]);
            await waitFor(`namespace ${netns} gone`, () => (netnsList().includes(netns) ? undefined : true));
            await enter(`${victim} gone`);
            await kubectl(lab.stateDir, ['create', '--validate=false', '-f', podFile(victim)]);
            await readyPod(victim);
            await enter(`${victim} recreated`);
          }
          await enter('after');
          const seen = rounds.length;
          await waitFor(`${ROUNDS_AFTER} more probe rounds`, () => (rounds.length >= seen + ROUNDS_AFTER ? true : undefined));
        } finally {
          stop = true;
          await loop;
        }

        const failed = rounds.flatMap((r) => r.rows.filter((x) => x.result !== 'ok').map((x) => `[${r.phase}] ${describeRow(x)}`));
        const counts = [...new Set(rounds.map((r) => r.phase))].map((p) => `${p}: ${rounds.filter((r) => r.phase === p).length}`).join(', ');
        assert.deepEqual(failed, [], `${failed.length} of ${rounds.length * probes.length} probes failed (${roles}; rounds per phase ${counts})`);
        assert.deepEqual(macs.filter((m) => m.mac !== macBefore), [], `the bridge MAC stayed ${macBefore} (${roles})`);
        assert.equal(macBefore, bridgeMacFor(node1), `the bridge carries the MAC the CNI model gives ${node1}`);
      } finally {
        stopResponder();
      }

      /** A file with the pod as first created, for kubectl to create it again. */
      function podFile(name: string): string {
        const one = path.join(lab.stateDir, `${name}.json`);
        writeFileSync(one, JSON.stringify(testPod({ name, namespace: NS, nodeName: node1, labels: { app: NS } })));
        return one;
      }
    });
  });
}
