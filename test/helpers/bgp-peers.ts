/**
 * Real BGP routers (BIRD 2, FRR bgpd) and small router clusters for the
 * router plugin's integration tests and benchmarks: config rendering (pure),
 * start/stop by PID in a namespace, reading what the router learned, and a
 * cluster of `krouter run` agents in namespaces on one L2 segment with the
 * external router beside them.
 *
 * The API server runs in this process (root namespace, 127.0.0.1); each node
 * namespace reaches it through a tiny TCP relay on its own loopback that
 * forwards to a unix socket (the filesystem is shared across namespaces), so
 * no address is ever added to the root namespace.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Cleanups } from './cleanups.ts';
import { addAddress, createNetns, deleteNetns, inNetns, linkNetns } from './netns.ts';
import { startProcess, stopProcess } from './processes.ts';
import { descendants, isAlive, startAgent, writeConfig, type AgentProcess } from './krouter-process.ts';
import { startApiServer, type Store } from './fake-apiserver/index.ts';

export type Family = 'ipv4' | 'ipv6';
export type FamilyMode = 'ipv4' | 'ipv6' | 'dual';
export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

export function familiesOf(mode: FamilyMode): Family[] {
  return mode === 'dual' ? ['ipv4', 'ipv6'] : [mode];
}

export const ROUTER_ASN = 64513;
export const CLUSTER_ASN = 64512;

// ---------------------------------------------------------------------------
// Address plan (198.18.0.0/15 and fd00::/8 only, inside our namespaces).

/** Underlay address of node i (1-based) or of the router (i = 254). */
export function underlay(i: number): Record<Family, string> {
  return { ipv4: `198.18.100.${i}`, ipv6: `fd00:100::${i.toString(16)}` };
}
export const UNDERLAY_PREFIX: Record<Family, number> = { ipv4: 24, ipv6: 64 };
export const ROUTER_INDEX = 254;

/** Pod CIDR of node i (1-based). */
export function podCidr(i: number): Record<Family, string> {
  return { ipv4: `198.19.${100 + i}.0/24`, ipv6: `fd00:119:${(0x100 + i).toString(16)}::/64` };
}

/** What the external router originates besides a default route. */
export const ROUTER_PREFIX: Record<Family, string> = { ipv4: '198.18.201.0/24', ipv6: 'fd00:201::/64' };
export const DEFAULT_ROUTE: Record<Family, string> = { ipv4: '0.0.0.0/0', ipv6: '::/0' };

