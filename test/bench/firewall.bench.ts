/**
 * Firewall: a full sync of 1,000 policies over 10,000 pods in both families
 * through the plugin (informer caches -> model -> render -> nftables
 * service) against `nft -f` of the same script; and pod add -> enforced at
 * 10,000 pods (the informer event, the reconcile loop's debounce, the model
 * update and the element script) against `nft -f` of that script.
 */
import type { Family, V1NetworkPolicy, V1Pod } from '@krouter/sdk';
import { FakeAddressFamilies, FakeInformers, MemoryLogger, createTestContext, makeNode } from '@krouter/sdk/testing';
import { Exec } from '../../core/services/exec.ts';
import { NftablesService, renderTableScript } from '../../core/services/nftables.ts';
import { startFirewall } from '../../plugins/firewall/agent.ts';
import { firewallConfigSchema } from '../../plugins/firewall/config.ts';
import { buildModel } from '../../plugins/firewall/model.ts';
import { TABLE } from '../../plugins/firewall/names.ts';
import { renderBody } from '../../plugins/firewall/render.ts';
import { makeNamespace, makePod, makePolicy } from '../helpers/firewall-fixtures.ts';
import { createNetns, deleteNetns, requireRoot } from '../helpers/netns.ts';
import type { BenchRow } from './run.ts';

const PODS = 10_000;
const POLICIES = 1_000;
const NAMESPACES = 100;
const APPS = 10;
/** Share of the pods on the measured node: all of them, the worst case for its sets. */
const LOCAL_EVERY = 1;
const RUNS = 3;
const POD_ADDS = 7;
const FAMILIES: Family[] = ['ipv4', 'ipv6'];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const v4 = (i: number) => `198.18.${i >> 8}.${i & 255}`;
const v6 = (i: number) => `fd00:1::${i.toString(16)}`;

function pod(i: number): V1Pod {
  const ns = `ns${i % NAMESPACES}`;
  return makePod({
    ns,
    name: `pod${i}`,
    node: i % LOCAL_EVERY === 0 ? 'node-1' : 'node-2',
    ips: [v4(i + 1), v6(i + 1)],
    labels: { app: `a${Math.floor(i / NAMESPACES) % APPS}` },
    ports: { http: 8000 + (i % 3), dns: 'UDP:53' },
  });
}

/** Ten policies per namespace, each over one app: pod and namespace peers, numbers and names, ipBlocks with except, egress. */
function policy(i: number): V1NetworkPolicy {
  const ns = `ns${i % NAMESPACES}`;
  const k = Math.floor(i / NAMESPACES) % APPS;
  const spec: Record<string, unknown> = {
    podSelector: { matchLabels: { app: `a${k}` } },
    ingress: [
      {
        from: [{ podSelector: { matchLabels: { app: `a${(k + 1) % APPS}` } } }, { namespaceSelector: { matchLabels: { team: `t${i % 10}` } }, podSelector: { matchLabels: { app: `a${k}` } } }],
        ports: [{ port: 80 }, { port: 'http' }, { port: 9000, endPort: 9100 }],
      },
    ],
  };
  if (k % 2 === 0) {
    spec.egress = [
      { to: [{ ipBlock: { cidr: '198.19.0.0/16', except: ['198.19.1.0/24'] } }, { ipBlock: { cidr: 'fd01::/48', except: ['fd01::/64'] } }], ports: [{ port: 443 }] },
      { to: [{ namespaceSelector: {} }], ports: [{ port: 'dns', protocol: 'UDP' }] },
    ];
  }
  return makePolicy(ns, `p${i}`, spec);
}

