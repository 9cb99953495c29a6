/**
 * Netlink writes and reads: 10k routes per family applied through
 * NetlinkService against `ip -force -batch -` of the same lines, and
 * listRoutes against `ip -json route show` + JSON.parse of the same routes.
 * Every run gets a fresh namespace (deleted afterwards).
 */
import { execFileSync } from 'node:child_process';
import { parseCidr, type Family, type NetlinkOp } from '@krouter/sdk';
import { MemoryLogger } from '@krouter/sdk/testing';
import { Exec } from '../../core/services/exec.ts';
import { NetlinkService } from '../../core/services/netlink/index.ts';
import { renderOp } from '../../core/services/netlink/render.ts';
import { createNetns, deleteNetns, requireRoot } from '../helpers/netns.ts';
import type { BenchRow } from './run.ts';

const COUNT = 10_000;
const RUNS = 5;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function routeOps(family: Family): NetlinkOp[] {
  const ops: NetlinkOp[] = [];
  for (let i = 0; i < COUNT; i++) {
    const dst = family === 'ipv4' ? `198.19.${i >> 8}.${i & 255}/32` : parseCidr(`fd00:2::${i.toString(16)}/128`).text;
    ops.push({ op: 'route.replace', route: { dst, via: family === 'ipv4' ? '198.18.0.2' : 'fd00:1::2', dev: 'v0', metric: 100 } });
  }
  return ops;
}

/** A namespace with a veth pair and one address per family on v0. */
function freshNetns(): string {
  const ns = createNetns('bench-nl');
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
  ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  ip('link', 'set', 'v0', 'up');
  ip('link', 'set', 'v1', 'up');
  ip('addr', 'add', '198.18.0.1/24', 'dev', 'v0');
  ip('addr', 'add', 'fd00:1::1/64', 'dev', 'v0', 'nodad');
  return ns;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

/**
 * The routes of `families` applied in one apply against one `ip -batch` of
 * the same lines (route lines need no family switch: ip takes it from the
 * prefix), each in a fresh namespace; for one family also listing them back.
 * With both families krouter writes each to its own child at once.
 */
async function benchRoutes(families: Family[]): Promise<BenchRow[]> {
  const ops = families.flatMap(routeOps);
  const script = `${ops.map((op) => renderOp(op).line).join('\n')}\n`;
  const exec = new Exec();
  const applyK: number[] = [];
  const applyR: number[] = [];
  const listK: number[] = [];
  const listR: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    // krouter: a fresh service, so the child's start is counted as the raw tool's is
    const nsK = freshNetns();
    const nl = new NetlinkService({ logger: new MemoryLogger(), netns: nsK });
    try {
      const [ms, result] = await timed(() => nl.apply(ops));
      if (!result.ok) throw new Error(`netlink bench: ${result.errors.length} errors, first: ${result.errors[0]?.message}`);
      applyK.push(ms);
      for (const family of families) {
        const [lms, routes] = await timed(() => nl.listRoutes({ family }));
        if (routes.length !== COUNT) throw new Error(`netlink bench: listed ${routes.length} ${family} routes, expected ${COUNT}`);
        listK.push(lms);
      }
    } finally {
      await nl.close();
      deleteNetns(nsK);
    }
    // raw: ip -batch of the same lines
    const nsR = freshNetns();
    try {
      const [ms] = await timed(() => exec.run('ip', ['-n', nsR, '-force', '-batch', '-'], { input: script }));
      applyR.push(ms);
      for (const family of families) {
        const [lms, n] = await timed(async () => {
          const out = await exec.run('ip', ['-n', nsR, '-json', family === 'ipv4' ? '-4' : '-6', 'route', 'show', 'proto', '201']);
          return (JSON.parse(out.stdout) as unknown[]).length;
        });
        if (n !== COUNT) throw new Error(`netlink bench: raw listed ${n} ${family} routes`);
        listR.push(lms);
      }
    } finally {
      deleteNetns(nsR);
    }
  }
  const names = families.map((f) => (f === 'ipv4' ? '10k IPv4' : '10k IPv6'));
  if (families.length > 1) {
    return [
      { benchmark: `netlink: apply ${names.join(' + ')} routes in one apply (raw: one ip -batch)`, krouter: median(applyK), raw: median(applyR), unit: 'ms', target: 'ratio ≤ 1.2' },
    ];
  }
  return [
    { benchmark: `netlink: apply ${names[0]} routes`, krouter: median(applyK), raw: median(applyR), unit: 'ms', target: 'ratio ≤ 1.2' },
    { benchmark: `netlink: list ${names[0]} routes`, krouter: median(listK), raw: median(listR), unit: 'ms' },
  ];
}

export default async function netlinkBench(): Promise<BenchRow[]> {
  requireRoot();
  return [...(await benchRoutes(['ipv4'])), ...(await benchRoutes(['ipv6'])), ...(await benchRoutes(['ipv4', 'ipv6']))];
}
