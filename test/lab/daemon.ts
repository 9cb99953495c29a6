/**
 * The lab daemon: one process (started detached by `lab up`) running one lab
 * kubelet per node against the lab's kube-apiserver. Usage:
 * `node --import tsx test/lab/daemon.ts --state DIR`.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadLabState, nodeRebootFiles, statePaths, type LabSpec } from './config.ts';
import { startKubelet, type Kubelet } from './kubelet/index.ts';

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

export async function runDaemon(stateDir: string): Promise<void> {
  writeFileSync(statePaths.daemonPid(stateDir), `${process.pid}\n`);
  const state = loadLabState(stateDir);
  if (!state) throw new Error(`no lab state in ${stateDir} (lab.json missing)`);
  const spec: LabSpec = state.spec;
  const kubelets = new Map<string, Kubelet>();
  let stopping = false;

  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    await Promise.all(
      [...kubelets.values()].map((k) =>
        k.close().catch((err: Error) => {
          log(`close failed: ${err.message}`);
        }),
      ),
    );
    rmSync(statePaths.daemonPid(stateDir), { force: true });
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const start = async (node: string) => kubelets.set(node, await startKubelet({ spec, node, log: (l) => log(`kubelet ${node}: ${l}`) }));

  // `lab reboot-node`: a node's request file says `stop` (its kubelet stops its pods and ends) or
  // `start` (a new kubelet for it); the answer is written to its state file. SIGUSR2 says: look.
  let handling = Promise.resolve();
  process.on('SIGUSR2', () => {
    handling = handling.then(async () => {
      for (const node of spec.nodes) {
        const files = nodeRebootFiles(spec, node);
        if (!existsSync(files.request) || stopping) continue;
        const want = readFileSync(files.request, 'utf8').trim();
        rmSync(files.request, { force: true });
        try {
          if (want === 'stop') {
            log(`kubelet ${node}: stopping for a reboot of the node`);
            // A machine going down hard: its processes get no SIGTERM (a clean stop would, e.g., close BGP sessions).
            await kubelets.get(node)?.close({ kill: true });
            kubelets.delete(node);
            writeFileSync(files.state, 'stopped\n');
          } else if (want === 'start' && !kubelets.has(node)) {
            await start(node);
            log(`kubelet ${node}: started again after a reboot of the node`);
            writeFileSync(files.state, 'started\n');
          }
        } catch (err) {
          log(`kubelet ${node}: ${want} failed: ${(err as Error).message}`);
          writeFileSync(files.state, `failed: ${(err as Error).message}\n`);
        }
      }
    });
  });

  await Promise.all(spec.nodes.map(start));
  log(`kubelets started (${spec.nodes.join(', ')})`);
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const stateDir = argValue('--state');
  if (!stateDir) {
    process.stderr.write('usage: daemon.ts --state DIR\n');
    process.exit(2);
  }
  runDaemon(stateDir).catch((err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  });
}
