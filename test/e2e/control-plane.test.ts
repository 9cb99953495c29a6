/**
 * The lab's control plane is real Kubernetes, and the agents run as users
 * run them (deploy/ applied with kubectl), in an IPv4-only lab with BIRD:
 *
 * - kubectl and the API server are the pinned version; OpenAPI answers; the
 *   API server refuses an invalid object (a RequireDualStack Service in an
 *   IPv4-only cluster);
 * - a pod deleted with a grace period is terminating (its EndpointSlice
 *   endpoint serving, terminating) until the lab kubelet has stopped it;
 * - with a ClusterRole missing a verb the agent needs, the agent logs one
 *   clear error naming verb and resource, and recovers once it is back;
 * - kube-apiserver killed and restarted: no route, address or nftables rule
 *   of any node changes meanwhile, and the agents watch again afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { listNetns } from '../lab/proc.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { agentLogPath, agentPodRecord } from '../lab/agents.ts';
import { labClient } from '../lab/api.ts';
import { nodeNetns, nodePaths, podNetnsName } from '../lab/config.ts';
import { KubeError, R, type KubeClient } from '../lab/kube.ts';
import { labCli, labCliAsync, labForSuite, until } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';
import { isRecordedAlive } from '../lab/state.ts';

const NS = 'cp-e2e';
const kubectl = (stateDir: string, args: string[], input?: string) => labCli(stateDir, ['kubectl', '--', ...args], { input });

/** The Kubernetes version test/lab/k8s/go.mod pins. */
function pinnedVersion(): string {
  const mod = readFileSync(new URL('../lab/k8s/go.mod', import.meta.url), 'utf8');
  return /^require k8s\.io\/kubernetes (v\S+)/m.exec(mod)![1]!;
}

/** What must not change while the API server is away: krouter's routes, addresses and nftables rules, per node. */
function dataPlane(node: string): string {
  const ns = nodeNetns(node);
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  // Stateless: counters and dynamic set timeouts move with traffic; the rules themselves must not.
  // Tables sorted: an agent that replaces a table with the same content moves it in the listing.
  const ruleset = execFileSync('ip', ['netns', 'exec', ns, 'nft', '--stateless', 'list', 'ruleset'], { encoding: 'utf8' });
  const nft = ruleset.split(/^(?=table )/m).sort().join('');
  return [ip('-4', 'route', 'show', 'table', 'all'), ip('-6', 'route', 'show', 'table', 'all', 'proto', 'krouter'), ip('-br', 'addr'), nft].join('\n---\n');
}

