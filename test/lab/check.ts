/**
 * `lab check`: the connectivity matrix. Every Ready pod probes, from inside
 * its own namespace (through its test server's control socket), every other
 * pod over every enabled family with TCP and UDP on the pod's ports, its own
 * node (the agent's health port), and the external router's "internet"
 * address (egress; the router sees the node's address when pod egress is
 * masqueraded). Pure parts: planning probes, judging replies, the table.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tryFamilyOf, type Family } from '../../sdk/src/families.ts';
import { AGENT_HEALTH_PORT, families, nodeUnderlayByName, podNetnsName, ROUTER_NETNS, routerInternet, type LabSpec } from './config.ts';
import { listPods, listServices, podIPsByFamily, podReady } from './api.ts';
import { deployedAgentConfig } from './deploy.ts';
import type { Obj } from './kube.ts';
import { controlRequest } from './kubelet/control.ts';
import { podSocketPath } from './kubelet/runtime.ts';
import { podPorts } from './kubelet/pod.ts';

export type CrossNode = 'expect-ok' | 'expect-fail' | 'auto';
export type Result = 'ok' | 'FAIL' | 'expected-fail' | 'unexpected-ok';

export interface CheckRow {
  from: string;
  fromNode: string;
  /** `ns/name` of a pod, `node:<name>` or `router`. */
  to: string;
  toNode?: string;
  kind: 'same-node' | 'cross-node' | 'node' | 'egress' | 'service';
  family: Family;
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
  expected: boolean;
  result: Result;
  detail: string;
}

export interface CheckPod {
  key: string;
  name: string;
  node: string;
  ips: Partial<Record<Family, string>>;
  tcp: number[];
  udp: number[];
  socket: string;
}

/** A Service probed through its ClusterIPs: any of its backends may answer. */
export interface CheckService {
  /** `ns/name`. */
  key: string;
  clusterIPs: Partial<Record<Family, string>>;
  ports: Array<{ proto: 'tcp' | 'udp'; port: number }>;
  /** Names of the pods its selector picks. */
  backends: string[];
}

export interface PlannedProbe {
  row: Omit<CheckRow, 'result' | 'detail'>;
  probe: { host: string; port: number; proto: 'tcp' | 'udp'; timeoutMs: number; send?: string };
  /** What the reply must start with. */
  expectReply: string;
  /** Or: the reply's first word must be one of these (a service's backends). */
  expectOneOf?: string[];
  /** For egress: the source address the router must see (the node's: masqueraded). */
  expectSource?: string;
}

export const ROUTER_RESPONDER = { name: 'router', tcp: 18080, udp: 18081 };
/** What a probe of the agent's health port sends; the answer starts with `HTTP/`. */
export const HTTP_PROBE = 'GET /healthz HTTP/1.0\r\n\r\n';

