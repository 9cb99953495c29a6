/**
 * The lab's command line: `npm run lab -- <command>`. Every command finds the
 * lab through its state directory ($KROUTER_LAB_DIR or /run/krouter-lab).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  ROUTER_NETNS,
  apiServerUrl,
  defaultStateDir,
  nodeNames,
  nodeNetns,
  parseLoadBalancerConfig,
  parseNodeAnnotations,
  parsePluginConfig,
  parseRouterConfig,
  podNetnsName,
  statePaths,
  type LabFamily,
  type LabRouter,
  type LabSpec,
} from './config.ts';
import { kubectlCommand } from './kubectl.ts';
import { COMPONENTS, down, rebootNode, restartAgent, restartComponent, StepError, up, type ComponentName } from './lifecycle.ts';
import { listNetns } from './proc.ts';
import { routerControlArgv } from './router/index.ts';
import { loadLabState, type LabState } from './state.ts';
import { statusLines } from './status.ts';
import { SPEC_SET_NAMES, type SpecSetName } from './upstream-e2e/plan.ts';
import type { Summary } from './upstream-e2e/report.ts';

// Imported by name at run time: the module belongs to the cluster side of the lab.
const CHECK_MODULE = './check.ts';
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const say = (line: string) => process.stdout.write(`${line}\n`);

class UsageError extends Error {}

function requireLab(): LabState {
  const stateDir = defaultStateDir();
  const state = loadLabState(stateDir);
  if (!state) throw new UsageError(`no lab in ${stateDir}; start one with \`npm run lab -- up\` (or set KROUTER_LAB_DIR)`);
  return state;
}

/** Runs a command with the terminal attached and exits with its code. */
function runAttached(argv: string[], env?: NodeJS.ProcessEnv): never {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { stdio: 'inherit', env: env ?? process.env });
  if (r.error) {
    process.stderr.write(`${cmd}: ${r.error.message}\n`);
    process.exit(127);
  }
  process.exit(r.status ?? 1);
}