describe('lab control plane: real Kubernetes, agents from deploy/ (ipv4)', function () {
  this.timeout(600_000);
  const lab = labForSuite('krlab-cp-', ['--family', 'ipv4', '--nodes', '2', '--router', 'bird']);
  let client: KubeClient;

  before(async function () {
    client = labClient(lab.spec);
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  });
  after(async () => client?.close());

  it('kubectl and the API server are the pinned version, and OpenAPI answers', () => {
    const version = JSON.parse(kubectl(lab.stateDir, ['version', '-o', 'json']));
    assert.equal(version.serverVersion.gitVersion, pinnedVersion());
    assert.equal(version.clientVersion.gitVersion, pinnedVersion());
    const openapi = JSON.parse(kubectl(lab.stateDir, ['get', '--raw', '/openapi/v3']));
    assert.ok(openapi.paths['api/v1'], 'OpenAPI v3 lists api/v1');
  });

  it('the API server refuses an invalid Service (RequireDualStack in an IPv4-only cluster)', () => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'both', namespace: NS }, spec: { ipFamilyPolicy: 'RequireDualStack', selector: { app: 'x' }, ports: [{ port: 80 }] } };
    assert.throws(() => kubectl(lab.stateDir, ['create', '-f', '-'], JSON.stringify(svc)), /spec.ipFamilyPolicy.*RequireDualStack|ipFamilyPolicy/);
    assert.throws(() => kubectl(lab.stateDir, ['-n', NS, 'get', 'service', 'both']), /NotFound|not found/);
  });

  it('a pod deleted with a grace period is terminating (EndpointSlice: serving, terminating) until the kubelet has stopped it', async () => {
    const pod = testPod({ name: 'slow-stop', namespace: NS, nodeName: lab.spec.nodes[0], labels: { app: 'slow' } }) as Record<string, any>;
    // A preStop sleep keeps the pod serving for a while after the delete, as a draining server would.
    pod.spec.terminationGracePeriodSeconds = 30;
    pod.spec.containers[0].lifecycle = { preStop: { sleep: { seconds: 6 } } };
    await client.create(R.pods, pod as never);
    await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'slow', namespace: NS }, spec: { selector: { app: 'slow' }, ports: [{ name: 'tcp', port: 80, targetPort: 8080 }] } });
    const endpoint = async () => {
      const slices = (await client.list(R.endpointslices, { namespace: NS, labelSelector: 'kubernetes.io/service-name=slow' })).items;
      return slices.flatMap((s) => s.endpoints ?? [])[0] as { conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } } | undefined;
    };
    await until('the endpoint ready', async () => ((await endpoint())?.conditions.ready ? true : undefined), 60_000, 250);

    await client.delete(R.pods, NS, 'slow-stop', { gracePeriodSeconds: 30 });
    const terminating = await until('the endpoint terminating', async () => {
      const c = (await endpoint())?.conditions;
      return c?.terminating ? c : undefined;
    }, 30_000, 100);
    assert.deepEqual(terminating, { ready: false, serving: true, terminating: true }, 'as the EndpointSlice controller writes a terminating, still serving endpoint');
    assert.ok(await client.tryGet(R.pods, NS, 'slow-stop'), 'the pod still exists while the kubelet stops it');
    await until('the pod gone once the kubelet finished it', async () => ((await client.tryGet(R.pods, NS, 'slow-stop')) ? undefined : true), 60_000, 250);
    await until('the endpoint gone', async () => ((await endpoint()) ? undefined : true), 30_000, 250);
    // Every agent follows: the Service has no endpoint left, so it rejects.
    const gone = Date.now();
    await until('every node rejects cp-e2e/slow (no endpoint left)', () =>
      lab.spec.nodes.every((n) => { const d = dataPlane(n); return !d.includes(`svc-ipv4-${NS}/slow/`) && d.includes('goto reject-chain'); }) ? true : undefined, 120_000, 250);
    console.log(`      every node rejects ${NS}/slow ${Date.now() - gone} ms after its endpoint left the EndpointSlice`);
    // As a kubelet may, the lab's tears the sandbox down after the API object is gone: wait for it, so
    // the next case starts from a quiet data plane.
    await until('the pod sandbox gone', () => (listNetns().includes(podNetnsName(NS, 'slow-stop')) ? undefined : true), 60_000, 250);
    // And for every agent to have programmed the endpoint's removal and the Service's: the agents learn
    // of both from their watches, a moment after the API server has them.
    await client.delete(R.services, NS, 'slow');
    await until('no node programs cp-e2e/slow any more', () => (lab.spec.nodes.some((n) => dataPlane(n).includes(`${NS}/slow`)) ? undefined : true), 60_000, 250);
  });

  it('kube-apiserver killed and restarted: no route, address or rule changes meanwhile; the agents watch again after', async () => {
    // Start from a settled data plane: two samples a second apart agree (a sync still in flight from an
    // earlier case would otherwise land during the outage and be taken for a change the outage caused).
    const before = await until('the data plane settled', async () => {
      const first = lab.spec.nodes.map(dataPlane);
      await new Promise((r) => setTimeout(r, 1_000));
      const second = lab.spec.nodes.map(dataPlane);
      return first.every((d, i) => d === second[i]) ? second : undefined;
    }, 60_000, 0);
    const restart = labCliAsync(lab.stateDir, ['restart-component', 'kube-apiserver', '--down', '15']);
    // While it is away (and as it comes back), sample the data plane.
    let samples = 0;
    let done = false;
    void restart.finally(() => (done = true)).catch(() => undefined);
    try {
      while (!done) {
        lab.spec.nodes.forEach((n, i) => assert.equal(dataPlane(n), before[i], `${n}: data plane changed while the API server was away`));
        samples++;
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      // A failed sample must not leave the API server down for the cases after this one.
      await restart;
    }
    assert.ok(samples >= 10, `sampled ${samples} times`);
    lab.spec.nodes.forEach((n, i) => assert.equal(dataPlane(n), before[i], `${n}: data plane changed after the API server came back`));

    // Watching again: a new Node reaches every agent, which adds it as a BGP peer.
    const fake = 'node-9';
    await client.create(R.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: fake } });
    try {
      await client.patch(R.nodes, undefined, fake, { status: { addresses: [{ type: 'InternalIP', address: '198.18.0.19' }] } }, 'status');
      for (const n of lab.spec.nodes) {
        await until(`${n} peers with ${fake}`, () => {
          const out = execFileSync('ip', ['netns', 'exec', nodeNetns(n), 'gobgp', '--target', `unix://${nodePaths(lab.spec, n).gobgpSocket}`, 'neighbor'], { encoding: 'utf8' });
          return out.includes('198.18.0.19') ? true : undefined;
        }, 60_000, 250);
      }
    } finally {
      await client.delete(R.nodes, undefined, fake).catch((e) => {
        if (!(e instanceof KubeError && e.code === 404)) throw e;
      });
    }
  });

  it('with a verb missing from the ClusterRole, the agent logs one clear error naming it, and recovers when it is back', async () => {
    const role = await client.get({ prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterroles', namespaced: false }, undefined, 'krouter');
    const full = structuredClone(role.rules) as Array<{ resources: string[]; verbs: string[] }>;
    const reduced = full.map((r) => (r.resources.includes('nodes') ? { ...r, verbs: r.verbs.filter((v) => v !== 'list') } : r));
    const apply = (rules: unknown) => {
      const file = path.join(lab.stateDir, 'role.yaml');
      writeFileSync(file, YAML.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'krouter' }, rules }));
      kubectl(lab.stateDir, ['apply', '-f', file]);
    };
    const node = lab.spec.nodes[1]!;
    apply(reduced);
    try {
      // The agent restarts (as after an upgrade) and meets the reduced role on its first list.
      const before = agentPodRecord(lab.spec, node)!.container;
      process.kill(before.pid, 'SIGKILL');
      const log = await until('the restarted agent', () => {
        const now = agentPodRecord(lab.spec, node);
        return now && now.container.pid !== before.pid && isRecordedAlive(now.container) ? agentLogPath(lab.spec, node) : undefined;
      }, 60_000, 100);
      const offset = readFileSync(log!, 'utf8').length;
      const denied = () => readFileSync(log!, 'utf8').slice(offset).split('\n').filter((l) => /permission denied/.test(l));
      await until('the permission error in the agent log', () => (denied().length ? true : undefined), 60_000, 250);
      // Retries go on with back-off; the error is not repeated for each.
      await new Promise((r) => setTimeout(r, 3000));
      const lines = denied();
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, /may not list nodes \(the core API group/);
      assert.match(lines[0]!, /grant the verb \\?"list\\?" on \\?"nodes\\?"/);
    } finally {
      apply(full);
    }
    await until(`agent pod on ${node} Ready`, async () => {
      const pods = (await client.list(R.pods, { namespace: 'kube-system' })).items;
      return pods.some((p) => p.spec.nodeName === node && p.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
    }, 90_000, 500);
  });
});
