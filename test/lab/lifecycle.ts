/**
 * `lab up` and `lab down`. Up records every object in lab.json before making
 * it; down removes whatever lab.json (and the kubelets' pod records) lists,
 * so it works after a crash at any point and is idempotent.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { agentHealth, agentHealthUrl, gobgpdPid, missingPodRoutes, startAgent, writeNodeConfig } from './agents.ts';
import { apiAnswers, listNodes } from './api.ts';
import {
  BRIDGE,
  NETNS_PREFIX,
  POD_NETNS_PREFIX,
  apiServerUrl,
  nodeNetns,
  nodePaths,
  statePaths,
  type LabSpec,
} from './config.ts';
import { CommandError, deleteNetnsWithProcesses, linkExists, listNetns, run, spawnDetached, stopRecorded, tryRun } from './proc.ts';
import { routerPaths, routerProbeArgv, startRouter, validateRouterSpec } from './router/index.ts';
import { isRecordedAlive, loadLabState, newLabState, processStartTime, saveLabState, type LabState, type RecordedProcess } from './state.ts';
import { planTopology } from './topology.ts';

export type Log = (line: string) => void;

/** A failed step: what failed, why, and where to look. */
export class StepError extends Error {
  constructor(
    readonly step: string,
    reason: string,
    readonly logFile?: string,
  ) {
    super(`${step} failed: ${reason}${logFile ? `\n  log: ${logFile}` : ''}`);
    this.name = 'StepError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string | undefined, lines = 15): string {
  if (!file || !existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').trimEnd();
  if (!text) return `\n  (${file} is empty)`;
  return `\n  last lines of ${file}:\n    ${text.split('\n').slice(-lines).join('\n    ')}`;
}

/**
 * Polls `check` until true. Fails early when a watched process dies, and after
 * `limitMs` (a bound on waiting for a broken lab, not a performance target).
 */
async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  opts: { limitMs: number; process?: RecordedProcess; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.limitMs;
  for (;;) {
    if (await check()) return;
    if (opts.process && !isRecordedAlive(opts.process)) {
      throw new StepError(what, `${opts.process.name} (pid ${opts.process.pid}) exited${tail(opts.process.log)}`, opts.process.log);
    }
    if (Date.now() > deadline) {
      throw new StepError(what, `not done after ${Math.round(opts.limitMs / 1000)} s${tail(opts.process?.log)}`, opts.process?.log);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

/** Objects from a lab that may still exist on this machine (another state dir, or a crash without state). */
export function leftoverLabObjects(): string[] {
  const out: string[] = [];
  if (linkExists(BRIDGE)) out.push(`link ${BRIDGE}`);
  for (const ns of listNetns()) if (ns.startsWith(NETNS_PREFIX)) out.push(`namespace ${ns}`);
  return out;
}

export interface UpOptions {
  spec: LabSpec;
  log: Log;
}

export async function up({ spec, log }: UpOptions): Promise<LabState> {
  const stateDir = spec.stateDir;
  const existing = loadLabState(stateDir);
  if (existing) {
    throw new Error(
      `a lab is already up in ${stateDir} (${existing.spec.family}, ${existing.spec.nodes.length} nodes, phase ${existing.phase}); run \`npm run lab -- down\` first`,
    );
  }
  const leftovers = leftoverLabObjects();
  if (leftovers.length) {
    throw new Error(
      `lab objects already exist on this machine (${leftovers.join(', ')}), but ${stateDir} has no lab state: ` +
        'another lab is up with another KROUTER_LAB_DIR; run `npm run lab -- down` with that KROUTER_LAB_DIR',
    );
  }
  validateRouterSpec(spec);
  if (existsSync(stateDir) && readdirSync(stateDir).length > 0 && !existsSync(statePaths.marker(stateDir))) {
    throw new Error(`${stateDir} exists and is not a lab state directory; choose another KROUTER_LAB_DIR`);
  }

  const steps = 7;
  let n = 0;
  const step = (title: string) => log(`[${++n}/${steps}] ${title}`);

  // 1. The state file comes first: everything below is recorded in it before it is made.
  step(`state directory ${stateDir}`);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(statePaths.marker(stateDir), 'made by `npm run lab -- up`; removed by `npm run lab -- down`\n');
  mkdirSync(statePaths.logs(stateDir), { recursive: true });
  const state = newLabState(spec);
  // `up` itself, so a `down` started while it still runs stops it before anything else.
  const self: RecordedProcess = { name: 'lab up', pid: process.pid, startTime: processStartTime(process.pid) };
  state.processes.push(self);
  saveLabState(state);
  const started = Date.now();
  const upLog = statePaths.log(stateDir, 'up');

  try {
    // 2. The agent executable: built when missing or older than its sources.
    step(`agent executable ${spec.krouterBin}`);
    const why = process.env.KROUTER_BIN ? undefined : buildReason(spec);
    if (process.env.KROUTER_BIN && !existsSync(spec.krouterBin)) {
      throw new StepError('agent executable', `KROUTER_BIN=${spec.krouterBin} does not exist`);
    }
    if (why) {
      const buildLog = statePaths.log(stateDir, 'build');
      log(`    ${why}: running \`npm run build\` (output in ${buildLog})`);
      const r = spawnSync('npm', ['run', 'build'], { cwd: spec.repoRoot, encoding: 'utf8' });
      writeFileSync(buildLog, `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`);
      if (r.status !== 0 || !existsSync(spec.krouterBin)) {
        throw new StepError('npm run build', `exit ${r.status}${tail(buildLog, 10)}`, buildLog);
      }
    }

    // 3. Topology: bridge, namespaces, links, addresses, routes, sysctls.
    step(`topology: bridge ${BRIDGE}, router namespace, ${spec.nodes.length} node namespaces (${spec.family})`);
    for (const t of planTopology(spec)) {
      if (t.makes) {
        if (t.makes.kind === 'netns') state.namespaces.push(t.makes.name);
        else state.links.push(t.makes.name);
        saveLabState(state);
      }
      for (const argv of t.commands) {
        writeFileSync(upLog, `${argv.join(' ')}\n`, { flag: 'a' });
        try {
          run(argv);
        } catch (err) {
          writeFileSync(upLog, `  ${(err as Error).message}\n`, { flag: 'a' });
          throw new StepError(`topology: ${t.title}`, (err as Error).message, upLog);
        }
      }
      log(`    ${t.title}`);
    }

    // 4. The lab daemon: API server, controllers, kubelets.
    const apiUrl = apiServerUrl(spec);
    step(`lab daemon (API server ${apiUrl}, controllers, kubelets)`);
    writeKubeconfig(spec);
    const daemon = record(
      state,
      spawnDetached('daemon', [process.execPath, '--import', 'tsx', path.join(spec.repoRoot, 'test/lab/daemon.ts'), '--state', stateDir], {
        log: statePaths.log(stateDir, 'daemon'),
        cwd: spec.repoRoot,
      }),
    );
    await waitFor('lab API server', () => apiAnswers(apiUrl), { limitMs: 30_000, process: daemon });
    log(`    API server answers at ${apiUrl} (pid ${daemon.pid}, log ${daemon.log})`);

    // 5. One agent per node.
    step(`krouter agents (${spec.nodes.join(', ')})`);
    const agents = new Map<string, RecordedProcess>();
    for (const node of spec.nodes) {
      const config = writeNodeConfig(spec, node);
      const agent = record(state, startAgent(spec, node));
      agents.set(node, agent);
      log(`    ${node}: pid ${agent.pid}, config ${config}, log ${agent.log}`);
    }

    // 6. The external router.
    if (spec.router === 'none') {
      step('external router: none');
    } else {
      step(`external router (${spec.router}) in ${'krlab-router'}`);
      const router = record(state, startRouter(spec));
      const probe = routerProbeArgv(spec);
      await waitFor(`router ${spec.router}`, () => tryRun(probe) !== undefined, { limitMs: 20_000, process: router });
      log(`    pid ${router.pid}, config in ${routerPaths(spec).dir}, log ${router.log}`);
    }

    // 7. Wait for the cluster: nodes registered, every agent healthy.
    step(`waiting for nodes to register and agents to report healthy${spec.plugins.router ? ', and for pod routes' : ''}`);
    await waitFor(
      'node registration',
      async () => {
        const names = new Set((await listNodes(apiUrl).catch(() => [])).map((x) => x.metadata.name));
        return spec.nodes.every((x) => names.has(x));
      },
      { limitMs: 60_000, process: daemon },
    );
    log(`    nodes registered: ${spec.nodes.join(', ')}`);
    for (const node of spec.nodes) {
      const agent = agents.get(node)!;
      await waitFor(`agent ${node} health (${agentHealthUrl()} in ${nodeNetns(node)})`, () => agentHealth(node) === 200, {
        limitMs: 60_000,
        process: agent,
        intervalMs: 300,
      });
      log(`    ${node}: agent healthy`);
    }
    if (spec.plugins.router && spec.nodes.length > 1) {
      // gobgpd waits 5-10 s before dialing; wait so that `check` right after `up` sees a converged cluster.
      const nodes = await listNodes(apiUrl);
      const cidrsOf = (name: string) => {
        const n = nodes.find((x) => x.metadata.name === name);
        return n?.spec?.podCIDRs ?? (n?.spec?.podCIDR ? [n.spec.podCIDR] : []);
      };
      for (const node of spec.nodes) {
        const others = spec.nodes.filter((x) => x !== node).flatMap(cidrsOf);
        let missing: string[] = others;
        const agent = agents.get(node)!;
        const title = `pod routes on ${node} (router plugin)`;
        await waitFor(title, () => (missing = missingPodRoutes(node, others)).length === 0, { limitMs: 60_000, process: agent, intervalMs: 500 }).catch(
          (err: Error) => {
            if (!isRecordedAlive(agent)) throw err;
            throw new StepError(title, `after 60 s still no route to ${missing.join(', ')}`, agent.log);
          },
        );
      }
      log(`    pod routes: every node has a route to every other node's pod CIDRs`);
    }
    state.phase = 'up';
    state.processes = state.processes.filter((p) => p !== self);
    saveLabState(state);
    log(`    done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return state;
  } catch (err) {
    state.phase = 'failed';
    state.processes = state.processes.filter((p) => p !== self);
    saveLabState(state);
    if (err instanceof StepError) throw err;
    if (err instanceof CommandError) throw new StepError('lab up', err.message, upLog);
    throw err;
  }
}

/** Why dist/krouter must be built: missing, or a source file is newer (undefined = up to date). */
export function buildReason(spec: Pick<LabSpec, 'krouterBin' | 'repoRoot'>): string | undefined {
  if (!existsSync(spec.krouterBin)) return `${spec.krouterBin} is missing`;
  const built = statSync(spec.krouterBin).mtimeMs;
  const newer = (dir: string): string | undefined => {
    if (!existsSync(dir)) return undefined;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        const found = newer(full);
        if (found) return found;
      } else if (/\.(ts|json)$/.test(entry.name) && !entry.name.endsWith('.test.ts') && statSync(full).mtimeMs > built) {
        return full;
      }
    }
    return undefined;
  };
  for (const dir of ['core', 'plugins', 'sdk/src', 'build']) {
    const found = newer(path.join(spec.repoRoot, dir));
    if (found) return `${path.relative(spec.repoRoot, found)} is newer than ${path.relative(spec.repoRoot, spec.krouterBin)}`;
  }
  return undefined;
}

function record(state: LabState, p: RecordedProcess): RecordedProcess {
  state.processes.push(p);
  saveLabState(state);
  return p;
}

export function writeKubeconfig(spec: LabSpec): string {
  const file = statePaths.kubeconfig(spec.stateDir);
  const server = apiServerUrl(spec);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: krouter-lab',
      '  cluster:',
      `    server: ${server}`,
      'users:',
      '- name: krouter-lab',
      '  user: {}',
      'contexts:',
      '- name: krouter-lab',
      '  context: {cluster: krouter-lab, user: krouter-lab, namespace: default}',
      'current-context: krouter-lab',
      '',
    ].join('\n'),
  );
  return file;
}

/** Pod namespace names recorded by the kubelets anywhere under <state>/nodes/<node>/pods/ (file names or contents). */
export function recordedPodNetns(stateDir: string): string[] {
  const found = new Set<string>();
  const re = new RegExp(`${POD_NETNS_PREFIX}[0-9a-f]{8}`, 'g');
  const nodesDir = path.join(stateDir, 'nodes');
  const walk = (dir: string, depth: number) => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      for (const m of entry.matchAll(re)) found.add(m[0]);
      let st;
      try {
        st = statSync(full);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(full, depth + 1);
      else if (st.isFile() && st.size < 1_000_000) for (const m of readFileSync(full, 'utf8').matchAll(re)) found.add(m[0]);
    }
  };
  if (existsSync(nodesDir)) for (const node of readdirSync(nodesDir)) walk(path.join(nodesDir, node, 'pods'), 0);
  return [...found].sort();
}

export interface DownResult {
  found: boolean;
  stopped: string[];
  namespaces: string[];
  links: string[];
}

export async function down({ stateDir, log }: { stateDir: string; log: Log }): Promise<DownResult> {
  const result: DownResult = { found: false, stopped: [], namespaces: [], links: [] };
  const read = (): { state?: LabState; processes: RecordedProcess[] } => {
    let state: LabState | undefined;
    try {
      state = loadLabState(stateDir);
    } catch (err) {
      log(`warning: ${(err as Error).message}; removing what can be found`);
    }
    const processes: RecordedProcess[] = [...(state?.processes ?? [])];
    // The daemon writes its own PID file, in case `up` died before recording it.
    const pidFile = statePaths.daemonPid(stateDir);
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 1 && !processes.some((p) => p.pid === pid)) {
        processes.push({ name: 'daemon', pid, startTime: processStartTime(pid) });
      }
    }
    return { state, processes };
  };
  let { state, processes } = read();
  if (!state && processes.length === 0 && !existsSync(statePaths.marker(stateDir))) {
    const left = leftoverLabObjects();
    log(`no lab in ${stateDir}; nothing to do`);
    if (left.length) log(`note: lab objects exist (${left.join(', ')}): another lab is up with another KROUTER_LAB_DIR`);
    return result;
  }
  result.found = true;

  // A `lab up` still running would go on making things: stop it first, then read what it recorded.
  const ups = processes.filter((x) => x.name === 'lab up' && x.pid !== process.pid && isRecordedAlive(x));
  if (ups.length) {
    for (const p of ups) {
      log(`stopping the running \`lab up\` (${p.pid})`);
      await stopRecorded(p, 2000);
    }
    ({ state, processes } = read());
  }
  // Processes first (agents take their gobgpd with them), by PID, SIGTERM then SIGKILL.
  const alive = processes.filter((p) => p.name !== 'lab up' && isRecordedAlive(p));
  if (alive.length) log(`stopping ${alive.map((p) => `${p.name} (${p.pid})`).join(', ')}`);
  await Promise.all(alive.map((p) => stopRecorded(p, 4000)));
  result.stopped = alive.map((p) => p.name);

  // Namespaces: pods the kubelets recorded, then nodes and router. Whatever
  // still runs inside one of them is the lab's and is stopped first.
  const existing = new Set(listNetns());
  const namespaces = [...recordedPodNetns(stateDir), ...[...(state?.namespaces ?? [])].reverse()].filter(
    (ns, i, all) => ns.startsWith(NETNS_PREFIX) && existing.has(ns) && all.indexOf(ns) === i,
  );
  if (namespaces.length) log(`deleting namespaces ${namespaces.join(', ')}`);
  for (const ns of namespaces) await deleteNetnsWithProcesses(ns);
  result.namespaces = namespaces;

  // Root-namespace links (veth ends mostly went with their namespaces; the bridge did not).
  for (const link of [...(state?.links ?? [])].reverse()) {
    if (linkExists(link)) {
      tryRun(['ip', 'link', 'delete', link]);
      result.links.push(link);
    }
  }
  if (result.links.length) log(`deleting links ${result.links.join(', ')}`);

  // Only a directory `up` marked as its own is removed (KROUTER_LAB_DIR may point anywhere).
  if (existsSync(statePaths.marker(stateDir))) {
    rmSync(stateDir, { recursive: true, force: true });
    log(`removed ${stateDir}`);
  }
  return result;
}

/**
 * Stops a node's agent by its recorded PID (SIGTERM with a grace period, or
 * SIGKILL: an agent dying without cleaning up) and starts a new one with the
 * same config, recorded in lab.json in place of the old one; resolves when
 * the new agent's /healthz answers 200.
 */
export async function restartAgent(opts: { stateDir: string; node: string; signal: 'SIGTERM' | 'SIGKILL'; killGobgpd?: boolean; log: Log }): Promise<RecordedProcess> {
  const { stateDir, node, log } = opts;
  const state = loadLabState(stateDir);
  if (!state) throw new Error(`no lab in ${stateDir}`);
  const name = `agent ${node}`;
  const old = state.processes.find((p) => p.name === name);
  if (old && isRecordedAlive(old)) {
    log(`${name}: ${opts.signal} to pid ${old.pid}`);
    if (opts.signal === 'SIGKILL') {
      try {
        process.kill(old.pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
      while (isRecordedAlive(old)) await sleep(10);
    } else {
      await stopRecorded(old, 4000);
    }
  }
  if (opts.killGobgpd) {
    // gobgpd outlives its agent on purpose; this kills it too, as a crash of the whole node's BGP would.
    const pid = gobgpdPid(nodePaths(state.spec, node).gobgpSocket);
    if (pid === undefined) throw new Error(`${node}: no running gobgpd found for ${nodePaths(state.spec, node).gobgpSocket}`);
    log(`${node}: SIGKILL to gobgpd pid ${pid}`);
    const rec: RecordedProcess = { name: `gobgpd ${node}`, pid, startTime: processStartTime(pid) };
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    while (isRecordedAlive(rec)) await sleep(10);
  }
  const agent = startAgent(state.spec, node);
  state.processes = [...state.processes.filter((p) => p !== old), agent];
  saveLabState(state);
  log(`${name}: started pid ${agent.pid}, log ${agent.log}`);
  await waitFor(`${name} health (${agentHealthUrl()} in ${nodeNetns(node)})`, () => agentHealth(node) === 200, { limitMs: 60_000, process: agent, intervalMs: 100 });
  log(`${name}: healthy`);
  return agent;
}