export function cluster(): FakeInformers {
  const informers = new FakeInformers();
  informers.nodes.add(makeNode('node-1', { internalIPs: ['198.19.255.1', 'fd00:ff::1'], podCIDRs: ['198.18.0.0/16', 'fd00:1::/64'] }));
  for (let n = 0; n < NAMESPACES; n++) informers.namespaces.add(makeNamespace(`ns${n}`, { team: `t${n % 10}` }));
  for (let i = 0; i < PODS; i++) informers.pods.add(pod(i));
  for (let i = 0; i < POLICIES; i++) informers.networkPolicies.add(policy(i));
  return informers;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export default async function firewallBench(): Promise<BenchRow[]> {
  requireRoot();
  const exec = new Exec();
  const informers = cluster();
  const config = firewallConfigSchema.parse({ resyncSeconds: 0, countersIntervalSeconds: 0 });
  const families = new FakeAddressFamilies({ enabled: FAMILIES, nodeName: 'node-1', nodes: informers.nodes });

  // Model and render alone (no kernel), to show where the plugin's time goes.
  const modelOnly: number[] = [];
  let body = '';
  for (let run = 0; run < RUNS; run++) {
    modelOnly.push(
      await timed(async () => {
        const m = buildModel({
          families: FAMILIES,
          nodeName: 'node-1',
          node: families.nodeNetwork(informers.nodes.get('node-1')),
          pods: informers.pods.list(),
          namespaces: informers.namespaces.list(),
          policies: informers.networkPolicies.list(),
        });
        body = renderBody(m, { defaultDeny: config.defaultDeny, log: config.log });
      }),
    );
  }
  const script = renderTableScript(TABLE, body);

  const fullK: number[] = [];
  const fullR: number[] = [];
  const addK: number[] = [];
  const addR: number[] = [];
  let addBytes = 0;
  const countersK: number[] = [];
  const countersR: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    // The raw side: the same script into a fresh namespace; kept for the pod adds of run 0.
    const nsR = createNetns('bench-fw');
    const nsK = createNetns('bench-fw');
    try {
      fullR.push(await timed(() => exec.run('ip', ['netns', 'exec', nsR, 'nft', '-f', '-'], { input: script })));
      const nftables = new NftablesService({ exec, logger: new MemoryLogger(), netns: nsK });
      // Resolves when the next element script has been applied: the pod is enforced.
      let applied: ((script: string) => void) | undefined;
      const applyScript = nftables.applyScript.bind(nftables);
      nftables.applyScript = async (text: string) => {
        await applyScript(text);
        applied?.(text);
      };
      const test = createTestContext(config, { name: 'firewall', nodeName: 'node-1' });
      let fw: Awaited<ReturnType<typeof startFirewall>> | undefined;
      fullK.push(await timed(async () => (fw = await startFirewall(test.ctx, { families, nftables, informers }))));
      // The reconcile loop's timers do not hold the process open; this does, while a pod add is awaited.
      const keepAlive = setInterval(() => undefined, 1000);
      try {
        for (let a = 0; run === 0 && a < POD_ADDS; a++) {
          const done = new Promise<string>((resolve) => (applied = resolve));
          const t0 = performance.now();
          informers.pods.add(pod(PODS + a));
          const text = await done;
          addK.push(performance.now() - t0);
          addBytes = text.length;
          addR.push(await timed(() => exec.run('ip', ['netns', 'exec', nsR, 'nft', '-f', '-'], { input: text })));
        }
        // Metrics read the counters through listTable (the whole table); `nft list counters` is the lower bound.
        for (let r = 0; run === 0 && r < RUNS; r++) {
          countersK.push(await timed(() => fw!.agent.readCounters()));
          countersR.push(await timed(() => exec.run('ip', ['netns', 'exec', nsK, 'nft', '-j', 'list', 'counters', 'table', TABLE.family, TABLE.name])));
        }
      } finally {
        clearInterval(keepAlive);
        applied = undefined;
        await fw?.stop();
      }
      // The next run starts from the same cluster.
      for (let a = 0; run === 0 && a < POD_ADDS; a++) informers.pods.delete(`ns${(PODS + a) % NAMESPACES}/pod${PODS + a}`);
    } finally {
      deleteNetns(nsK);
      deleteNetns(nsR);
    }
  }
  const label = `${POLICIES} policies x ${PODS} pods x 2 families`;
  return [
    { benchmark: `firewall: full sync, ${label} (vs nft -f of its script)`, krouter: median(fullK), raw: median(fullR), unit: 'ms', target: 'ratio ≤ 1.3, ≤ 2000 ms' },
    { benchmark: `firewall: model + render only, ${label}`, krouter: median(modelOnly), raw: 0, unit: 'ms' },
    { benchmark: `firewall: table script size, ${label}`, krouter: script.length / 1024, raw: 0, unit: 'KiB' },
    { benchmark: `firewall: pod add -> enforced at ${PODS} pods (vs nft -f of its script)`, krouter: median(addK), raw: median(addR), unit: 'ms', target: '≤ 300 ms' },
    { benchmark: 'firewall: pod add element script size', krouter: addBytes, raw: 0, unit: 'bytes' },
    { benchmark: 'firewall: read denied counters (list table vs nft list counters)', krouter: median(countersK), raw: median(countersR), unit: 'ms' },
  ];
}
