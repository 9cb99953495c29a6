/**
 * gobgpd on its own, the yardstick under the router's ingest: a bare gobgpd
 * in a node namespace of a bench cluster layout (no agent), peered with the
 * external router, with its BMP Loc-RIB feed (the feed the agent reads) going
 * to an idle station in the same namespace that only counts messages. Shows
 * how long gobgpd's own feed takes to carry a burst to a consumer that costs
 * it nothing, next to how long its RIB takes to hold it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GobgpClient } from '../../core/services/gobgp/client.ts';
import { paths } from '../../build/paths.ts';
import {
  CLUSTER_ASN,
  ROUTER_ASN,
  ROUTER_INDEX,
  UNDERLAY_PREFIX,
  startRouter,
  underlay,
  waitFor,
  type Family,
  type RunningRouter,
} from './bgp-peers.ts';
import { Cleanups } from './cleanups.ts';
import { addAddress, createNetns, deleteNetns, inNetns, linkNetns } from './netns.ts';
import { startProcess, stopProcess } from './processes.ts';

/** Listens on loopback, prints `port N`, then `count TOTAL HRTIME_NS` after each read: route-monitoring messages so far. */
const STATION = `
const net = require('node:net');
let total = 0, buf = Buffer.alloc(0);
const server = net.createServer((s) => s.on('data', (chunk) => {
  buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
  while (buf.length >= 6 && buf.length >= buf.readUInt32BE(1)) {
    if (buf[5] === 0) total++;
    buf = buf.subarray(buf.readUInt32BE(1));
  }
  process.stdout.write('count ' + total + ' ' + process.hrtime.bigint() + '\\n');
}));
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

export interface BareFeed {
  router: RunningRouter;
  /** Route-monitoring messages the station has counted. */
  count(): number;
  /** Resolves with the monotonic time (ns) at which the station had counted `total`. */
  reached(total: number): Promise<bigint>;
  socket: string;
  stop(): Promise<void>;
}

function gobgp(socket: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('gobgp', ['--target', `unix://${socket}`, ...args], (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve())),
  );
}

export async function startBareFeed(tag: string, families: Family[], bulk: Record<Family, string[]>): Promise<BareFeed> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `krouter-${tag}-`));
  const cleanups = new Cleanups();
  cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stop = () => cleanups.run();
  try {
    const switchNs = createNetns(`${tag}sw`);
    cleanups.add(() => deleteNetns(switchNs));
    inNetns(switchNs, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    inNetns(switchNs, 'ip', ['link', 'set', 'br0', 'up']);
    const attach = (ns: string, port: string, i: number) => {
      linkNetns(ns, 'eth0', switchNs, port);
      inNetns(switchNs, 'ip', ['link', 'set', port, 'master', 'br0']);
      for (const f of families) addAddress(ns, 'eth0', `${underlay(i)[f]}/${UNDERLAY_PREFIX[f]}`);
    };
    const routerNs = createNetns(`${tag}r`);
    cleanups.add(() => deleteNetns(routerNs));
    attach(routerNs, 'r0', ROUTER_INDEX);
    const nodeNs = createNetns(`${tag}1`);
    cleanups.add(() => deleteNetns(nodeNs));
    attach(nodeNs, 'n1', 1);
    const routerAddr = underlay(ROUTER_INDEX);
    const node = underlay(1);

    const router = await startRouter(
      'bird',
      routerNs,
      {
        routerId: routerAddr.ipv4,
        asn: ROUTER_ASN,
        families,
        sessions: families.map((f) => ({ name: `n1_${f}`, family: f, neighbor: node[f], neighborAsn: CLUSTER_ASN, localAddress: routerAddr[f] })),
        originate: { ipv4: [], ipv6: [] },
        bulk,
      },
      path.join(dir, 'router'),
    );
    cleanups.add(() => router.stop());

    const socket = path.join(dir, 'gobgp.sock');
    const gobgpd = startProcess('ip', ['netns', 'exec', nodeNs, 'gobgpd', '--api-hosts', `unix://${socket}`, '--pprof-disable']);
    cleanups.add(() => stopProcess(gobgpd));
    const station: ChildProcess = startProcess('ip', ['netns', 'exec', nodeNs, paths.nodeBinary, '-e', STATION]);
    cleanups.add(() => stopProcess(station));
    let total = 0;
    let port = 0;
    const waiters = new Set<() => void>();
    const times: Array<[number, bigint]> = [];
    let partial = '';
    station.stdout!.setEncoding('utf8');
    station.stdout!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const [what, a, b] = line.split(' ');
        if (what === 'port') port = Number(a);
        if (what === 'count') {
          total = Number(a);
          times.push([total, BigInt(b!)]);
        }
      }
      for (const w of waiters) w();
    });

    await waitFor('gobgpd socket', async () => (fs.existsSync(socket) ? true : undefined), 20_000);
    await waitFor('gobgpd global', async () => ((await gobgp(socket, ['global', 'as', String(CLUSTER_ASN), 'router-id', node.ipv4])), true), 20_000);
    for (const f of families) await gobgp(socket, ['neighbor', 'add', routerAddr[f], 'as', String(ROUTER_ASN)]);
    await waitFor('station port', async () => (port ? true : undefined), 20_000);
    // The same feed the agent asks for (core/services/gobgp: AddBmp, Loc-RIB).
    const client = new GobgpClient(socket);
    try {
      await client.unary('AddBmp', { address: '127.0.0.1', port, policy: 'LOCAL', StatisticsTimeout: 0, SysName: 'bench' });
    } finally {
      client.close();
    }
    await waitFor('sessions with the router', async () => ((await router.established()).length === families.length ? true : undefined), 60_000);

    return {
      router,
      socket,
      count: () => total,
      reached: (want) =>
        new Promise((resolve) => {
          const check = () => {
            const hit = times.find(([n]) => n >= want);
            if (!hit) return;
            waiters.delete(check);
            resolve(hit[1]);
          };
          waiters.add(check);
          check();
        }),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
