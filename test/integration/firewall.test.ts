import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { nftWords, type Family, type V1NetworkPolicy } from '@krouter/sdk';
import { FakeAddressFamilies, FakeInformers, MemoryLogger, createTestContext, makeNode } from '@krouter/sdk/testing';
import { Exec } from '../../core/services/exec.ts';
import { NftablesService } from '../../core/services/nftables.ts';
import { startFirewall } from '../../plugins/firewall/agent.ts';
import { firewallConfigSchema } from '../../plugins/firewall/config.ts';
import { makeNamespace, makePod, makePolicy } from '../helpers/firewall-fixtures.ts';
import { NAMED_PORTS, type Expect } from '../helpers/netpol-scenarios.ts';
import { probeFrom, wrongCells, type MatrixPod } from '../helpers/reachability.ts';
import { addAddress, createNetns, deleteNetns, inNetns, linkNetns, requireRoot } from '../helpers/netns.ts';
import { startProcess, stopProcess } from '../helpers/processes.ts';

/**
 * The firewall against the real kernel: a node namespace with a bridge and
 * pod namespaces x/a, x/b, y/a running the lab's pod server (TCP and UDP on
 * 80 and 81). The plugin's agent (over in-memory informers) writes its table
 * with the real nftables service; every probe of the reachability matrix
 * runs from a pod's namespace through the bridge (br_netfilter sends bridged
 * traffic through the forward hook, as on a krouter node).
 */

const POD_SERVER = join(import.meta.dirname, '../lab/pod-server.mjs');
const PODS = ['x/a', 'x/b', 'y/a'] as const;
type PodName = (typeof PODS)[number] | 'x/c';
const HOST: Record<PodName, number> = { 'x/a': 12, 'x/b': 13, 'y/a': 22, 'x/c': 14 };
const ip = (f: Family, pod: PodName) => (f === 'ipv4' ? `198.18.1.${HOST[pod]}` : `fd00:1::${HOST[pod]}`);
const GATEWAY = { ipv4: '198.18.1.1/24', ipv6: 'fd00:1::1/64' };
const DENIED_TIMEOUT_MS = 400;

