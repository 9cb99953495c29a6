import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { SDK_API_VERSION } from '@krouter/sdk';
import pkg from '../package.json' with { type: 'json' };
import { ConfigError, CONFIG_EXIT_CODE } from './config/errors.ts';
import { KROUTER_EXTRA_FLAGS, KUBE_ROUTER_FLAGS, kubeRouterDefaults, kubeRouterEnv, NO_EFFECT_FLAGS, parseKubeRouterFlags, type FlagAction } from './config/flags.ts';
import { loadConfig, mergeConfig, type LoadedConfig } from './config/load.ts';
import { DEFAULT_CONFIG_PATH, DEFAULT_HEALTH_PORT } from './config/schema.ts';
import { Agent, runUntilSignal } from './host/agent.ts';
import { builtins } from './host/builtins.ts';
import { PluginError } from './host/runner.ts';
import { runKubeRouterCleanup } from './kube-router-leftovers/index.ts';
import { Exec } from './services/exec.ts';
import { renderStatus, type StatusDocument } from './status/render.ts';

export const VERSION: string = pkg.version;

export interface CliIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

interface ArgsConfig {
  loaded: LoadedConfig;
  /** One per kube-router flag given that has no effect here (or whose value was adjusted). */
  warnings: string[];
  actions: FlagAction[];
}

/**
 * Config from --config plus kube-router's flags and environment; flag
 * problems are ConfigErrors too. Without a config file, kube-router's
 * defaults are the base, so kube-router's arguments alone configure the
 * agent as they configure kube-router.
 */
