/**
 * `lab up` and `lab down`. Up records every object in lab.json before making
 * it; down removes whatever lab.json (and the kubelets' pod records) lists,
 * so it works after a crash at any point and is idempotent.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { agentHealth, agentHealthUrl, agentLogPath, agentPodReady, agentPodRecord, gobgpdPid, missingPodRoutes } from './agents.ts';
import { apiReady, listNodes } from './api.ts';
import {
  BRIDGE,
  LAB_OWNER_FILE,
  NETNS_PREFIX,
  POD_NETNS_PREFIX,
  apiServerUrl,
  nodeNetns,
  nodePaths,
  nodeRebootFiles,
  rootVethName,
  statePaths,
  type LabSpec,
} from './config.ts';
import { CommandError, deleteNetnsWithProcesses, linkExists, listNetns, netnsPids, processesNaming, run, spawnDetached, stopRecorded, tryRun } from './proc.ts';
import { routerPaths, routerProbeArgv, startRouter, validateRouterSpec } from './router/index.ts';
import { isRecordedAlive, loadLabState, newLabState, processStartTime, saveLabState, threadsGone, type LabState, type RecordedProcess } from './state.ts';
import { planNodeTopology, planTopology } from './topology.ts';
import { writeDeployment } from './deploy.ts';
import { controlPlaneCommands, type ComponentCommand } from './k8s/control-plane.ts';
import { controlPlaneSpec, ensureKubernetesBinaries, startComponents, writePki } from './k8s/start.ts';
import { removeMountTargets } from './kubelet/container.ts';
import { runKubectl } from './kubectl.ts';

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

/** Root-namespace links of a lab: the bridge and the nodes' and router's veth ends. */
function labRootLinks(): string[] {
  const vethPrefix = rootVethName('');
  const names = (tryRun(['ip', '-o', 'link', 'show']) ?? '')
    .split('\n')
    .map((line) => line.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter(Boolean);
  return names.filter((name) => name === BRIDGE || name.startsWith(vethPrefix));
}

function recordedOwner(): string | undefined {
  if (!existsSync(LAB_OWNER_FILE)) return undefined;
  return readFileSync(LAB_OWNER_FILE, 'utf8').trim() || undefined;
}

function forgetOwner(stateDir: string): void {
  if (recordedOwner() === stateDir) rmSync(LAB_OWNER_FILE, { force: true });
}

/**
 * What still runs of the lab whose objects are on this machine: the recorded
 * processes of its owner, processes naming its state directory, anything
 * inside a lab namespace. Empty means its runner was killed along with it.
 */
function livingLabProcesses(owner: string | undefined): string[] {
  const living = new Set<string>();
  if (owner) {
    let state: LabState | undefined;
    try {
      state = loadLabState(owner);
    } catch {
      /* unreadable: the namespaces and the command lines still tell */
    }
    for (const p of state?.processes ?? []) if (isRecordedAlive(p)) living.add(`${p.name} (${p.pid})`);
    for (const pid of processesNaming(owner)) living.add(`pid ${pid}`);
  }
  for (const ns of listNetns()) {
    if (ns.startsWith(NETNS_PREFIX)) for (const pid of netnsPids(ns)) living.add(`pid ${pid} in ${ns}`);
  }
  return [...living];
}

/**
 * Removes a lab nothing runs of any more (its runner was killed: a stopped CI
 * job, a closed terminal), so the next `up` does not trip over it. A lab with
 * a living process is left alone and named in the error.
 */
export async function removeDeadLab(log: Log): Promise<boolean> {
  const leftovers = leftoverLabObjects();
  if (!leftovers.length) return false;
  const owner = recordedOwner();
  const living = livingLabProcesses(owner);
  if (living.length) {
    const where = owner ? `KROUTER_LAB_DIR=${owner} ` : '';
    throw new Error(
      `another lab is up on this machine (${leftovers.join(', ')}; running: ${living.slice(0, 5).join(', ')}` +
        `${living.length > 5 ? ', …' : ''}): stop it with \`${where}npm run lab -- down\``,
    );
  }
  log(`removing a lab nothing runs of any more (${owner ? `state in ${owner}` : 'its state directory is unknown'}): ${leftovers.join(', ')}`);
  if (owner) await down({ stateDir: owner, log });
  // What no state file listed (its directory was deleted, or it predates the owner record).
  for (const ns of listNetns()) if (ns.startsWith(NETNS_PREFIX)) tryRun(['ip', 'netns', 'delete', ns]);
  for (const link of labRootLinks()) tryRun(['ip', 'link', 'delete', link]);
  if (owner) forgetOwner(owner);
  const left = leftoverLabObjects();
  if (left.length) throw new Error(`could not remove the dead lab's ${left.join(', ')}`);
  return true;
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
  await removeDeadLab(log);
  validateRouterSpec(spec);
  if (existsSync(stateDir) && readdirSync(stateDir).length > 0 && !existsSync(statePaths.marker(stateDir))) {
    throw new Error(`${stateDir} exists and is not a lab state directory; choose another KROUTER_LAB_DIR`);
  }

  const steps = 8;
  let n = 0;
  const upStart = Date.now();
  // Each step says when it started (seconds since `up` began), so slow steps stand out.
  const step = (title: string) => log(`[${++n}/${steps}] +${((Date.now() - upStart) / 1000).toFixed(1)} s ${title}`);

  // 1. The state file comes first: everything below is recorded in it before it is made.
  step(`state directory ${stateDir}`);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(statePaths.marker(stateDir), 'made by `npm run lab -- up`; removed by `npm run lab -- down`\n');
  writeFileSync(LAB_OWNER_FILE, `${stateDir}\n`);
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

    // Other tools' state on the nodes (`--node-setup`), made before anything of the cluster runs.
    if (spec.nodeSetup) {
      for (const node of spec.nodes) {
        const argv = ['ip', 'netns', 'exec', nodeNetns(node), 'sh', '-e', spec.nodeSetup, node];
        writeFileSync(upLog, `${argv.join(' ')}\n`, { flag: 'a' });
        try {
          run(argv);
        } catch (err) {
          throw new StepError(`node setup ${spec.nodeSetup} on ${node}`, (err as Error).message, upLog);
        }
      }
      log(`    node setup: ${spec.nodeSetup} run on ${spec.nodes.join(', ')}`);
    }

    // 4. The control plane: certificates, etcd, kube-apiserver, controller manager, scheduler, cluster DNS.
    step(`Kubernetes control plane (kube-apiserver ${apiServerUrl(spec)})`);
    const bins = ensureKubernetesBinaries(spec.repoRoot);
    state.k8sBinDir = bins.k8s;
    state.dnsBinDir = bins.dns;
    saveLabState(state);
    writePki(spec);
    const components = startComponents(spec, bins, (p) => record(state, p));
    await waitFor('kube-apiserver /readyz', () => apiReady(spec), { limitMs: 90_000, process: components.get('kube-apiserver'), intervalMs: 300 });
    for (const name of ['etcd', 'kube-controller-manager', 'kube-scheduler', 'coredns']) {
      if (!isRecordedAlive(components.get(name)!)) throw new StepError(name, `exited${tail(components.get(name)!.log)}`, components.get(name)!.log);
    }
    log(`    ${[...components].map(([name, p]) => `${name} (pid ${p.pid})`).join(', ')}; logs in ${statePaths.logs(stateDir)}`);

    // 5. The lab kubelets: register the nodes, run their pods.
    step(`lab kubelets (${spec.nodes.join(', ')})`);
    const daemon = record(
      state,
      spawnDetached('daemon', [process.execPath, '--import', 'tsx', path.join(spec.repoRoot, 'test/lab/daemon.ts'), '--state', stateDir], {
        log: statePaths.log(stateDir, 'daemon'),
        cwd: spec.repoRoot,
      }),
    );
    await waitFor(
      'node registration',
      async () => {
        const names = new Set((await listNodes(spec).catch(() => [])).map((x) => x.metadata.name));
        return spec.nodes.every((x) => names.has(x));
      },
      { limitMs: 60_000, process: daemon },
    );
    log(`    nodes registered: ${spec.nodes.join(', ')} (daemon pid ${daemon.pid}, log ${daemon.log})`);

    // 6. The agents: deploy/ applied with kubectl; the kubelets run the DaemonSet's pods.
    step('krouter agents: kubectl apply of deploy/ (RBAC, ConfigMap, DaemonSet)');
    const deployed = writeDeployment(spec);
    runKubectl(state, ['apply', '-f', deployed.manifest]);
    log(`    applied ${deployed.manifest} (config ${deployed.config})`);

    // 7. The external router.
    if (spec.router === 'none') {
      step('external router: none');
    } else {
      step(`external router (${spec.router}) in ${'krlab-router'}`);
      const router = record(state, startRouter(spec));
      const probe = routerProbeArgv(spec);
      await waitFor(`router ${spec.router}`, () => tryRun(probe) !== undefined, { limitMs: 20_000, process: router });
      log(`    pid ${router.pid}, config in ${routerPaths(spec).dir}, log ${router.log}`);
    }

    // 8. Wait for the cluster: every node's agent pod Ready (its /healthz answers).
    step(`waiting for the agents to report healthy${spec.plugins.router ? ', and for pod routes' : ''}`);
    for (const node of spec.nodes) {
      await waitFor(`agent pod on ${node} Ready (${agentHealthUrl()} in ${nodeNetns(node)})`, async () => (await agentPodReady(spec, node)) && agentHealth(node) === 200, {
        limitMs: 90_000,
        process: daemon,
        intervalMs: 300,
      }).catch((err: Error) => {
        throw new StepError(`agent on ${node}`, `${err.message}${tail(agentLogPath(spec, node))}`, agentLogPath(spec, node));
      });
      log(`    ${node}: agent healthy (log ${agentLogPath(spec, node)})`);
    }
    if (spec.plugins.router && spec.nodes.length > 1) {
      // gobgpd waits 5-10 s before dialing; wait so that `check` right after `up` sees a converged cluster.
      const nodes = await listNodes(spec);
      const cidrsOf = (name: string): string[] => {
        const n = nodes.find((x) => x.metadata.name === name);
        return n?.spec?.podCIDRs ?? (n?.spec?.podCIDR ? [n.spec.podCIDR] : []);
      };
      for (const node of spec.nodes) {
        const others = spec.nodes.filter((x) => x !== node).flatMap(cidrsOf);
        let missing: string[] = others;
        const title = `pod routes on ${node} (router plugin)`;
        await waitFor(title, () => (missing = missingPodRoutes(node, others)).length === 0, { limitMs: 60_000, process: daemon, intervalMs: 500 }).catch(() => {
          throw new StepError(title, `after 60 s still no route to ${missing.join(', ')}`, agentLogPath(spec, node));
        });
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

/** How long `down` lets a control-plane component or the router end on SIGTERM before SIGKILL. */
const DOWN_GRACE_MS = 500;

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
    // A lab left by a killed runner goes too; a living one under another KROUTER_LAB_DIR is named.
    if (recordedOwner() !== stateDir) {
      try {
        if (await removeDeadLab(log)) return { ...result, found: true };
      } catch (err) {
        log(`note: ${(err as Error).message}`);
      }
    }
    log(`no lab in ${stateDir}; nothing to do`);
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
  // Processes first, by PID, SIGTERM then SIGKILL: the kubelets' daemon (it
  // stops the pods it runs) before the control plane, so its last requests
  // still find an API server.
  // A process `up` started just before it was killed may be missing from lab.json: its command line names the state directory.
  for (const pid of processesNaming(stateDir)) {
    if (!processes.some((p) => p.pid === pid)) processes.push({ name: 'unrecorded', pid, startTime: processStartTime(pid) });
  }
  const alive = processes.filter((p) => p.name !== 'lab up' && isRecordedAlive(p));
  if (alive.length) log(`stopping ${alive.map((p) => `${p.name} (${p.pid})`).join(', ')}`);
  const daemons = alive.filter((p) => p.name === 'daemon');
  await Promise.all(daemons.map((p) => stopRecorded(p, 15_000)));
  // The rest (control plane, router) keeps no state beyond the lab: a short grace. The API server
  // spends ~4 s of a SIGTERM draining its watches, and etcd waits for it, in every lab's down.
  await Promise.all(alive.filter((p) => !daemons.includes(p)).map((p) => stopRecorded(p, DOWN_GRACE_MS)));
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

  // Mount targets the kubelets had to make on this machine (e.g. /etc/krouter), if still empty.
  const targets = removeMountTargets(stateDir);
  if (targets.length) log(`removed mount targets ${targets.join(', ')}`);

  forgetOwner(stateDir);
  // Only a directory `up` marked as its own is removed (KROUTER_LAB_DIR may point anywhere).
  if (existsSync(statePaths.marker(stateDir))) {
    rmSync(stateDir, { recursive: true, force: true });
    log(`removed ${stateDir}`);
  }
  return result;
}

/**
 * Stops a node's agent process (the krouter container of its DaemonSet pod)
 * by its PID, with SIGTERM (the container exits) or SIGKILL (a crash); the
 * lab kubelet starts it again as a kubelet restarts a container. With
 * `killGobgpd` the node's gobgpd (which outlives its agent on purpose) is
 * killed too. Resolves when the new process's /healthz answers 200.
 */
export async function restartAgent(opts: { stateDir: string; node: string; signal: 'SIGTERM' | 'SIGKILL'; killGobgpd?: boolean; log: Log }): Promise<RecordedProcess> {
  const { stateDir, node, log } = opts;
  const state = loadLabState(stateDir);
  if (!state) throw new Error(`no lab in ${stateDir}`);
  const spec = state.spec;
  const found = agentPodRecord(spec, node);
  if (!found) throw new Error(`${node}: no krouter agent pod runs there (lab kubelet records in ${nodePaths(spec, node).podsDir})`);
  const old: RecordedProcess = { name: `agent ${node}`, ...found.container };
  log(`agent ${node} (pod ${found.record.namespace}/${found.record.name}): ${opts.signal} to pid ${old.pid}`);
  // gobgpd (if asked) right after its agent is gone: before that, the agent would restart it,
  // and the kubelet's restart of the agent comes only after its back-off.
  const gobgpd = opts.killGobgpd ? gobgpdPid(nodePaths(spec, node).gobgpSocket) : undefined;
  if (opts.killGobgpd && gobgpd === undefined) throw new Error(`${node}: no running gobgpd found for ${nodePaths(spec, node).gobgpSocket}`);
  await endProcess(old, opts.signal, 4000);
  if (gobgpd !== undefined) {
    const rec: RecordedProcess = { name: `gobgpd ${node}`, pid: gobgpd, startTime: processStartTime(gobgpd) };
    log(`${node}: SIGKILL to gobgpd pid ${gobgpd}`);
    try {
      process.kill(gobgpd, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    while (isRecordedAlive(rec)) await sleep(10);
  }
  let next: RecordedProcess | undefined;
  await waitFor(
    `agent ${node} restarted by the kubelet and healthy (${agentHealthUrl()} in ${nodeNetns(node)})`,
    () => {
      const now = agentPodRecord(spec, node);
      if (!now || now.container.pid === old.pid || !isRecordedAlive(now.container)) return false;
      next = { name: `agent ${node}`, ...now.container };
      return agentHealth(node) === 200;
    },
    { limitMs: 60_000, intervalMs: 100 },
  );
  log(`agent ${node}: pid ${next!.pid} healthy (log ${next!.log})`);
  return next!;
}

/** SIGKILL (a crash: waits until it is gone) or a clean stop (SIGTERM, SIGKILL after `graceMs`). */
async function endProcess(p: RecordedProcess, signal: 'SIGTERM' | 'SIGKILL', graceMs: number): Promise<void> {
  if (signal === 'SIGTERM') await stopRecorded(p, graceMs);
  else {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  // Until every thread is gone: they hold the process's sockets (a restart would find its port in use).
  // A PID that now belongs to another process (start time differs) is ours no more.
  const ours = () => {
    const start = processStartTime(p.pid);
    return start === undefined || p.startTime === undefined || start === p.startTime;
  };
  const deadline = Date.now() + 60_000;
  while (isRecordedAlive(p) || (ours() && !threadsGone(p.pid))) {
    if (Date.now() > deadline) throw new Error(`${p.name} (pid ${p.pid}) did not exit within 60 s of ${signal}`);
    await sleep(10);
  }
}

export type ComponentName = ComponentCommand['name'];
export const COMPONENTS: readonly ComponentName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'coredns'];

/**
 * Stops one control-plane component by its recorded PID (SIGKILL, or
 * SIGTERM), keeps it down for `downMs`, then starts it again with the same
 * command line; for the API server, resolves once /readyz answers.
 */
export async function restartComponent(opts: { stateDir: string; name: ComponentName; signal: 'SIGTERM' | 'SIGKILL'; downMs: number; log: Log }): Promise<RecordedProcess> {
  const state = loadLabState(opts.stateDir);
  if (!state?.k8sBinDir) throw new Error(`no lab with a control plane in ${opts.stateDir}`);
  const old = state.processes.find((p) => p.name === opts.name);
  if (old && isRecordedAlive(old)) {
    opts.log(`${opts.name}: ${opts.signal} to pid ${old.pid}`);
    await endProcess(old, opts.signal, 10_000);
  }
  if (opts.downMs > 0) {
    opts.log(`${opts.name}: down for ${Math.round(opts.downMs / 1000)} s`);
    await sleep(opts.downMs);
  }
  const cmd = controlPlaneCommands(controlPlaneSpec(state.spec, { k8s: state.k8sBinDir, dns: state.dnsBinDir ?? '' })).find((c) => c.name === opts.name)!;
  const next = spawnDetached(cmd.name, cmd.argv, { log: statePaths.log(opts.stateDir, cmd.name) });
  state.processes = [...state.processes.filter((p) => p !== old), next];
  saveLabState(state);
  if (opts.name === 'kube-apiserver') {
    await waitFor('kube-apiserver /readyz', () => apiReady(state.spec), { limitMs: 90_000, process: next, intervalMs: 300 });
  }
  opts.log(`${opts.name}: started again, pid ${next.pid}`);
  return next;
}

/**
 * Reboots a node, as a machine losing power: its kubelet kills its pods
 * (the agent among them; SIGKILL, no SIGTERM) and ends; whatever still runs
 * in the node's namespace (gobgpd) is killed too; the namespace is deleted and made again
 * empty, with its link, addresses and default route, and the `--node-setup`
 * script run in it, as at boot; then a new kubelet starts the node's pods
 * again. Resolves once the new agent is healthy and, with the router
 * plugin, has routes to every other node's pod CIDRs.
 */
export async function rebootNode(opts: { stateDir: string; node: string; log: Log }): Promise<void> {
  const { stateDir, node, log } = opts;
  const state = loadLabState(stateDir);
  if (!state) throw new Error(`no lab in ${stateDir}`);
  const spec = state.spec;
  const daemon = state.processes.find((p) => p.name === 'daemon');
  if (!daemon || !isRecordedAlive(daemon)) throw new Error('the lab daemon (the kubelets) is not running');
  const files = nodeRebootFiles(spec, node);
  const ask = async (want: 'stop' | 'start', answer: string) => {
    rmSync(files.state, { force: true });
    writeFileSync(files.request, `${want}\n`);
    process.kill(daemon.pid, 'SIGUSR2');
    let got = '';
    await waitFor(`kubelet ${node}: ${want}`, () => (got = existsSync(files.state) ? readFileSync(files.state, 'utf8').trim() : '') !== '', {
      limitMs: 90_000,
      process: daemon,
      intervalMs: 100,
    });
    rmSync(files.state, { force: true });
    if (got !== answer) throw new StepError(`kubelet ${node}: ${want}`, got, statePaths.log(stateDir, 'daemon'));
  };

  const t0 = Date.now();
  const since = () => `+${((Date.now() - t0) / 1000).toFixed(1)} s`;
  await ask('stop', 'stopped');
  log(`${node}: kubelet and pods stopped (${since()})`);
  const ns = nodeNetns(node);
  const left: RecordedProcess[] = netnsPids(ns).map((pid) => ({ name: `in ${ns}`, pid, startTime: processStartTime(pid) }));
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  for (const p of left) {
    await waitFor(`${p.name}: pid ${p.pid} gone after SIGKILL`, () => !isRecordedAlive(p) && threadsGone(p.pid), { limitMs: 30_000, intervalMs: 10 });
  }
  tryRun(['ip', 'netns', 'delete', ns]);
  // The root end of the node's veth goes with the namespace, once the kernel has cleaned it up.
  const veth = rootVethName(node);
  await waitFor(`${veth} gone with ${ns}`, () => !linkExists(veth), { limitMs: 30_000, intervalMs: 50 });
  log(`${node}: namespace ${ns} deleted${left.length ? ` (killed ${left.length} processes still in it)` : ''} (${since()})`);
  // What a reboot clears: /run (gobgpd's socket and PID file). /etc and /var stay, as on disk.
  rmSync(path.join(nodePaths(spec, node).root, 'run'), { recursive: true, force: true });
  const upLog = statePaths.log(stateDir, 'up');
  for (const t of planNodeTopology(spec, node)) {
    for (const argv of t.commands) {
      writeFileSync(upLog, `${argv.join(' ')}\n`, { flag: 'a' });
      try {
        run(argv);
      } catch (err) {
        throw new StepError(`${node}: ${t.title}`, (err as Error).message, upLog);
      }
    }
  }
  if (spec.nodeSetup) run(['ip', 'netns', 'exec', ns, 'sh', '-e', spec.nodeSetup, node]);
  log(`${node}: namespace made again${spec.nodeSetup ? `, ${spec.nodeSetup} run` : ''} (${since()})`);
  await ask('start', 'started');
  log(`${node}: kubelet started (${since()})`);
  await waitFor(`agent on ${node} healthy`, async () => (await agentPodReady(spec, node)) && agentHealth(node) === 200, { limitMs: 90_000, process: daemon, intervalMs: 300 });
  if (spec.plugins.router && spec.nodes.length > 1) {
    const nodes = await listNodes(spec);
    const others = nodes.filter((n) => n.metadata.name !== node).flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []));
    await waitFor(`pod routes on ${node}`, () => missingPodRoutes(node, others).length === 0, { limitMs: 90_000, process: daemon, intervalMs: 300 });
  }
  log(`${node}: agent healthy${spec.plugins.router ? ', routes to every other node' : ''} (${since()})`);
}