/** `count` distinct host routes per family for bulk benchmarks (198.19.128.0/17, fd00:300::/48). */
export function bulkPrefixes(family: Family, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(family === 'ipv4' ? `198.19.${128 + (i >> 8)}.${i & 255}/32` : `fd00:300:0:${i.toString(16)}::/64`);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Router model and config rendering (pure)

export interface RouterSession {
  /** Usable as a BIRD protocol name. */
  name: string;
  family: Family;
  neighbor: string;
  neighborAsn: number;
  localAddress: string;
  /** Plain-text TCP MD5 password. */
  password?: string;
}

export interface RouterSpec {
  routerId: string;
  asn: number;
  families: Family[];
  sessions: RouterSession[];
  /** Originated at start, per family (a default route may be among them). */
  originate: Record<Family, string[]>;
  /** Originated only after `enableBulk()` (BIRD: a static protocol started disabled). */
  bulk?: Record<Family, string[]>;
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

export function renderBirdConfig(m: RouterSpec): string {
  const out: string[] = [`router id ${m.routerId};`, 'log stderr { warning, error, fatal };', '', 'protocol device { scan time 2; }', ''];
  for (const f of m.families) {
    const ch = f === 'ipv4' ? 'ipv4' : 'ipv6';
    out.push(`protocol static originate_${ch} {`, `  ${ch};`, ...m.originate[f].map((p) => `  route ${p} unreachable;`), '}', '');
    if (m.bulk && m.bulk[f].length) {
      out.push(`protocol static bulk_${ch} {`, '  disabled;', `  ${ch};`, ...m.bulk[f].map((p) => `  route ${p} unreachable;`), '}', '');
    }
  }
  for (const s of m.sessions) {
    const ch = s.family === 'ipv4' ? 'ipv4' : 'ipv6';
    out.push(
      `protocol bgp ${s.name} {`,
      `  local ${s.localAddress} as ${m.asn};`,
      `  neighbor ${s.neighbor} as ${s.neighborAsn};`,
      '  connect delay time 1;',
      '  connect retry time 2;',
      '  error wait time 1, 3;',
      ...(s.password !== undefined ? [`  password ${quote(s.password)};`] : []),
      `  ${ch} {`,
      '    import all;',
      '    export where source = RTS_STATIC;',
      '  };',
      '}',
      '',
    );
  }
  return out.join('\n');
}

export function renderFrrConfig(m: RouterSpec): string {
  const out: string[] = [
    'frr defaults traditional',
    'hostname krt-router',
    'log stdout warnings',
    '!',
    `router bgp ${m.asn}`,
    ` bgp router-id ${m.routerId}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp default ipv4-unicast',
    // bgpd runs without zebra: nothing is in its RIB, originate anyway.
    ' no bgp network import-check',
  ];
  for (const s of m.sessions) {
    out.push(
      ` neighbor ${s.neighbor} remote-as ${s.neighborAsn}`,
      ` neighbor ${s.neighbor} update-source ${s.localAddress}`,
      ` neighbor ${s.neighbor} timers connect 1`,
      ...(s.password !== undefined ? [` neighbor ${s.neighbor} password ${s.password}`] : []),
    );
  }
  for (const f of m.families) {
    out.push(' !', ` address-family ${f} unicast`);
    for (const p of m.originate[f]) out.push(`  network ${p}`);
    for (const s of m.sessions.filter((x) => x.family === f)) out.push(`  neighbor ${s.neighbor} activate`);
    out.push(' exit-address-family');
  }
  out.push('!', '');
  return out.join('\n');
}

/** BIRD's `show route` text -> prefix -> next hops of every route for it. Pure. */
export function parseBirdRoutes(text: string): Map<string, string[]> {
  const routes = new Map<string, string[]>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^(\S+\/\d+)\s+(unicast|unreachable|blackhole|prohibit)/.exec(line);
    if (head) {
      current = head[1]!;
      if (!routes.has(current)) routes.set(current, []);
      continue;
    }
    const via = /^\s+via\s+(\S+)/.exec(line);
    if (via && current) routes.get(current)!.push(via[1]!);
  }
  return routes;
}

/** FRR's `show bgp <family> unicast json` -> prefix -> next hops. Pure. */
export function parseFrrRoutes(json: string): Map<string, string[]> {
  const doc = JSON.parse(json) as { routes?: Record<string, Array<{ nexthops?: Array<{ ip?: string; scope?: string }> }>> };
  const routes = new Map<string, string[]>();
  for (const [prefix, paths] of Object.entries(doc.routes ?? {})) {
    const hops = paths.flatMap((p) => (p.nexthops ?? []).filter((n) => n.scope !== 'link-local').map((n) => n.ip ?? ''));
    routes.set(prefix, hops);
  }
  return routes;
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );
}

export interface RunningRouter {
  kind: 'bird' | 'frr';
  ns: string;
  pid: number;
  /** Prefix -> next hops the router holds for one family. */
  routes(family: Family): Promise<Map<string, string[]>>;
  /** Names (BIRD) or neighbor addresses (FRR) of established sessions. */
  established(): Promise<string[]>;
  /** Starts originating the bulk routes (BIRD only). */
  enableBulk(): Promise<void>;
  /** Stops originating them again: BIRD withdraws them (BIRD only). */
  disableBulk(): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `; last error: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function collectOutput(child: ChildProcess): () => string {
  const lines: string[] = [];
  for (const s of [child.stdout, child.stderr]) {
    s?.setEncoding('utf8');
    s?.on('data', (d: string) => {
      lines.push(d);
      if (lines.length > 2000) lines.shift();
    });
  }
  return () => lines.join('');
}

/** Starts BIRD or FRR bgpd in `ns` with its files in `dir`; resolves when its control socket answers. */
export async function startRouter(kind: 'bird' | 'frr', ns: string, spec: RouterSpec, dir: string): Promise<RunningRouter> {
  fs.mkdirSync(dir, { recursive: true });
  if (kind === 'bird') {
    const conf = path.join(dir, 'bird.conf');
    const sock = path.join(dir, 'bird.ctl');
    fs.writeFileSync(conf, renderBirdConfig(spec));
    const child = startProcess('ip', ['netns', 'exec', ns, 'bird', '-f', '-c', conf, '-s', sock]);
    const output = collectOutput(child);
    const birdc = (...args: string[]) => run('birdc', ['-s', sock, ...args]);
    await waitFor('bird control socket', async () => (child.exitCode === null ? ((await birdc('show', 'status')), true) : undefined), 15_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}\nbird output:\n${output()}`);
      },
    );
    return {
      kind,
      ns,
      pid: child.pid!,
      output,
      routes: async (family) => parseBirdRoutes(await birdc('show', 'route', 'table', family === 'ipv4' ? 'master4' : 'master6')),
      established: async () =>
        (await birdc('show', 'protocols'))
          .split('\n')
          .filter((l) => /\sBGP\s/.test(l) && /Established/.test(l))
          .map((l) => l.split(/\s+/)[0]!),
      enableBulk: async () => {
        for (const f of spec.families) if (spec.bulk?.[f].length) await birdc('enable', `bulk_${f}`);
      },
      disableBulk: async () => {
        for (const f of spec.families) if (spec.bulk?.[f].length) await birdc('disable', `bulk_${f}`);
      },
      stop: () => stopProcess(child),
    };
  }
  const conf = path.join(dir, 'bgpd.conf');
  const vty = path.join(dir, 'vty');
  fs.mkdirSync(vty, { recursive: true });
  fs.writeFileSync(conf, renderFrrConfig(spec));
  const pidFile = path.join(dir, 'bgpd.pid');
  // -Z: no zebra; -S: skip kernel routes; -P 0: no vty TCP port.
  const args = ['-Z', '-S', '-f', conf, '-i', pidFile, '--vty_socket', vty, '-A', '127.0.0.1', '-P', '0', '-u', 'root', '-g', 'root'];
  const child = startProcess('ip', ['netns', 'exec', ns, '/usr/lib/frr/bgpd', ...args]);
  const output = collectOutput(child);
  const vtysh = (cmd: string) => run('vtysh', ['--vty_socket', vty, '-c', cmd]);
  await waitFor('frr vty socket', async () => (child.exitCode === null ? ((await vtysh('show bgp summary')), true) : undefined), 15_000).catch(
    (e: Error) => {
      throw new Error(`${e.message}\nbgpd output:\n${output()}`);
    },
  );
  return {
    kind,
    ns,
    pid: child.pid!,
    output,
    routes: async (family) => parseFrrRoutes(await vtysh(`show bgp ${family} unicast json`)),
    established: async () => {
      const out: string[] = [];
      for (const f of spec.families) {
        const doc = JSON.parse(await vtysh(`show bgp ${f} unicast summary json`)) as { peers?: Record<string, { state?: string }> };
        for (const [addr, p] of Object.entries(doc.peers ?? {})) if (p.state === 'Established') out.push(addr);
      }
      return out;
    },
    enableBulk: async () => {
      throw new Error('bulk routes are BIRD only');
    },
    disableBulk: async () => {
      throw new Error('bulk routes are BIRD only');
    },
    stop: () => stopProcess(child),
  };
}

// ---------------------------------------------------------------------------
// API server reachable from node namespaces

/** A minimal JSON request against the API server. */
export async function api<T = unknown>(base: string, method: string, urlPath: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${urlPath}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${urlPath}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const RELAY = `const net=require('net');const [sock,port]=process.argv.slice(1);
net.createServer((c)=>{const u=net.connect(sock);c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());})
.listen(Number(port),'127.0.0.1',()=>console.log('ready'));`;

/** Port every node namespace's relay listens on (its own loopback). */
export const API_RELAY_PORT = 6443;

/** Starts a relay in `ns`: 127.0.0.1:API_RELAY_PORT there -> the unix socket. */
export async function startRelay(ns: string, socketPath: string): Promise<ChildProcess> {
  const child = startProcess('ip', ['netns', 'exec', ns, process.execPath, '-e', RELAY, socketPath, String(API_RELAY_PORT)]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`API relay in ${ns} exited (${code})`)));
  });
  return child;
}

// ---------------------------------------------------------------------------
// A cluster of agents plus an external router

export interface ClusterOptions {
  /** Namespace tag (createNetns). */
  tag: string;
  mode: FamilyMode;
  nodes: number;
  router?: 'bird' | 'frr' | 'none';
  /** MD5 password on every router session (and in the nodes' peerRouters). */
  password?: string;
  /** Extra router config for nodes (merged into plugins.router). */
  routerConfig?: Record<string, unknown>;
  /** Annotations per node index (1-based). */
  annotations?: (i: number) => Record<string, string> | undefined;
  /** Bulk prefixes the router originates after enableBulk(). */
  bulk?: Record<Family, string[]>;
  /** Per-node peerRouters (default: the router per enabled family). */
  peerRouters?: boolean;
  logLevel?: 'debug' | 'info';
  /** Families of the underlay (node and router addresses); default: the pod families of `mode`. */
  underlay?: Family[];
  /** Further plugin sections of the nodes' config (e.g. `{ 'service-proxy': { enabled: true } }`). */
  plugins?: Record<string, unknown>;
}

export interface ClusterNode {
  index: number;
  name: string;
  ns: string;
  address: Partial<Record<Family, string>>;
  podCidrs: Record<Family, string[]>;
  socket: string;
  agent: AgentProcess;
}

export interface Cluster {
  families: Family[];
  dir: string;
  apiUrl: string;
  /** The scripted API server's store: objects created here reach the agents' informers. */
  store: Store;
  switchNs: string;
  routerNs: string;
  router?: RunningRouter;
  nodes: ClusterNode[];
  nodeObject(i: number, annotations?: Record<string, string>): Record<string, unknown>;
  createNode(obj: Record<string, unknown>): Promise<void>;
  deleteNode(name: string): Promise<void>;
  /** PID of a node's gobgpd (a child of the agent). */
  gobgpdPid(node: ClusterNode): number | undefined;
  stop(): Promise<void>;
}

/** The agent binary: dist/krouter (built by the caller's before hook). */
export interface AgentBinary {
  command: string;
  args: string[];
}

export async function startCluster(opts: ClusterOptions, agentBinary: AgentBinary): Promise<Cluster> {
  const families = familiesOf(opts.mode);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `krouter-${opts.tag}-`));
  const cleanups = new Cleanups();
  cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stop = () => cleanups.run();
  try {
    // API server in this process, a unix socket in front of it for the namespaces.
    const server = await startApiServer({ listen: [{ host: '127.0.0.1', port: 0 }] });
    cleanups.add(() => server.close());
    const apiUrl = server.url;
    const apiPort = Number(new URL(apiUrl).port);
    const apiSock = path.join(dir, 'api.sock');
    const relay = net.createServer((c) => {
      const u = net.connect(apiPort, '127.0.0.1');
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(apiSock, resolve));
    const sockets = new Set<net.Socket>();
    relay.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    cleanups.add(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          relay.close(() => resolve());
        }),
    );

    const switchNs = createNetns(`${opts.tag}sw`);
    cleanups.add(() => deleteNetns(switchNs));
    inNetns(switchNs, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    inNetns(switchNs, 'ip', ['link', 'set', 'br0', 'up']);
    const underlayFamilies = opts.underlay ?? families;
    const attach = (ns: string, port: string, i: number) => {
      linkNetns(ns, 'eth0', switchNs, port);
      inNetns(switchNs, 'ip', ['link', 'set', port, 'master', 'br0']);
      for (const f of underlayFamilies) addAddress(ns, 'eth0', `${underlay(i)[f]}/${UNDERLAY_PREFIX[f]}`);
    };

    const routerNs = createNetns(`${opts.tag}r`);
    cleanups.add(() => deleteNetns(routerNs));
    attach(routerNs, 'r0', ROUTER_INDEX);

    const routerAddr = underlay(ROUTER_INDEX);
    let router: RunningRouter | undefined;
    if (opts.router && opts.router !== 'none') {
      const sessions: RouterSession[] = [];
      for (let i = 1; i <= opts.nodes; i++) {
        for (const f of families) {
          sessions.push({
            name: `n${i}_${f}`,
            family: f,
            neighbor: underlay(i)[f],
            neighborAsn: CLUSTER_ASN,
            localAddress: routerAddr[f],
            password: opts.password,
          });
        }
      }
      const spec: RouterSpec = {
        routerId: routerAddr.ipv4,
        asn: ROUTER_ASN,
        families,
        sessions,
        originate: { ipv4: [ROUTER_PREFIX.ipv4, DEFAULT_ROUTE.ipv4], ipv6: [ROUTER_PREFIX.ipv6, DEFAULT_ROUTE.ipv6] },
        bulk: opts.bulk,
      };
      router = await startRouter(opts.router, routerNs, spec, path.join(dir, 'router'));
      const r = router;
      cleanups.add(() => r.stop());
    }

    const nodeObject = (i: number, annotations?: Record<string, string>) => {
      const addresses = underlayFamilies.map((f) => ({ type: 'InternalIP', address: underlay(i)[f] }));
      const cidrs = families.map((f) => podCidr(i)[f]);
      return {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: `node-${i}`, ...(annotations ? { annotations } : {}) },
        spec: { podCIDR: cidrs[0], podCIDRs: cidrs },
        status: { addresses, conditions: [{ type: 'Ready', status: 'True' }] },
      };
    };
    // The API server keeps the status given on create: the node appears with its addresses at once.
    const createNode = async (obj: Record<string, unknown>) => {
      await api(apiUrl, 'POST', '/api/v1/nodes', obj);
    };
    const deleteNode = async (name: string) => {
      await api(apiUrl, 'DELETE', `/api/v1/nodes/${name}`);
    };

    for (let i = 1; i <= opts.nodes; i++) await createNode(nodeObject(i, opts.annotations?.(i)));

    const nodes: ClusterNode[] = [];
    for (let i = 1; i <= opts.nodes; i++) {
      const ns = createNetns(`${opts.tag}${i}`);
      cleanups.add(() => deleteNetns(ns));
      attach(ns, `n${i}`, i);
      const relayChild = await startRelay(ns, apiSock);
      cleanups.add(() => stopProcess(relayChild));
      const nodeDir = path.join(dir, `node-${i}`);
      fs.mkdirSync(nodeDir, { recursive: true });
      const socket = path.join(nodeDir, 'gobgp.sock');
      const peerRouters =
        opts.router && opts.router !== 'none' && opts.peerRouters !== false
          ? families.map((f) => ({
              address: routerAddr[f],
              asn: ROUTER_ASN,
              ...(opts.password !== undefined ? { password: Buffer.from(opts.password).toString('base64') } : {}),
            }))
          : [];
      const config = writeConfig(
        {
          nodeName: `node-${i}`,
          families: opts.mode,
          log: { level: opts.logLevel ?? 'info' },
          kubernetes: { master: `http://127.0.0.1:${API_RELAY_PORT}` },
          metrics: { address: '127.0.0.1', port: 0 },
          health: { address: '127.0.0.1', port: 0 },
          gobgp: { socket },
          plugins: { router: { enabled: true, peerRouters, ...opts.routerConfig }, ...opts.plugins },
        },
        nodeDir,
      );
      const agent = await startAgent('ip', ['netns', 'exec', ns, agentBinary.command, ...agentBinary.args, 'run', '--config', config]);
      // gobgpd is the agent's child: stop the agent first (it stops gobgpd), then anything left by PID.
      // gobgpd runs in its own session and may outlive a killed agent: its pid file names it.
      cleanups.add(async () => {
        const children = descendants(agent.pid).map((d) => d.pid);
        const fromFile = gobgpdPidFromFile(socket);
        await stopProcess(agent.child, 10_000);
        for (const pid of [...children, ...(fromFile ? [fromFile] : [])]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      });
      const podCidrs: Record<Family, string[]> = { ipv4: [], ipv6: [] };
      for (const f of families) podCidrs[f] = [podCidr(i)[f]];
      const address: Partial<Record<Family, string>> = {};
      for (const f of families) address[f] = underlay(i)[f];
      nodes.push({ index: i, name: `node-${i}`, ns, address, podCidrs, socket, agent });
    }
    return {
      families,
      dir,
      apiUrl,
      store: server.store,
      switchNs,
      routerNs,
      router,
      nodes,
      nodeObject,
      createNode,
      deleteNode,
      gobgpdPid: (node) => descendants(node.agent.pid).find((d) => d.comm === 'gobgpd')?.pid ?? gobgpdPidFromFile(node.socket),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ---------------------------------------------------------------------------
// Reading a node's state

/** gobgpd's PID from `<socket>.pid` (first line), if the file is there. */
export function gobgpdPidFromFile(socket: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(`${socket}.pid`, 'utf8').split('\n')[0]!.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** `gobgp global rib -a FAMILY` of a node: prefix -> next hops; throws when the CLI fails. */
export async function gobgpRib(socket: string, family: Family): Promise<Map<string, string[]>> {
  const text = await run('gobgp', ['--target', `unix://${socket}`, 'global', 'rib', '-a', family]);
  const rib = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\*>?\s+(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    if (!rib.has(m[1]!)) rib.set(m[1]!, []);
    rib.get(m[1]!)!.push(m[2]!);
  }
  return rib;
}

/** Raw output of `gobgp global rib -a FAMILY` (to check it answers without error). */
export function gobgpRibText(socket: string, family: Family): Promise<string> {
  return run('gobgp', ['--target', `unix://${socket}`, 'global', 'rib', '-a', family]);
}

/** How many prefixes gobgpd's global RIB of a family holds (`gobgp global rib summary`): cheap to poll at 10k routes. */
export async function gobgpRibDestinations(socket: string, family: Family): Promise<number> {
  const text = await run('gobgp', ['--target', `unix://${socket}`, 'global', 'rib', 'summary', '-a', family]);
  const m = /Destination:\s*(\d+)/.exec(text);
  if (!m) throw new Error(`unexpected gobgp rib summary: ${text.trim()}`);
  return Number(m[1]);
}

/** Number of configured neighbors of a gobgpd. */
export async function gobgpNeighborCount(socket: string): Promise<number> {
  const text = await run('gobgp', ['--target', `unix://${socket}`, '-j', 'neighbor']);
  const doc = JSON.parse(text || '[]') as unknown[];
  return Array.isArray(doc) ? doc.length : 0;
}

/** Kernel routes of protocol 201 (krouter) in a namespace: prefix -> next hop. */
export async function kernelRoutes(ns: string, family: Family): Promise<Map<string, string>> {
  const text = await run('ip', ['-n', ns, '-j', family === 'ipv4' ? '-4' : '-6', 'route', 'show', 'proto', '201']);
  const routes = new Map<string, string>();
  for (const r of JSON.parse(text || '[]') as Array<{ dst: string; gateway?: string; via?: { family: string; host: string } }>) {
    const dst = r.dst === 'default' ? DEFAULT_ROUTE[family] : r.dst.includes('/') ? r.dst : `${r.dst}/${family === 'ipv4' ? 32 : 128}`;
    // An IPv4 route via an IPv6 next hop (RFC 8950) shows as `via: {family: inet6, host}`.
    routes.set(dst, r.gateway ?? (r.via ? `inet6 ${r.via.host}` : ''));
  }
  return routes;
}

/** Count of protocol-201 routes in a namespace (cheap enough to poll). */
export async function kernelRouteCount(ns: string, family: Family): Promise<number> {
  const text = await run('ip', ['-n', ns, family === 'ipv4' ? '-4' : '-6', 'route', 'show', 'proto', '201']);
  return text.split('\n').filter(Boolean).length;
}

export { waitFor };
