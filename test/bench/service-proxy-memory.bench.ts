/**
 * Service proxy memory: RSS of `dist/krouter` (cni-less node: router and
 * service-proxy plugins) with 10,000 dual-stack services of 2 endpoints per
 * family programmed. Raw: the same agent before the services came. Target:
 * <= 150 MB.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startCluster } from '../helpers/bgp-peers.ts';
import { resourceByKind } from '../helpers/fake-apiserver/index.ts';
import { rssKb } from '../helpers/krouter-process.ts';
import { requireRoot } from '../helpers/netns.ts';
import { makeService, makeSlice } from '../helpers/services.ts';
import type { BenchRow } from './run.ts';

const SERVICES = 10_000;
const REPO = path.resolve(import.meta.dirname, '..', '..');

const clusterIPv4 = (i: number) => `198.18.${128 + (i >> 8)}.${i & 255}`;
const endpointV4 = (i: number, k: number) => `198.19.${(i >> 8) + k * 64}.${i & 255}`;
const v6 = (i: number, base: number) => `fd00:${base.toString(16)}::${i.toString(16)}`;

/** Entries of the proxy's ClusterIP map of one family on a node (what is programmed). */
function programmed(ns: string): number {
  try {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'map', 'inet', 'krouter-proxy', 'service-ips-ipv6'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    return (out.match(/ : /g) ?? []).length;
  } catch {
    return 0;
  }
}

export default async function serviceProxyMemory(): Promise<BenchRow[]> {
  requireRoot();
  const c = await startCluster({ tag: 'spm', mode: 'dual', nodes: 1, router: 'none', plugins: { 'service-proxy': { enabled: true } } }, { command: path.join(REPO, 'dist', 'krouter'), args: [] });
  try {
    const node = c.nodes[0]!;
    await new Promise((r) => setTimeout(r, 3000));
    const before = rssKb(node.agent.pid);
    const svcDef = resourceByKind('Service')!;
    const sliceDef = resourceByKind('EndpointSlice')!;
    c.store.create(resourceByKind('Namespace')!, undefined, { metadata: { name: 'bench' } });
    for (let i = 0; i < SERVICES; i++) {
      c.store.create(svcDef, 'bench', makeService('bench', `s${i}`, { clusterIPs: [clusterIPv4(i), v6(i, 0x20)], ipFamilies: ['IPv4', 'IPv6'] }));
      const eps = (f: (k: number) => string) => [0, 1].map((k) => ({ ip: f(k), node: 'node-1' }));
      c.store.create(sliceDef, 'bench', makeSlice('bench', `s${i}`, `s${i}-4`, 'IPv4', eps((k) => endpointV4(i, k))));
      c.store.create(sliceDef, 'bench', makeSlice('bench', `s${i}`, `s${i}-6`, 'IPv6', eps((k) => v6(i * 2 + k, 0x19))));
    }
    const deadline = Date.now() + 300_000;
    while (programmed(node.ns) < SERVICES) {
      if (Date.now() > deadline) throw new Error(`the agent did not program ${SERVICES} services within 300 s (has ${programmed(node.ns)})`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    // Let the post-sync garbage settle, as a running agent's would.
    await new Promise((r) => setTimeout(r, 5000));
    // Where the memory is, from the agent's own metrics (scraped inside its namespace).
    const metrics = execFileSync('ip', ['netns', 'exec', node.ns, 'curl', '-s', `${node.agent.metricsUrl}/metrics`], { encoding: 'utf8' });
    const metric = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 2 ** 20;
    return [
      { benchmark: `service-proxy: agent RSS, ${SERVICES} dual-stack services programmed (raw: same agent before)`, krouter: rssKb(node.agent.pid) / 1024, raw: before / 1024, unit: 'MB', target: '<= 150 MB' },
      { benchmark: '  of which V8 heap used / external (ArrayBuffers, native)', krouter: metric('krouter_nodejs_heap_size_used_bytes'), raw: metric('krouter_nodejs_external_memory_bytes'), unit: 'MB' },
    ];
  } finally {
    await c.stop();
  }
}
