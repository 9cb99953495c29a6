/**
 * Service proxy, in process: (1) full sync of 10,000 dual-stack services (2
 * endpoints per family) through the plugin's agent against `nft -f` of the
 * same rendered table; (2) one endpoint change at 30,000 dual-stack
 * services: the agent's sync alone (no informer, no reconciler debounce or
 * minimum interval) against `nft -f` of the same transaction, and its size in
 * bytes next to the size at 10,000 services; (3) the periodic resync of
 * 10,000 services with ClientIP affinity on one in ten. Each in a fresh namespace
 * through `ip netns exec`. The end-to-end change (EndpointSlice update sent
 * to an API server -> rule in the kernel, for the real binary) is measured
 * by kube-proxy-compare.bench.ts.
 */
import type { ApplyTableOptions, NftTableRef, Nftables, V1EndpointSlice } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies, FakeExec, FakeInformers, FakeNftables, makeNode } from '@krouter/sdk/testing';
import { Exec } from '../../core/services/exec.ts';
import { NftablesService, renderTableScript } from '../../core/services/nftables.ts';
import { ServiceProxyAgent } from '../../plugins/service-proxy/agent.ts';
import { configSchema } from '../../plugins/service-proxy/config.ts';
import { createNetns, deleteNetns, requireRoot } from '../helpers/netns.ts';
import { makeService, makeSlice } from '../helpers/services.ts';
import type { BenchRow } from './run.ts';

/** Full syncs are interleaved krouter/raw, RUNS of each: the machine is shared and its load moves. */
const RUNS = 5;
const CHANGES = 5;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The real service, remembering what it was last given so the raw tool can be handed the same text. */
class Recording implements Nftables {
  lastBody = '';
  lastScript = '';
  constructor(private readonly inner: NftablesService) {}
  applyTable(t: NftTableRef, body: string, options?: ApplyTableOptions) {
    this.lastBody = body;
    return this.inner.applyTable(t, body, options);
  }
  applyScript(script: string) {
    this.lastScript = script;
    return this.inner.applyScript(script);
  }
  listTable(t: NftTableRef) {
    return this.inner.listTable(t);
  }
  deleteTable(t: NftTableRef) {
    return this.inner.deleteTable(t);
  }
  tableExists(t: NftTableRef) {
    return this.inner.tableExists(t);
  }
}

/** Addresses inside 198.18.0.0/15 for up to 32k services: ClusterIPs in 198.18/16, endpoint k of service i in 198.19/16. */
const clusterIPv4 = (i: number) => `198.18.${i >> 8}.${i & 255}`;
const endpointV4 = (i: number, k: number) => `198.19.${(i >> 8) + k * 128}.${i & 255}`;
const v6 = (i: number, base: number) => `fd00:${base.toString(16)}::${i.toString(16)}`;

function slices(i: number, endpoints: number): V1EndpointSlice[] {
  const eps = (f: (k: number) => string) => Array.from({ length: endpoints }, (_, k) => ({ ip: f(k), node: k === 0 ? 'n1' : 'n2' }));
  return [
    makeSlice('bench', `s${i}`, `s${i}-4`, 'IPv4', eps((k) => endpointV4(i, k))),
    makeSlice('bench', `s${i}`, `s${i}-6`, 'IPv6', eps((k) => v6(i, 0x100 + k))),
  ];
}

/** `count` dual-stack services; with `affinityEvery` N, every Nth has ClientIP affinity. */
function cluster(count: number, affinityEvery = 0) {
  const informers = new FakeInformers();
  informers.nodes.add(makeNode('n1', { internalIPs: ['198.17.0.1', 'fd00::1'], podCIDRs: ['198.17.16.0/24', 'fd00:16::/64'] }));
  for (let i = 0; i < count; i++) {
    const sticky = affinityEvery > 0 && i % affinityEvery === 0;
    informers.services.add(makeService('bench', `s${i}`, { clusterIPs: [clusterIPv4(i), v6(i, 0x80)], ...(sticky ? { sessionAffinity: {} } : {}) }));
    for (const s of slices(i, 2)) informers.endpointSlices.add(s);
  }
  return informers;
}

function agentIn(ns: string, informers: FakeInformers) {
  const { ctx } = createTestContext(configSchema.parse({ conntrackCleanup: false, healthCheckNodePorts: false }), { name: 'service-proxy', nodeName: 'n1' });
  const nft = new Recording(new NftablesService({ exec: new Exec(), logger: ctx.logger, netns: ns }));
  const agent = new ServiceProxyAgent(ctx, { families: new FakeAddressFamilies({ nodeName: 'n1', nodes: informers.nodes }), nftables: nft, informers, exec: new FakeExec() });
  return { agent, nft };
}