/** Built-in plugins compiled into krouter (core/host/builtins.ts), so the lab enables the ones that exist. */
function builtinPlugins(): Set<string> {
  const file = path.join(repoRoot, 'core', 'host', 'builtins.ts');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const found = new Set<string>();
  for (const m of text.matchAll(/plugins\/([a-z0-9-]+)\//g)) found.add(m[1]!);
  return found;
}

/** Built-in plugins a lab runs only when asked (`--plugins`, `--loadbalancer-config`): cluster-wide work, off by default as in kube-router. */
const OPT_IN_PLUGINS = ['loadbalancer'];

export function parsePlugins(list: string | undefined, opts: { loadbalancer?: boolean } = {}): LabSpec['plugins'] {
  const names = list === undefined ? new Set([...builtinPlugins()].filter((n) => !OPT_IN_PLUGINS.includes(n))) : new Set(list.split(',').map((s) => s.trim()).filter(Boolean));
  const known = ['cni', 'router', 'service-proxy', 'firewall', 'loadbalancer'];
  for (const n of names) if (!known.includes(n)) throw new UsageError(`--plugins: unknown plugin ${JSON.stringify(n)} (known: ${known.join(', ')})`);
  if (opts.loadbalancer) names.add('loadbalancer');
  return { cni: names.has('cni'), router: names.has('router'), serviceProxy: names.has('service-proxy'), firewall: names.has('firewall'), loadbalancer: names.has('loadbalancer') };
}

export interface UpFlags {
  family: LabFamily;
  nodes: number;
  router: LabRouter;
  routerKernelRoutes?: boolean;
  plugins?: string;
  /** JSON object merged over the lab's plugins.router section. */
  routerConfig?: string;
  /** JSON object merged over the lab's plugins.loadbalancer section (runs the plugin). */
  loadbalancerConfig?: string;
  /** JSON object of plugin sections merged over the lab's. */
  pluginConfig?: string;
  /** A shell script run in each node's namespace before anything starts. */
  nodeSetup?: string;
  /** `NODE:KEY=VALUE`, repeatable. */
  nodeAnnotation?: string[];
  /** Configure the agents with kube-router's flags only (no krouter config file). */
  kubeRouterArgs?: boolean;
}

export function specFromFlags(flags: UpFlags): LabSpec {
  const nodes = nodeNames(flags.nodes);
  const routerConfig = parseRouterConfig(flags.routerConfig);
  const loadBalancerConfig = parseLoadBalancerConfig(flags.loadbalancerConfig);
  const nodeAnnotations = parseNodeAnnotations(flags.nodeAnnotation, nodes);
  const pluginConfig = parsePluginConfig(flags.pluginConfig);
  if (flags.kubeRouterArgs && pluginConfig) throw new UsageError('--plugin-config: config keys cannot be given with --kube-router-args (the agents have no config file)');
  const nodeSetup = flags.nodeSetup === undefined ? undefined : path.resolve(flags.nodeSetup);
  if (nodeSetup && !existsSync(nodeSetup)) throw new UsageError(`--node-setup: ${nodeSetup} does not exist`);
  if (flags.kubeRouterArgs && routerConfig) throw new UsageError('--router-config: config keys cannot be given with --kube-router-args (the agents have no config file)');
  if (flags.kubeRouterArgs && loadBalancerConfig) throw new UsageError('--loadbalancer-config: config keys cannot be given with --kube-router-args (the agents have no config file; --plugins ...,loadbalancer runs it with --run-loadbalancer)');
  return {
    family: flags.family,
    nodes,
    router: flags.router,
    stateDir: defaultStateDir(),
    repoRoot,
    krouterBin: path.resolve(process.env.KROUTER_BIN || path.join(repoRoot, 'dist', 'krouter')),
    plugins: parsePlugins(flags.plugins, { loadbalancer: loadBalancerConfig !== undefined }),
    routerKernelRoutes: !!flags.routerKernelRoutes,
    ...(routerConfig ? { routerConfig } : {}),
    ...(loadBalancerConfig ? { loadBalancerConfig } : {}),
    ...(nodeAnnotations ? { nodeAnnotations } : {}),
    ...(pluginConfig ? { pluginConfig } : {}),
    ...(nodeSetup ? { nodeSetup } : {}),
    ...(flags.kubeRouterArgs ? { kubeRouterArgs: true } : {}),
  };
}

function usageText(state: LabState): string[] {
  const spec = state.spec;
  const n1 = spec.nodes[0]!;
  const lines = [
    '',
    `The lab is up: ${spec.family}, ${spec.nodes.length} nodes (${spec.nodes.join(', ')}), router ${spec.router}.`,
    `  API server        ${apiServerUrl(spec)}   (kubeconfig ${statePaths.kubeconfig(spec.stateDir)})`,
    `  logs              ${statePaths.logs(spec.stateDir)}/`,
    '',
    'Use it:',
  ];
  const row = (cmd: string, what: string) => lines.push(`  ${`npm run lab -- ${cmd}`.padEnd(48)}${what}`);
  row('status', 'nodes, pod CIDRs, agents, BGP sessions');
  row('kubectl get nodes -o wide', 'kubectl against the lab');
  row('kubectl get pods -A -o wide', '');
  row(`exec-node ${n1} -- ip route`, "a command in a node's namespace");
  row('exec default/POD -- ip addr', "a command in a pod's namespace");
  if (spec.router === 'bird') row('router -- show protocols', 'birdc against the external router');
  if (spec.router === 'frr') row('router -- show bgp summary', 'vtysh against the external router');
  row('check', 'pod-to-pod connectivity matrix');
  row('down', 'remove everything');
  lines.push(`  (or: KUBECONFIG=${statePaths.kubeconfig(spec.stateDir)} kubectl ...)`);
  return lines;
}

async function cmdUp(flags: UpFlags): Promise<LabState> {
  const spec = specFromFlags(flags);
  say(`lab up: ${spec.family}, ${spec.nodes.length} nodes, router ${spec.router}, plugins ${Object.entries(spec.plugins).filter(([, v]) => v).map(([k]) => k).join(', ') || 'none'}`);
  const interrupted = (sig: NodeJS.Signals) => {
    process.stderr.write(`lab up: interrupted (${sig}); remove what was made with \`npm run lab -- down\`\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  const state = await up({ spec, log: say });
  process.off('SIGINT', interrupted);
  for (const l of usageText(state)) say(l);
  return state;
}

async function cmdDown(): Promise<void> {
  await down({ stateDir: defaultStateDir(), log: say });
}

/** Commander keeps a `--` separator in pass-through arguments; the command starts after it. */
function afterDashDash(args: string[]): string[] {
  return args[0] === '--' ? args.slice(1) : args;
}

function splitPod(ref: string): { namespace: string; name: string } {
  const parts = ref.split('/');
  if (parts.length === 1) return { namespace: 'default', name: parts[0]! };
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  throw new UsageError(`pod ${JSON.stringify(ref)}: expected NAME or NAMESPACE/NAME`);
}

async function cmdCheck(opts: { json?: boolean; crossNode: 'expect-ok' | 'expect-fail' | 'auto' }, state = requireLab()): Promise<boolean> {
  const { runCheck } = (await import(CHECK_MODULE)) as {
    runCheck(o: { spec: LabSpec; crossNode: 'expect-ok' | 'expect-fail' | 'auto' }): Promise<{ ok: boolean; rows: unknown[]; table: string }>;
  };
  const result = await runCheck({ spec: state.spec, crossNode: opts.crossNode });
  if (opts.json) say(JSON.stringify({ ok: result.ok, rows: result.rows }, null, 2));
  else say(result.table);
  return result.ok;
}

async function cmdUpstreamE2e(opts: { focus?: string; sets?: string; reportDir?: string; procs?: number; quiet?: boolean }): Promise<boolean> {
  const state = requireLab();
  const sets = opts.sets?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
  for (const s of sets) if (!(SPEC_SET_NAMES as string[]).includes(s)) throw new UsageError(`--sets: unknown set ${JSON.stringify(s)} (known: ${SPEC_SET_NAMES.join(', ')})`);
  if (opts.focus !== undefined) {
    try {
      new RegExp(opts.focus);
    } catch (e) {
      throw new UsageError(`--focus: not a regular expression: ${(e as Error).message}`);
    }
  }
  const { runUpstreamE2e } = await import('./upstream-e2e/run.ts');
  const { summaryLines } = await import('./upstream-e2e/report.ts');
  const result = await runUpstreamE2e(state, {
    ...(opts.focus !== undefined ? { focus: opts.focus } : {}),
    sets: sets as SpecSetName[],
    ...(opts.reportDir ? { reportDir: path.resolve(opts.reportDir) } : {}),
    ...(opts.procs ? { procs: opts.procs } : {}),
    log: say,
    ...(opts.quiet ? {} : { echo: (chunk: string) => process.stdout.write(chunk) }),
  });
  say('');
  for (const line of summaryLines(result.summary, `upstream e2e (${state.spec.family})`)) say(line);
  say(`report: ${result.reportFile}`);
  return result.summary.counts.failed === 0 && !result.summary.suiteFailure && result.summary.results.length > 0;
}

/** `MODE=REPORT.json ...` (several reports of one mode merge) -> the Markdown table of every spec's outcome per mode. */
async function cmdUpstreamE2eTable(runs: string[]): Promise<boolean> {
  const { summarize } = await import('./upstream-e2e/report.ts');
  const { runPlan } = await import('./upstream-e2e/plan.ts');
  const { mergeSummaries, resultsTable } = await import('./upstream-e2e/table.ts');
  const byMode = new Map<LabFamily, Summary[]>();
  for (const arg of runs) {
    const m = /^(ipv4|ipv6|dual)=(.+)$/.exec(arg);
    if (!m) throw new UsageError(`${JSON.stringify(arg)}: expected MODE=REPORT.json (MODE: ipv4, ipv6 or dual)`);
    const mode = m[1] as LabFamily;
    let json: string;
    try {
      json = readFileSync(m[2]!, 'utf8');
    } catch (e) {
      throw new UsageError(`${m[2]}: ${(e as Error).message}`);
    }
    const plan = runPlan(mode);
    byMode.set(mode, [...(byMode.get(mode) ?? []), summarize(json, plan.focus, plan.skips)]);
  }
  const modeRuns = [...byMode].map(([mode, summaries]) => ({ mode, summary: mergeSummaries(summaries) }));
  say(resultsTable(modeRuns));
  return true;
}

async function cmdDemo(): Promise<boolean> {
  const stateDir = defaultStateDir();
  if (loadLabState(stateDir) || existsSync(statePaths.marker(stateDir))) {
    say('a lab is already up: taking it down first');
    await cmdDown();
  }
  const state = await cmdUp({ family: 'dual', nodes: 3, router: 'bird' });
  const { runDemoWorkloads } = await import('./demo.ts');
  const pods = await runDemoWorkloads(state, say);
  say('');
  say('Connectivity matrix:');
  const ok = await cmdCheck({ crossNode: 'auto' }, state);
  say('');
  say(ok ? 'check: every expected path works.' : 'check: some expected paths FAILED (see the matrix above).');
  const first = pods[0] ?? 'default/POD';
  const ns = first.split('/')[0];
  say('Explore:');
  say(`  npm run lab -- kubectl get pods -n ${ns} -o wide`);
  say(`  npm run lab -- exec ${first} -- ip addr`);
  say('  npm run lab -- status');
  say('  npm run lab -- router -- show route');
  say('Tear down: npm run lab -- down');
  return ok;
}

export function buildProgram(): Command {
  const program = new Command('lab')
    .description('a multi-node Kubernetes lab in network namespaces, for krouter')
    .enablePositionalOptions()
    .showHelpAfterError();

  const positiveInt = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
    return n;
  };

  program
    .command('up')
    .description('bring the lab up (refuses when one is up)')
    .addOption(new Option('--family <mode>', 'address families').choices(['ipv4', 'ipv6', 'dual']).default('dual'))
    .addOption(new Option('--nodes <n>', 'number of nodes').argParser(positiveInt).default(3))
    .addOption(new Option('--router <kind>', 'external BGP router').choices(['bird', 'frr', 'none']).default('bird'))
    .option('--router-kernel-routes', 'the external router installs learned pod routes into its kernel (BIRD only)')
    .option('--plugins <list>', 'krouter plugins the agents run (default: every built-in plugin)')
    .option('--router-config <json>', 'JSON object merged over every agent\'s plugins.router config, e.g. \'{"gracefulRestart":{"enabled":true}}\'')
    .option('--loadbalancer-config <json>', 'run the loadbalancer plugin (ranges from the lab\'s address plan) with this JSON object merged over its config, e.g. \'{"defaultClass":false}\'')
    .option('--plugin-config <json>', 'JSON object of plugin sections merged over the agents\' config, e.g. \'{"firewall":{"resyncSeconds":5}}\'')
    .option('--node-setup <file>', "shell script run in each node's namespace (argument: the node's name) before the control plane and the agents start")
    .option('--kube-router-args', "configure the agents with kube-router's flags, environment and kubeconfig only, as kube-router's DaemonSets do (no krouter config file)")
    .option('--node-annotation <NODE:KEY=VALUE>', 'an annotation the Node is registered with (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (flags: UpFlags) => {
      await cmdUp(flags);
    });

  program
    .command('restart-agent')
    .description("stop a node's krouter agent (SIGTERM, or SIGKILL with --kill) and start it again; waits until it is healthy")
    .argument('<node>', 'node name (node-1 ...)')
    .option('--kill', 'kill it with SIGKILL (no clean stop)')
    .option('--kill-gobgpd', "also kill the node's gobgpd with SIGKILL (it outlives the agent otherwise)")
    .action(async (node: string, opts: { kill?: boolean; killGobgpd?: boolean }) => {
      const state = requireLab();
      if (!state.spec.nodes.includes(node)) throw new UsageError(`unknown node ${JSON.stringify(node)} (nodes: ${state.spec.nodes.join(', ')})`);
      await restartAgent({ stateDir: state.spec.stateDir, node, signal: opts.kill ? 'SIGKILL' : 'SIGTERM', killGobgpd: !!opts.killGobgpd, log: say });
    });

  program
    .command('reboot-node')
    .description("reboot a node: its kubelet, pods and agent stop, its namespace is made again empty (--node-setup run again), then they start again; waits until its agent is healthy")
    .argument('<node>', 'node name (node-1 ...)')
    .action(async (node: string) => {
      const state = requireLab();
      if (!state.spec.nodes.includes(node)) throw new UsageError(`unknown node ${JSON.stringify(node)} (nodes: ${state.spec.nodes.join(', ')})`);
      await rebootNode({ stateDir: state.spec.stateDir, node, log: say });
    });

  program
    .command('restart-component')
    .description('kill a control-plane component (SIGKILL, or SIGTERM with --term), keep it down, start it again')
    .argument('<name>', COMPONENTS.join(' | '))
    .option('--term', 'stop it with SIGTERM (a clean stop)')
    .option('--down <seconds>', 'how long it stays down', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('a number of seconds >= 0');
      return n;
    }, 0)
    .action(async (name: string, opts: { term?: boolean; down: number }) => {
      const state = requireLab();
      if (!COMPONENTS.includes(name as ComponentName)) throw new UsageError(`unknown component ${JSON.stringify(name)} (${COMPONENTS.join(', ')})`);
      await restartComponent({ stateDir: state.spec.stateDir, name: name as ComponentName, signal: opts.term ? 'SIGTERM' : 'SIGKILL', downMs: opts.down * 1000, log: say });
    });

  program
    .command('down')
    .description('remove everything the lab made (also after a crash); idempotent')
    .action(cmdDown);

  program
    .command('status')
    .description('nodes, addresses, pod CIDRs, agents, gobgpd, BGP sessions')
    .action(async () => {
      const { lines, ok } = await statusLines(requireLab());
      for (const l of lines) say(l);
      process.exitCode = ok ? 0 : 1;
    });

  program
    .command('kubectl')
    .description('kubectl (built at the lab\'s Kubernetes version) against the lab API server, as its admin')
    .argument('[args...]', 'kubectl arguments')
    .helpOption(false)
    .allowUnknownOption()
    .passThroughOptions()
    .action((args: string[]) => {
      const { argv, env } = kubectlCommand(requireLab(), afterDashDash(args));
      runAttached(argv, env);
    });

  program
    .command('exec')
    .description("run a command in a pod's network namespace")
    .argument('<pod>', 'NAME or NAMESPACE/NAME')
    .argument('<cmd...>', 'command and arguments (after --)')
    .passThroughOptions()
    .action((pod: string, cmd: string[]) => {
      requireLab();
      const { namespace, name } = splitPod(pod);
      const ns = podNetnsName(namespace, name);
      if (!listNetns().includes(ns)) throw new UsageError(`pod ${namespace}/${name} has no network namespace ${ns} (does it exist and run?)`);
      runAttached(['ip', 'netns', 'exec', ns, ...afterDashDash(cmd)]);
    });

  program
    .command('exec-node')
    .description("run a command in a node's network namespace")
    .argument('<node>', 'node name (node-1 ...)')
    .argument('<cmd...>', 'command and arguments (after --)')
    .passThroughOptions()
    .action((node: string, cmd: string[]) => {
      const state = requireLab();
      if (!state.spec.nodes.includes(node)) throw new UsageError(`unknown node ${JSON.stringify(node)} (nodes: ${state.spec.nodes.join(', ')})`);
      runAttached(['ip', 'netns', 'exec', nodeNetns(node), ...afterDashDash(cmd)]);
    });

  program
    .command('router')
    .description('birdc / vtysh against the external router (no arguments: interactive)')
    .argument('[args...]', 'birdc or vtysh arguments (after --)')
    .helpOption(false)
    .allowUnknownOption()
    .passThroughOptions()
    .action((args: string[]) => {
      const state = requireLab();
      runAttached(['ip', 'netns', 'exec', ROUTER_NETNS, ...routerControlArgv(state.spec, afterDashDash(args))]);
    });

  program
    .command('check')
    .description('pod-to-pod connectivity matrix over every enabled family; exit 1 when an expected path fails')
    .option('--json', 'machine-readable output')
    .addOption(new Option('--cross-node <mode>', 'what to expect of cross-node paths').choices(['auto', 'expect-ok', 'expect-fail']).default('auto'))
    .action(async (opts: { json?: boolean; crossNode: 'expect-ok' | 'expect-fail' | 'auto' }) => {
      process.exitCode = (await cmdCheck(opts)) ? 0 : 1;
    });

  program
    .command('upstream-e2e')
    .description("run upstream Kubernetes' network e2e tests (e2e.test, built once) against the lab that is up; exit 1 when one fails")
    .option('--focus <regex>', 'ginkgo focus over the specs\' full text (default: the sets of --sets)')
    .option('--sets <list>', `spec sets to run: ${SPEC_SET_NAMES.join(', ')} (default: all)`)
    .option('--report-dir <dir>', "where ginkgo's JSON report and the full log go (default: a new folder under the lab's logs)")
    .option('--procs <n>', 'parallel ginkgo processes (default 4)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
      return n;
    })
    .option('--quiet', "do not echo ginkgo's progress")
    .action(async (opts: { focus?: string; sets?: string; reportDir?: string; procs?: number; quiet?: boolean }) => {
      process.exitCode = (await cmdUpstreamE2e(opts)) ? 0 : 1;
    });

  program
    .command('upstream-e2e-table')
    .description("print one Markdown table of upstream e2e results per spec and mode, from the JSON reports of upstream-e2e runs")
    .argument('<runs...>', 'MODE=REPORT.json, one per run (MODE: ipv4, ipv6, dual; several runs of one mode merge)')
    .action(async (runs: string[]) => {
      process.exitCode = (await cmdUpstreamE2eTable(runs)) ? 0 : 1;
    });

  program
    .command('demo')
    .description('down if needed, up dual-stack, demo workloads on every node, check, print the matrix')
    .action(async () => {
      process.exitCode = (await cmdDemo()) ? 0 : 1;
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `lab status | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    // A step error or a refusal says what and where; a stack only helps when debugging the lab itself.
    const debug = !!process.env.KROUTER_LAB_DEBUG && !(err instanceof UsageError);
    process.stderr.write(`lab: ${debug ? ((err as Error).stack ?? String(err)) : ((err as Error).message ?? String(err))}\n`);
    if (err instanceof StepError) process.stderr.write('lab: the lab is left as it is for inspection; remove it with `npm run lab -- down`\n');
    process.exitCode = 1;
  }
}

await main(process.argv);