/** The probes each pod runs. Pure. */
export function planProbes(
  spec: Pick<LabSpec, 'family' | 'nodes' | 'router'>,
  pods: readonly CheckPod[],
  crossNodeExpected: boolean,
  timeoutMs = 1500,
  services: { list: readonly CheckService[]; expected: boolean } = { list: [], expected: false },
): Map<string, PlannedProbe[]> {
  const fams = families(spec);
  const plan = new Map<string, PlannedProbe[]>();
  const internet = routerInternet(spec);
  for (const src of pods) {
    const list: PlannedProbe[] = [];
    const nodeIPs = nodeUnderlayByName(spec, src.node);
    for (const dst of pods) {
      if (dst.key === src.key) continue;
      const kind = dst.node === src.node ? 'same-node' : 'cross-node';
      const expected = kind === 'same-node' || crossNodeExpected;
      for (const family of fams) {
        const host = dst.ips[family];
        if (!host) continue;
        for (const [proto, ports] of [['tcp', dst.tcp], ['udp', dst.udp]] as const) {
          for (const port of ports) {
            list.push({
              row: { from: src.key, fromNode: src.node, to: dst.key, toNode: dst.node, kind, family, proto, host, port, expected },
              probe: { host, port, proto, timeoutMs: expected ? timeoutMs : Math.min(timeoutMs, 800) },
              expectReply: dst.name,
            });
          }
        }
      }
    }
    for (const family of fams) {
      const host = nodeIPs[family]!;
      list.push({
        row: { from: src.key, fromNode: src.node, to: `node:${src.node}`, toNode: src.node, kind: 'node', family, proto: 'tcp', host, port: AGENT_HEALTH_PORT, expected: true },
        probe: { host, port: AGENT_HEALTH_PORT, proto: 'tcp', timeoutMs, send: HTTP_PROBE },
        expectReply: 'HTTP/',
      });
      if (spec.router === 'none') continue;
      for (const [proto, port] of [['tcp', ROUTER_RESPONDER.tcp], ['udp', ROUTER_RESPONDER.udp]] as const) {
        list.push({
          row: { from: src.key, fromNode: src.node, to: 'router', kind: 'egress', family, proto, host: internet[family]!, port, expected: true },
          probe: { host: internet[family]!, port, proto, timeoutMs },
          expectReply: ROUTER_RESPONDER.name,
          expectSource: host,
        });
      }
    }
    for (const svc of services.list) {
      for (const family of fams) {
        const host = svc.clusterIPs[family];
        if (!host) continue;
        for (const { proto, port } of svc.ports) {
          list.push({
            row: { from: src.key, fromNode: src.node, to: `svc:${svc.key}`, kind: 'service', family, proto, host, port, expected: services.expected },
            probe: { host, port, proto, timeoutMs: services.expected ? timeoutMs : Math.min(timeoutMs, 800) },
            expectReply: '',
            expectOneOf: svc.backends,
          });
        }
      }
    }
    plan.set(src.key, list);
  }
  return plan;
}

/** Judges one probe's answer. Pure. */
export function judge(p: PlannedProbe, answer: { ok: boolean; reply?: string; error?: string }): CheckRow {
  let works = false;
  let detail: string;
  if (!answer.ok) detail = answer.error ?? 'failed';
  else {
    const reply = (answer.reply ?? '').trim();
    if (!reply.startsWith(p.expectReply) || (p.expectOneOf && !p.expectOneOf.includes(reply.split(/\s+/)[0]!))) detail = `unexpected reply ${JSON.stringify(reply.slice(0, 60))}`;
    else if (p.expectSource !== undefined) {
      const seen = reply.split(/\s+/)[1];
      works = seen === p.expectSource;
      detail = works ? `router saw ${seen} (masqueraded)` : `router saw ${seen}, not the node address ${p.expectSource} (not masqueraded)`;
    } else {
      works = true;
      detail = reply.split('\n')[0]!.slice(0, 60);
    }
  }
  const result: Result = p.row.expected ? (works ? 'ok' : 'FAIL') : works ? 'unexpected-ok' : 'expected-fail';
  return { ...p.row, result, detail };
}

const CELL: Record<Result, string> = { ok: 'ok', FAIL: 'FAIL', 'expected-fail': 'x', 'unexpected-ok': 'ok*' };

/** One cell for all rows of a (from, to) pair: the worst result wins. Pure. */
export function cellOf(rows: readonly CheckRow[]): string {
  if (rows.length === 0) return '-';
  for (const r of ['FAIL', 'expected-fail', 'unexpected-ok', 'ok'] as Result[]) if (rows.some((x) => x.result === r)) return CELL[r];
  return '?';
}