/** An agent over an in-memory Nftables: the sync without the kernel. */
function jsAgent(informers: FakeInformers) {
  const { ctx } = createTestContext(configSchema.parse({ conntrackCleanup: false, healthCheckNodePorts: false }), { name: 'service-proxy', nodeName: 'n1' });
  return new ServiceProxyAgent(ctx, { families: new FakeAddressFamilies({ nodeName: 'n1', nodes: informers.nodes }), nftables: new FakeNftables(), informers, exec: new FakeExec() });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** One endpoint of service 0 goes away and comes back: the partial sync alone, called directly (no informer event, no debounce). */
async function endpointChanges(agent: ServiceProxyAgent, informers: FakeInformers, nft: Recording, exec: Exec, rawNs: string) {
  const krouter: number[] = [];
  const raw: number[] = [];
  let bytes = 0;
  const scripts: string[] = [];
  for (let c = 0; c < CHANGES; c++) {
    for (const endpoints of [1, 2]) {
      krouter.push(
        await timed(async () => {
          for (const s of slices(0, endpoints)) informers.endpointSlices.update(s);
          agent.markDirty('bench/s0');
          await agent.sync(['endpointslice']);
        }),
      );
      bytes = Math.max(bytes, Buffer.byteLength(nft.lastScript));
      scripts.push(nft.lastScript);
    }
  }
  for (const script of scripts) raw.push(await timed(() => exec.run('ip', ['netns', 'exec', rawNs, 'nft', '-f', '-'], { input: script })));
  return { krouter: median(krouter), raw: median(raw), bytes };
}

export default async function serviceProxyBench(): Promise<BenchRow[]> {
  requireRoot();
  const exec = new Exec();
  const rows: BenchRow[] = [];
  const TABLE = { family: 'inet', name: 'krouter-proxy' } as const;

  // (1) Full sync, 10k services x 2 families.
  let informers10k: FakeInformers | undefined = cluster(10_000);
  const fullK: number[] = [];
  const fullR: number[] = [];
  const jsOnly: number[] = [];
  let change10k: Awaited<ReturnType<typeof endpointChanges>> | undefined;
  for (let run = 0; run < RUNS; run++) {
    const nsK = createNetns('bench-sp');
    const nsR = createNetns('bench-sp');
    try {
      const { agent, nft } = agentIn(nsK, informers10k);
      fullK.push(await timed(() => agent.sync(['start'])));
      // The same sync without the kernel: what model, render and bookkeeping cost on their own.
      jsOnly.push(await timed(() => jsAgent(informers10k!).sync(['start'])));
      const script = renderTableScript(TABLE, nft.lastBody);
      fullR.push(await timed(() => exec.run('ip', ['netns', 'exec', nsR, 'nft', '-f', '-'], { input: script })));
      if (run === 0) change10k = await endpointChanges(agent, informers10k, nft, exec, nsR);
      await agent.close();
    } finally {
      deleteNetns(nsK);
      deleteNetns(nsR);
    }
  }
  rows.push({ benchmark: 'service-proxy: full sync 10k svc x 2 families (2 ep)', krouter: median(fullK), raw: median(fullR), unit: 'ms', target: 'ratio ≤ 1.3' });
  rows.push({ benchmark: 'service-proxy: 10k full sync, JS only vs nft -f', krouter: median(jsOnly), raw: median(fullR), unit: 'ms', target: 'ratio ≤ 0.3' });
  informers10k = undefined; // its heap would slow the 30k runs' garbage collection

  // (3) The periodic resync of 10k services, one in ten with ClientIP affinity: a full sync that
  // keeps the affinity sets (every chain and map emptied and deleted by name) and checks for drift
  // (the table read before and after), against `nft -f` replacing the table whole.
  {
    const informers = cluster(10_000, 10);
    const nsK = createNetns('bench-sp');
    const nsR = createNetns('bench-sp');
    try {
      const { agent, nft } = agentIn(nsK, informers);
      await agent.sync(['start']);
      const resyncs: number[] = [];
      for (let r = 0; r < 3; r++) resyncs.push(await timed(() => agent.sync(['resync'])));
      const script = renderTableScript(TABLE, nft.lastBody);
      const raw: number[] = [];
      for (let r = 0; r < 3; r++) raw.push(await timed(() => exec.run('ip', ['netns', 'exec', nsR, 'nft', '-f', '-'], { input: script })));
      rows.push({ benchmark: 'service-proxy: resync 10k svc, 1 in 10 ClientIP (keeps affinity, checks drift)', krouter: median(resyncs), raw: median(raw), unit: 'ms' });
      await agent.close();
    } finally {
      deleteNetns(nsK);
      deleteNetns(nsR);
    }
  }

  // (2) One endpoint change at 30k services x 2 families.
  const informers30k = cluster(30_000);
  const nsK = createNetns('bench-sp');
  const nsR = createNetns('bench-sp');
  try {
    const { agent, nft } = agentIn(nsK, informers30k);
    const loadK = await timed(() => agent.sync(['start']));
    const script = renderTableScript(TABLE, nft.lastBody);
    const loadR = await timed(() => exec.run('ip', ['netns', 'exec', nsR, 'nft', '-f', '-'], { input: script }));
    rows.push({ benchmark: 'service-proxy: full sync 30k svc x 2 families (2 ep)', krouter: loadK, raw: loadR, unit: 'ms' });
    const change30k = await endpointChanges(agent, informers30k, nft, exec, nsR);
    rows.push({ benchmark: 'service-proxy: one endpoint change at 30k svc, sync only (no informer/debounce)', krouter: change30k.krouter, raw: change30k.raw, unit: 'ms' });
    rows.push({ benchmark: 'service-proxy: change transaction, 30k vs 10k svc, sync only', krouter: change30k.bytes, raw: change10k!.bytes, unit: 'bytes', target: 'ratio 1 (size independent of services)' });
    await agent.close();
  } finally {
    deleteNetns(nsK);
    deleteNetns(nsR);
  }
  return rows;
}
