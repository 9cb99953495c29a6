/**
 * The lab end to end, in each family mode: pods get one address per enabled
 * family from their node's pod CIDR; same-node pod to pod (TCP, UDP), pod to
 * node and masqueraded egress to the external router work over every family;
 * kubectl creates, labels, lists and deletes pods; deleted pods leave no
 * namespace or address behind. Root: the lab makes namespaces and links.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cidrContains, familyOf, tryFamilyOf } from '../../sdk/src/families.ts';
import { runCheck } from '../lab/check.ts';
import { nodePaths, podNetnsName, type LabSpec } from '../lab/config.ts';
import { labClient, podReady } from '../lab/api.ts';
import { KubeClient, R, type Obj } from '../lab/kube.ts';
import { labCli, labForSuite, until } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';

const NS = 'e2e';

const kubectl = (stateDir: string, args: string[]) => labCli(stateDir, ['kubectl', '--', ...args]);
/** A bounded wait polling every 250 ms. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined) => until(what, fn, 120_000, 250);

const netnsList = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);

/** Every address the node's host-local IPAM still holds (one file per address). */
function ipamLeases(spec: LabSpec, node: string): string[] {
  const dir = nodePaths(spec, node).ipamDataDir;
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((net) => readdirSync(path.join(dir, net)).filter((f) => tryFamilyOf(f) !== undefined));
}

for (const family of ['ipv4', 'ipv6', 'dual'] as const) {
  describe(`lab CNI e2e (${family})`, function () {
    this.timeout(600_000);
    const lab = labForSuite(`krlab-e2e-${family}-`, ['--family', family, '--nodes', '2', '--router', 'bird']);
    let client: KubeClient;

    before(function () {
      client = labClient(lab.spec);
    });

    it('kubectl creates pods; each gets one address per enabled family from its node pod CIDR', async () => {
      const pods = [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
        ...lab.spec.nodes.flatMap((node) => ['a', 'b'].map((s) => testPod({ name: `p-${node}-${s}`, namespace: NS, nodeName: node, labels: { app: 'e2e' } }))),
      ];
      const file = path.join(lab.stateDir, 'e2e-pods.json');
      writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
      const out = kubectl(lab.stateDir, ['create', '--validate=false', '-f', file]);
      assert.match(out, new RegExp(`pod/p-${lab.spec.nodes[0]}-a created`));
      const ready = await waitFor('4 Ready pods', async () => {
        const items = (await client.list(R.pods, { namespace: NS })).items;
        return items.length === 4 && items.every((p) => podReady(p as never)) ? items : undefined;
      });
      for (const pod of ready) {
        const node = await client.get(R.nodes, undefined, pod.spec.nodeName);
        const ips: string[] = pod.status.podIPs.map((p: { ip: string }) => p.ip);
        assert.deepEqual(ips.map(familyOf), lab.fams, `${pod.metadata.name}: one address per enabled family, ipv4 first: ${ips.join(', ')}`);
        assert.equal(pod.status.podIP, ips[0]);
        for (const ip of ips) {
          const cidr = (node.spec.podCIDRs as string[]).find((c) => familyOf(c) === familyOf(ip));
          assert.ok(cidr && cidrContains(cidr, ip), `${pod.metadata.name}: ${ip} inside ${node.metadata.name}'s pod CIDR ${cidr}`);
        }
        // Inside the pod: exactly those global addresses on eth0.
        const netns = podNetnsName(NS, pod.metadata.name);
        const addrs = JSON.parse(execFileSync('ip', ['-n', netns, '-j', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }))[0].addr_info.filter((a: { scope: string }) => a.scope === 'global').map((a: { local: string }) => a.local);
        assert.deepEqual([...addrs].sort(), [...ips].sort());
      }
    });

    it('same-node pod to pod (TCP, UDP), pod to node and masqueraded egress work over every family', async () => {
      const res = await runCheck({ spec: lab.spec, crossNode: 'auto' });
      const rows = res.rows.filter((r) => r.from.startsWith(`${NS}/`));
      for (const kind of ['same-node', 'node', 'egress'] as const) {
        for (const f of lab.fams) {
          for (const proto of kind === 'node' ? (['tcp'] as const) : (['tcp', 'udp'] as const)) {
            const cells = rows.filter((r) => r.kind === kind && r.family === f && r.proto === proto);
            assert.ok(cells.length > 0, `probes for ${kind} ${f}/${proto}`);
            const bad = cells.filter((r) => r.result !== 'ok');
            assert.deepEqual(bad.map((r) => `${r.from} -> ${r.to} ${r.host}:${r.port} ${r.detail}`), [], `${kind} ${f}/${proto}\n${res.table}`);
          }
        }
      }
      // Cross-node paths are the router plugin's (the check's 'auto' expectation covers them); here every other row must hold.
      assert.deepEqual(res.rows.filter((r) => r.kind !== 'cross-node' && r.result === 'FAIL').map((r) => `${r.from} -> ${r.to}`), [], res.table);
    });

    it('kubectl labels, lists and deletes pods; deleted pods leave no namespace or address behind', async () => {
      const victim = `p-${lab.spec.nodes[0]}-a`;
      kubectl(lab.stateDir, ['-n', NS, 'label', 'pod', victim, 'doomed=yes']);
      const listed = kubectl(lab.stateDir, ['-n', NS, 'get', 'pods', '-l', 'doomed=yes', '-o', 'name']).trim();
      assert.equal(listed, `pod/${victim}`);
      const pod = await client.get(R.pods, NS, victim);
      const ips: string[] = pod.status.podIPs.map((p: { ip: string }) => p.ip);
      const netns = podNetnsName(NS, victim);
      assert.ok(netnsList().includes(netns));
      for (const ip of ips) assert.ok(ipamLeases(lab.spec, lab.spec.nodes[0]!).includes(ip), `${ip} leased before the delete`);

      kubectl(lab.stateDir, ['-n', NS, 'delete', 'pod', victim]);
      await waitFor(`namespace ${netns} gone`, () => (netnsList().includes(netns) ? undefined : true));
      await waitFor(`leases of ${ips.join(', ')} released`, () => (ips.some((ip) => ipamLeases(lab.spec, lab.spec.nodes[0]!).includes(ip)) ? undefined : true));
      assert.equal(existsSync(path.join(nodePaths(lab.spec, lab.spec.nodes[0]!).podsDir, `${netns}.json`)), false, 'kubelet record removed');
      const remaining = kubectl(lab.stateDir, ['-n', NS, 'get', 'pods', '-o', 'name']).trim().split('\n').sort();
      assert.deepEqual(remaining, [`pod/p-${lab.spec.nodes[0]}-b`, `pod/p-${lab.spec.nodes[1]}-a`, `pod/p-${lab.spec.nodes[1]}-b`]);
      // The node side is clean too: only the remaining pod's veth is on the node's bridge.
      const veths = JSON.parse(execFileSync('ip', ['-n', `krlab-${lab.spec.nodes[0]}`, '-j', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' })) as Obj[];
      assert.equal(veths.filter((l) => l.master === 'kube-bridge').length, 1);
    });
  });
}
