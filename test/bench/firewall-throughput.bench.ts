/**
 * Throughput between two pods on two nodes (iperf3, TCP, 5 s) with 1,000
 * NetworkPolicies selecting the server pod (one of them allows the client)
 * versus none, in the same lab (IPv4, 2 nodes). krouter: with the policies;
 * raw: without. Target: >= 0.9 of the unpoliced figure.
 */
import { execFileSync, spawn } from 'node:child_process';
import { labClient, podIPsByFamily, podReady } from '../lab/api.ts';
import { nodeNetns, podNetnsName } from '../lab/config.ts';
import { loadLabState } from '../lab/state.ts';
import { R, type Obj } from '../lab/kube.ts';
import { until, withLab } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';
import type { BenchRow } from './run.ts';
import { NP, throughputPolicies } from './throughput-policies.ts';

const NS = 'fw-bench';
const PORT = 5201;
const POLICIES = 1000;

/** iperf3 client in the client pod against the server pod; bits per second received. */
function iperf(serverIP: string): number {
  const out = execFileSync('ip', ['netns', 'exec', podNetnsName(NS, 'client'), 'iperf3', '-c', serverIP, '-p', String(PORT), '-t', '5', '-J'], { encoding: 'utf8', timeout: 60_000 });
  return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Policy chains of the firewall's table on a node. */
function policyChains(node: string): number {
  const out = execFileSync('ip', ['netns', 'exec', nodeNetns(node), 'nft', 'list', 'chains', 'inet'], { encoding: 'utf8' });
  return (out.match(/chain ing-/g) ?? []).length;
}

export default async function firewallThroughput(): Promise<BenchRow[]> {
  return withLab('krlab-bench-fw-', ['--family', 'ipv4', '--nodes', '2', '--router', 'none'], async (stateDir) => {
    const spec = loadLabState(stateDir)!.spec;
    const client = labClient(spec);
    try {
      await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      await client.create(R.pods, testPod({ name: 'server', namespace: NS, nodeName: spec.nodes[0], labels: { app: 'server' } }) as Obj);
      await client.create(R.pods, testPod({ name: 'client', namespace: NS, nodeName: spec.nodes[1], labels: { app: 'client' } }) as Obj);
      const serverIP = await until('both pods Ready', async () => {
        const pods = (await client.list(R.pods, { namespace: NS })).items;
        return pods.length === 2 && pods.every((p) => podReady(p)) ? podIPsByFamily(pods.find((p) => p.metadata.name === 'server')!).ipv4 : undefined;
      }, 120_000, 250);
      // The iperf3 server runs in the server pod's namespace for the whole bench.
      const srv = spawn('ip', ['netns', 'exec', podNetnsName(NS, 'server'), 'iperf3', '-s', '-p', String(PORT)], { stdio: 'ignore' });
      try {
        await until('iperf3 server up', () => {
          try {
            return iperf(serverIP!) > 0 ? true : undefined;
          } catch {
            return undefined;
          }
        }, 30_000, 500);
        // Unpoliced runs before and after the policed ones, so a change in the machine's load shows in both.
        const unpoliced = [iperf(serverIP!), iperf(serverIP!)];
        // 1,000 policies select the server; the first allows the client, the others other pods.
        for (const p of throughputPolicies(NS, POLICIES, PORT)) await client.create(NP, p);
        await until(`${POLICIES} policy chains on ${spec.nodes[0]}`, () => (policyChains(spec.nodes[0]!) >= POLICIES ? true : undefined), 300_000, 1000);
        const policed = [iperf(serverIP!), iperf(serverIP!), iperf(serverIP!)];
        for (let i = 0; i < POLICIES; i++) await client.delete(NP, NS, `p-${i}`);
        await until(`no policy chains on ${spec.nodes[0]}`, () => (policyChains(spec.nodes[0]!) === 0 ? true : undefined), 300_000, 1000);
        unpoliced.push(iperf(serverIP!));
        return [
          { benchmark: `firewall: pod-to-pod TCP throughput (median), ${POLICIES} policies select the server (raw: none)`, krouter: median(policed) / 1e9, raw: median(unpoliced) / 1e9, unit: 'Gbit/s', target: '>= 0.9x' },
        ];
      } finally {
        srv.kill('SIGTERM');
      }
    } finally {
      await client.close();
    }
  });
}
