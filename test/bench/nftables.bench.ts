/**
 * nftables: applyTable of a table with a 10k-element set per family (and a
 * chain using them) against `nft -f` of the same script, both inside a fresh
 * namespace through `ip netns exec`.
 */
import { MemoryLogger } from '@krouter/sdk/testing';
import type { NftTableRef } from '@krouter/sdk';
import { Exec } from '../../core/services/exec.ts';
import { NftablesService, renderTableScript } from '../../core/services/nftables.ts';
import { createNetns, deleteNetns, requireRoot } from '../helpers/netns.ts';
import type { BenchRow } from './run.ts';

const COUNT = 10_000;
const RUNS = 3;
const TABLE: NftTableRef = { family: 'inet', name: 'krouter-bench' };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function body(): string {
  const v4: string[] = [];
  const v6: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    v4.push(`198.19.${i >> 8}.${i & 255}`);
    v6.push(`fd00:2::${i.toString(16)}`);
  }
  return [
    `  set dst4 { type ipv4_addr; elements = { ${v4.join(', ')} } }`,
    `  set dst6 { type ipv6_addr; elements = { ${v6.join(', ')} } }`,
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    '    ip daddr @dst4 counter accept',
    '    ip6 daddr @dst6 counter accept',
    '  }',
  ].join('\n');
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export default async function nftablesBench(): Promise<BenchRow[]> {
  requireRoot();
  const exec = new Exec();
  const b = body();
  const script = renderTableScript(TABLE, b);
  const createK: number[] = [];
  const createR: number[] = [];
  const replaceK: number[] = [];
  const replaceR: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const nsK = createNetns('bench-nft');
    try {
      const nft = new NftablesService({ exec, logger: new MemoryLogger(), netns: nsK });
      createK.push(await timed(() => nft.applyTable(TABLE, b)));
      replaceK.push(await timed(() => nft.applyTable(TABLE, b)));
    } finally {
      deleteNetns(nsK);
    }
    const nsR = createNetns('bench-nft');
    try {
      const raw = () => exec.run('ip', ['netns', 'exec', nsR, 'nft', '-f', '-'], { input: script });
      createR.push(await timed(raw));
      replaceR.push(await timed(raw));
    } finally {
      deleteNetns(nsR);
    }
  }
  return [
    { benchmark: 'nftables: create table, 2x10k-element sets', krouter: median(createK), raw: median(createR), unit: 'ms', target: 'ratio ≤ 1.2' },
    { benchmark: 'nftables: replace table, 2x10k-element sets', krouter: median(replaceK), raw: median(replaceR), unit: 'ms', target: 'ratio ≤ 1.2' },
  ];
}