/** The printed matrix: rows = from pod, columns = other pods, own node, router. Pure. */
export function renderTable(spec: Pick<LabSpec, 'family' | 'router'>, pods: readonly CheckPod[], rows: readonly CheckRow[], notes: string[], services: readonly CheckService[] = []): string {
  const cols = [
    ...pods.map((p) => ({ id: p.key, title: p.name })),
    { id: 'node', title: 'own node' },
    ...(spec.router === 'none' ? [] : [{ id: 'router', title: 'router' }]),
    ...services.map((s) => ({ id: `svc:${s.key}`, title: `svc ${s.key}` })),
  ];
  const header = ['from \\ to', ...cols.map((c) => c.title)];
  const lines = [header];
  for (const src of pods) {
    const mine = rows.filter((r) => r.from === src.key);
    lines.push([
      `${src.name} (${src.node})`,
      ...cols.map((c) => (c.id === 'node' ? cellOf(mine.filter((r) => r.kind === 'node')) : c.id === 'router' ? cellOf(mine.filter((r) => r.kind === 'egress')) : c.id === src.key ? '-' : cellOf(mine.filter((r) => r.to === c.id)))),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const out = lines.map((l) => l.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  out.push('');
  out.push(`each cell: ${families(spec).join(' + ')} x TCP + UDP on the target's ports (own node: TCP ${AGENT_HEALTH_PORT}, the agent's health port${spec.router === 'none' ? '' : `; router: TCP ${ROUTER_RESPONDER.tcp} + UDP ${ROUTER_RESPONDER.udp} on its internet address, source must be the node's (masqueraded)`}${services.length ? '; svc: each ClusterIP of the service on its ports, answered by one of its pods' : ''})`);
  out.push('ok = works; FAIL = expected to work and does not; x = expected to fail; ok* = works although expected to fail');
  for (const n of notes) out.push(n);
  const failed = rows.filter((r) => r.result === 'FAIL');
  if (failed.length) {
    out.push('');
    out.push('failures:');
    for (const r of failed) out.push(`  ${r.from} -> ${r.to} ${r.family}/${r.proto} ${r.host} port ${r.port}: ${r.detail}`);
  }
  return out.join('\n');
}

/** Whether the agents run the service proxy, from the config the lab deployed. */
export function serviceProxyOnAgents(spec: LabSpec): boolean {
  const cfg = deployedAgentConfig(spec);
  if (!cfg) return spec.plugins?.serviceProxy ?? false;
  return cfg.plugins?.['service-proxy']?.enabled === true;
}

/** Services with a selector and ClusterIPs, with the names of the pods they select. Pure. */
export function checkServices(services: readonly Obj[], pods: readonly Obj[]): CheckService[] {
  const out: CheckService[] = [];
  for (const s of services) {
    const selector = s.spec?.selector as Record<string, string> | undefined;
    const ips = (s.spec?.clusterIPs ?? []) as string[];
    if (!selector || !Object.keys(selector).length || ips.length === 0 || ips[0] === 'None') continue;
    const clusterIPs: Partial<Record<Family, string>> = {};
    for (const ip of ips) {
      const f = tryFamilyOf(ip);
      if (f) clusterIPs[f] = ip;
    }
    const ports = ((s.spec?.ports ?? []) as Array<{ port: number; protocol?: string }>)
      .filter((p) => (p.protocol ?? 'TCP') !== 'SCTP')
      .map((p) => ({ proto: (p.protocol ?? 'TCP').toLowerCase() as 'tcp' | 'udp', port: p.port }));
    const backends = pods
      .filter((p) => p.metadata.namespace === s.metadata.namespace && Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v))
      .map((p) => p.metadata.name);
    out.push({ key: `${s.metadata.namespace}/${s.metadata.name}`, clusterIPs, ports, backends });
  }
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

/** Whether the agents run the router plugin (cross-node pod routes), from the config the lab deployed. */
export function routerEnabledOnAgents(spec: LabSpec): boolean {
  const cfg = deployedAgentConfig(spec);
  if (!cfg) return spec.plugins?.router ?? false;
  return cfg.plugins?.router?.enabled === true;
}

/** Runs the test server in the router namespace for the egress probes; it leaves with this process. */
export async function startRouterResponder(spec: LabSpec): Promise<() => void> {
  const bind = Object.values(routerInternet(spec)).flatMap((a) => ['--bind', a]);
  const server = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pod-server.mjs');
  const child = spawn('ip', ['netns', 'exec', ROUTER_NETNS, process.execPath, server, '--name', ROUTER_RESPONDER.name, '--tcp', String(ROUTER_RESPONDER.tcp), '--udp', String(ROUTER_RESPONDER.udp), '--echo-source', ...bind, '--parent-pid', String(process.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`router responder exited (${code}): ${err.trim()}`)));
  });
  return () => child.kill('SIGTERM');
}

/**
 * Runs probes from inside one pod (through its test server's control socket)
 * and judges the answers; an unreachable test server fails every probe.
 */
export async function probeFromPod(socket: string, probes: readonly PlannedProbe[]): Promise<CheckRow[]> {
  let answers: Array<{ ok: boolean; reply?: string; error?: string }>;
  try {
    answers = (await controlRequest(socket, { probes: probes.map((p) => p.probe) }, 30_000)).results;
  } catch (e) {
    answers = probes.map(() => ({ ok: false, error: `pod test server unreachable: ${(e as Error).message}` }));
  }
  return probes.map((p, i) => judge(p, answers[i] ?? { ok: false, error: 'no answer' }));
}

export async function runCheck(opts: { spec: LabSpec; crossNode: CrossNode }): Promise<{ ok: boolean; rows: CheckRow[]; table: string }> {
  const { spec } = opts;
  // Pods on the pod network (hostNetwork pods, such as the agents, are the nodes themselves).
  const all = (await listPods(spec)).filter((p: Obj) => spec.nodes.includes(p.spec?.nodeName) && !p.spec?.hostNetwork).sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const notes: string[] = [];
  const notReady = all.filter((p) => !podReady(p as never) || p.metadata.deletionTimestamp);
  const pods: CheckPod[] = all
    .filter((p) => !notReady.includes(p))
    .map((p) => ({
      key: `${p.metadata.namespace}/${p.metadata.name}`,
      name: p.metadata.name,
      node: p.spec.nodeName,
      ips: podIPsByFamily(p as never),
      ...podPorts(p as never),
      socket: podSocketPath(spec, podNetnsName(p.metadata.namespace!, p.metadata.name)),
    }));
  if (notReady.length) notes.push(`not Ready, not checked (counts as a failure): ${notReady.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ')}`);

  const crossExpected = opts.crossNode === 'expect-ok' || (opts.crossNode === 'auto' && routerEnabledOnAgents(spec));
  if (!crossExpected && spec.nodes.length > 1) {
    notes.push(`x: cross-node pod traffic is expected to fail: it needs the router plugin (plugins.router.enabled) on the agents, which ${opts.crossNode === 'auto' ? 'is not enabled' : 'was not asked for (--cross-node expect-fail)'}`);
  }
  if (spec.router === 'none') notes.push('no external router (--router none): egress is not checked');

  // Services of the checked pods' namespaces, probed through their ClusterIPs when the proxy runs.
  const services = checkServices(await listServices(spec, [...new Set(all.map((p) => p.metadata.namespace!))]), all);
  const proxied = serviceProxyOnAgents(spec);
  if (services.length && !proxied) notes.push('x: services are expected to fail: the agents do not run the service-proxy plugin');
  const plan = planProbes(spec, pods, crossExpected, 1500, { list: services, expected: proxied });
  const stopResponder = spec.router === 'none' || pods.length === 0 ? () => undefined : await startRouterResponder(spec);
  const rows: CheckRow[] = [];
  try {
    const run = (src: CheckPod, probes: PlannedProbe[]): Promise<CheckRow[]> => probeFromPod(src.socket, probes);
    const first = await Promise.all(pods.map((src) => run(src, plan.get(src.key) ?? [])));
    // A second try for expected paths that failed: the first packet may have
    // raced neighbour discovery. Failures that remain are real.
    const second = await Promise.all(
      pods.map(async (src, i) => {
        const retry = (plan.get(src.key) ?? []).filter((_, j) => first[i]![j]!.result === 'FAIL');
        const again = retry.length ? await run(src, retry) : [];
        let k = 0;
        return first[i]!.map((r) => (r.result === 'FAIL' ? again[k++]! : r));
      }),
    );
    for (const list of second) rows.push(...list);
  } finally {
    stopResponder();
  }
  const ok = notReady.length === 0 && rows.every((r) => r.result !== 'FAIL');
  return { ok, rows, table: renderTable(spec, pods, rows, notes, services) };
}