for (const families of [['ipv4'], ['ipv6'], ['ipv4', 'ipv6']] as Family[][]) {
  describe(`firewall against the kernel [${families.join('+')}] (integration)`, function () {
    let node: string;
    const podNs = new Map<PodName, string>();
    const servers = new Map<PodName, ChildProcess>();
    let dir: string;
    let informers: FakeInformers;
    let fw: Awaited<ReturnType<typeof startFirewall>>;

    async function addPodNamespace(pod: PodName) {
      const ns = createNetns(`fw${pod.replace('/', '')}`);
      podNs.set(pod, ns);
      const peer = `v${pod.replace('/', '')}${process.pid % 10000}`.slice(0, 15);
      linkNetns(ns, 'eth0', node, peer);
      inNetns(node, 'ip', ['link', 'set', peer, 'master', 'kube-bridge']);
      inNetns(ns, 'sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
      for (const f of families) {
        addAddress(ns, 'eth0', `${ip(f, pod)}/${f === 'ipv4' ? 24 : 64}`);
        inNetns(ns, 'ip', [f === 'ipv4' ? '-4' : '-6', 'route', 'add', 'default', 'via', GATEWAY[f].split('/')[0]!]);
      }
      const control = join(dir, `${pod.replace('/', '-')}.sock`);
      const child = startProcess('ip', ['netns', 'exec', ns, process.execPath, POD_SERVER, '--name', pod, '--tcp', '80', '--tcp', '81', '--udp', '80', '--udp', '81', '--control', control]);
      servers.set(pod, child);
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d.toString();
          if (out.includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`pod server ${pod} exited ${code}`)));
      });
    }

    before(async function () {
      requireRoot();
      dir = mkdtempSync(join(tmpdir(), 'krt-fw-'));
      node = createNetns('fwnode');
      inNetns(node, 'ip', ['link', 'add', 'kube-bridge', 'type', 'bridge']);
      inNetns(node, 'sysctl', ['-qw', 'net.ipv6.conf.kube-bridge.accept_dad=0']);
      inNetns(node, 'ip', ['link', 'set', 'kube-bridge', 'up']);
      for (const f of families) addAddress(node, 'kube-bridge', GATEWAY[f]);
      // As the CNI plugin sets them: bridged pod traffic goes through the IP hooks.
      inNetns(node, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      for (const pod of PODS) await addPodNamespace(pod);

      informers = new FakeInformers();
      informers.nodes.add(makeNode('node-1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: families.map((f) => GATEWAY[f].replace(/1\//, '0/')) }));
      informers.namespaces.add(makeNamespace('x'));
      informers.namespaces.add(makeNamespace('y'));
      for (const pod of PODS) informers.pods.add(podObject(pod));
      const test = createTestContext(firewallConfigSchema.parse({ resyncSeconds: 0, countersIntervalSeconds: 0 }), { name: 'firewall', nodeName: 'node-1' });
      const nftables = new NftablesService({ exec: new Exec(), logger: new MemoryLogger(), netns: node });
      fw = await startFirewall(test.ctx, { families: new FakeAddressFamilies({ enabled: families, nodeName: 'node-1', nodes: informers.nodes }), nftables, informers }, { debounceMs: 0, minIntervalMs: 0 });
      assert.equal(fw.agent.last?.kind, 'replace');
    });

    after(async () => {
      await fw?.stop();
      for (const child of servers.values()) await stopProcess(child);
      for (const ns of podNs.values()) deleteNetns(ns);
      if (node) deleteNetns(node);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    function podObject(pod: PodName) {
      const [ns, name] = pod.split('/') as [string, string];
      return makePod({ ns, name, ips: families.map((f) => ip(f, pod)), ports: NAMED_PORTS });
    }

    async function setPolicies(policies: V1NetworkPolicy[]) {
      for (const p of informers.networkPolicies.list()) informers.networkPolicies.delete(p);
      for (const p of policies) informers.networkPolicies.add(p);
      await fw.syncNow();
    }

    const matrixPods = (pods: readonly PodName[]): MatrixPod[] =>
      pods.map((pod) => ({
        name: pod,
        control: join(dir, `${pod.replace('/', '-')}.sock`),
        address: Object.fromEntries(families.map((f) => [f, ip(f, pod)])),
      }));

    const check = async (expect: Expect, pods: readonly PodName[] = PODS) => {
      const wrong = await wrongCells(matrixPods(pods), families, expect, DENIED_TIMEOUT_MS);
      assert.deepEqual(wrong, [], `${wrong.length} wrong cell(s):\n${wrong.join('\n')}`);
    };
    const nsOf = (pod: string) => pod.split('/')[0];

    it('no policy: every pod reaches every other on both ports and protocols', async () => {
      await setPolicies([]);
      await check(() => true);
    });

    it('deny-all ingress in x', async () => {
      await setPolicies([makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })]);
      await check((_f, to) => nsOf(to) !== 'x');
    });

    it('allow x/a from namespace y only (beside the deny-all)', async () => {
      await setPolicies([
        makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }),
        makePolicy('x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
      ]);
      await check((from, to) => nsOf(to) !== 'x' || (to === 'x/a' && from === 'y/a'));
    });

    it('egress by ipBlock with an except, in each family', async () => {
      const except = (f: Family) => `${ip(f, 'y/a')}/${f === 'ipv4' ? 32 : 128}`;
      await setPolicies([
        makePolicy('x', 'block', {
          podSelector: { matchLabels: { pod: 'a' } },
          policyTypes: ['Egress'],
          egress: [{ to: families.map((f) => ({ ipBlock: { cidr: GATEWAY[f].replace(/1\//, '0/'), except: [except(f)] } })) }],
        }),
      ]);
      await check((from, to) => from !== 'x/a' || to !== 'y/a');
    });

    it('named port: x/a takes serve-81-tcp only', async () => {
      await setPolicies([makePolicy('x', 'named', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })]);
      await check((_f, to, port, proto) => to !== 'x/a' || (port === 81 && proto === 'tcp'));
    });

    it("a connection through a DNAT (as the service proxy makes it) is judged on the endpoint pod's address", async () => {
      // A stand-in for the proxy: VIP:80 -> x/a:80 in prerouting, as krouter-proxy's DNAT does.
      const vip = { ipv4: '198.18.9.9', ipv6: 'fd00:9::9' };
      const dnat = families.map((f) => `    meta l4proto tcp ${nftWords(f).ip} daddr ${vip[f]} th dport 80 dnat ${nftWords(f).ip} to ${nftWords(f).dnatTarget(ip(f, 'x/a'), 80)}`);
      inNetns(node, 'nft', ['-f', '-'], ['table inet test-proxy {', '  chain pre {', '    type nat hook prerouting priority dstnat; policy accept;', ...dnat, '  }', '}', ''].join('\n'));
      try {
        await setPolicies([makePolicy('x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] })]);
        for (const from of ['y/a', 'x/b'] as const) {
          const results = await probeFrom(
            join(dir, `${from.replace('/', '-')}.sock`),
            families.map((f) => ({ host: vip[f], port: 80, proto: 'tcp', timeoutMs: DENIED_TIMEOUT_MS })),
          );
          results.forEach((r, i) => assert.equal(r.ok, from === 'y/a', `${families[i]} ${from} -> VIP -> x/a: ${r.reply ?? r.error}`));
          if (from === 'y/a') for (const r of results) assert.equal(r.reply?.trim(), 'x/a');
        }
      } finally {
        inNetns(node, 'nft', ['delete', 'table', 'inet', 'test-proxy']);
      }
    });

    it("a new pod's address is dropped until the firewall has judged it, then its policies apply", async () => {
      await setPolicies([makePolicy('x', 'from-x', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })]);
      // The address exists and serves before the firewall knows the pod.
      await addPodNamespace('x/c');
      const all: PodName[] = [...PODS, 'x/c'];
      await check((from, to) => from !== 'x/c' && to !== 'x/c' && (nsOf(to) !== 'x' || nsOf(from) === 'x'), all);
      informers.pods.add(podObject('x/c'));
      await fw.syncNow();
      assert.equal(fw.agent.last?.kind, 'pods', 'programmed by an element patch');
      await check((from, to) => nsOf(to) !== 'x' || nsOf(from) === 'x', all);
    });
  });
}