function loadFromArgs(file: string | undefined, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ArgsConfig {
  const flags = parseKubeRouterFlags(args);
  if (flags.errors.length) throw new ConfigError(flags.errors.map((e) => `command line: ${e}`));
  const overlay = mergeConfig(kubeRouterEnv(env), flags.overlay);
  return { loaded: loadConfig({ file, overlay, defaults: kubeRouterDefaults(), env }), warnings: flags.warnings, actions: flags.actions };
}

/**
 * kube-router is started with flags only (`kube-router --run-router=true ...`):
 * without a subcommand, krouter does what those flags ask, as kube-router:
 * --help prints help, --version the version, --cleanup-config cleans up,
 * anything else runs the agent.
 */
export function kubeRouterInvocation(argv: readonly string[]): string[] {
  if (!argv[0]?.startsWith('-') || argv[0] === '--version-number') return [...argv];
  if (argv.some((a) => a === '-h' || a === '--help' || a === '--help=true')) return ['--help'];
  const { actions } = parseKubeRouterFlags(argv.filter((a) => !/^(-c|--config)(=|$)/.test(a)));
  if (actions.includes('version')) return ['version'];
  if (actions.includes('cleanup')) return ['cleanup', ...argv];
  return ['run', ...argv];
}

/** The runtime we are on: Deno, a Node single executable, or Node. */
function runtime(): string {
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno;
  if (deno?.version?.deno) return `deno ${deno.version.deno} (node compat ${process.version})`;
  let sea = false;
  try {
    // Looked up at run time: node:sea is absent on some runtimes.
    sea = (createRequire(join(process.cwd(), 'x.js'))('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    /* not available */
  }
  return `node ${process.version}${sea ? ' (single executable)' : ''}`;
}

async function gobgpdVersion(binary: string): Promise<string> {
  try {
    const r = await new Exec().run(binary, ['--version'], { timeoutMs: 5000, allowFailure: true });
    const text = `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
    return r.code === 0 && text ? text.replace(/^gobgpd\s+(version\s+)?/i, '') : `not usable (${binary}: exit ${r.code})`;
  } catch (err) {
    return `not found (${(err as Error).message})`;
  }
}


function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', `config file (default ${DEFAULT_CONFIG_PATH}; may be absent when not given)`)
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', () => {
      const shown = (list: readonly string[]) => list.map((f) => (f === 'v' ? '-v/--v' : f === 'help' ? '-h/--help' : f === 'version' ? '-V/--version' : `--${f}`)).join(' ');
      const mapped = KUBE_ROUTER_FLAGS.filter((f) => !NO_EFFECT_FLAGS[f] && !KROUTER_EXTRA_FLAGS.includes(f));
      return [
        '',
        'kube-router flags accepted (they override the file; without a file, kube-router\'s defaults apply):',
        `  ${shown(mapped)}`,
        `accepted with a warning, no effect here: ${shown(Object.keys(NO_EFFECT_FLAGS))}`,
        `krouter's own: ${shown(KROUTER_EXTRA_FLAGS)}`,
        '',
      ].join('\n');
    });
}

function buildProgram(io: CliIO, setCode: (code: number) => void): Command {
  const program = new Command('krouter')
    .description('Kubernetes node networking agent: CNI, BGP pod routes, service proxy, NetworkPolicy firewall')
    .version(VERSION, '-V, --version-number')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  addConfigOptions(program.command('run').description('run the agent until SIGTERM/SIGINT')).action(
    async (opts: { config?: string }, cmd: Command) => {
      const { loaded, warnings, actions } = loadFromArgs(opts.config, cmd.args);
      if (actions.includes('cleanup')) {
        // kube-router's --cleanup-config: clean up and exit.
        await new Agent({ loaded, builtins, version: VERSION, warnings }).cleanup();
        io.out('cleanup done\n');
        setCode(0);
        return;
      }
      setCode(await runUntilSignal(new Agent({ loaded, builtins, version: VERSION, warnings })));
    },
  );

  addConfigOptions(
    program.command('validate-config').description('check the config file, flags and plugin sections; exit 2 on problems'),
  ).action(async (opts: { config?: string }, cmd: Command) => {
    const { loaded, warnings } = loadFromArgs(opts.config, cmd.args);
    for (const w of warnings) io.err(`warning: ${w}\n`);
    const agent = new Agent({ loaded, builtins, version: VERSION, logger: undefined });
    const plugins = await agent.prepare();
    await agent.services.close();
    io.out(`config OK (${loaded.source.file}; plugins: ${plugins.map((p) => p.definition.name).join(', ') || 'none'})\n`);
    setCode(0);
  });

  program
    .command('version')
    .description('print the krouter, SDK API, runtime and gobgpd versions')
    .option('-c, --config <file>', 'config file to find the gobgpd binary in')
    .action(async (opts: { config?: string }) => {
      let binary = 'gobgpd';
      try {
        binary = loadConfig({ file: opts.config }).config.gobgp.binary;
      } catch {
        /* version works without a valid config */
      }
      io.out(
        [
          `krouter ${VERSION}`,
          `sdk api v${SDK_API_VERSION}`,
          `runtime ${runtime()}`,
          `gobgpd ${await gobgpdVersion(binary)}`,
        ].join('\n') + '\n',
      );
      setCode(0);
    });

  program
    .command('status')
    .description('show the local agent status: each running plugin per family (BGP peers, routes, services, policies, pod CIDRs)')
    .option('-c, --config <file>', 'config file to find the health port in')
    .option('--port <port>', 'health port of the local agent')
    .option('--json', 'print the /status document as JSON (keys documented in the README)')
    .action(async (opts: { config?: string; port?: string; json?: boolean }) => {
      let port = DEFAULT_HEALTH_PORT;
      let host = '127.0.0.1';
      if (opts.port) port = Number(opts.port);
      else {
        try {
          const { health } = loadConfig({ file: opts.config }).config;
          port = health.port;
          if (health.address !== '0.0.0.0' && health.address !== '::') host = health.address.includes(':') ? `[${health.address}]` : health.address;
        } catch (err) {
          if (opts.config) throw err;
        }
      }
      const url = `http://${host}:${port}/status`;
      let body: unknown;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        body = await res.json();
      } catch (err) {
        io.err(`krouter status: cannot reach the agent at ${url}: ${(err as Error).message}\n`);
        setCode(1);
        return;
      }
      io.out(opts.json ? `${JSON.stringify(body, null, 2)}\n` : renderStatus(body as StatusDocument));
      setCode(0);
    });

  addConfigOptions(
    program
      .command('cleanup')
      .description('remove everything krouter owns (each enabled plugin cleans up its objects)')
      .option('--kube-router', "list what kube-router left on this node (iptables, ipsets, links, routes, ...) instead; nothing of krouter's")
      .option('--yes', 'with --kube-router: remove exactly what it lists'),
  ).action(async (opts: { config?: string; kubeRouter?: boolean; yes?: boolean }, cmd: Command) => {
    if (opts.kubeRouter || opts.yes) {
      if (!opts.kubeRouter) throw new ConfigError(['command line: --yes applies to `cleanup --kube-router` only']);
      setCode(await runKubeRouterCleanup({ exec: new Exec(), out: io.out, remove: !!opts.yes }));
      return;
    }
    const { loaded, warnings } = loadFromArgs(opts.config, cmd.args);
    await new Agent({ loaded, builtins, version: VERSION, warnings }).cleanup();
    io.out('cleanup done\n');
    setCode(0);
  });

  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[], io: CliIO = defaultIO): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(kubeRouterInvocation(argv), { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError) {
      io.err(`${err.problems.join('\n')}\n`);
      return CONFIG_EXIT_CODE;
    }
    if (err instanceof PluginError) {
      io.err(`krouter: ${err.message}\n`);
      return err.exitCode;
    }
    io.err(`krouter: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}
