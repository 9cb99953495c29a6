/**
 * The lab daemon: one process (started detached by `lab up`) running the lab
 * API server on the root bridge addresses, the lab controllers and one lab
 * kubelet per node. Usage: `node --import tsx test/lab/daemon.ts --state DIR`.
 *
 * Controllers and kubelets are loaded when their modules exist, so the API
 * server works on its own while they are being written.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { apiRequest } from './api.ts';
import { API_PORT, apiServerUrl, bridgeAddresses, loadLabState, nodeUnderlayByName, statePaths, type LabSpec } from './config.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

type Closer = { close(): Promise<void> };

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/** Imports an optional lab module: undefined when the file does not exist, an error when it does but fails. */
async function optionalModule<T>(rel: string): Promise<T | undefined> {
  const file = path.join(here, rel);
  if (!existsSync(file)) return undefined;
  return (await import(pathToFileURL(file).href)) as T;
}

export async function runDaemon(stateDir: string): Promise<void> {
  writeFileSync(statePaths.daemonPid(stateDir), `${process.pid}\n`);
  const state = loadLabState(stateDir);
  if (!state) throw new Error(`no lab state in ${stateDir} (lab.json missing)`);
  const spec: LabSpec = state.spec;
  const closers: Closer[] = [];
  let stopping = false;

  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    // Reverse start order: kubelets, controllers, then the API server.
    for (const c of closers.reverse()) {
      try {
        await c.close();
      } catch (err) {
        log(`close failed: ${(err as Error).message}`);
      }
    }
    rmSync(statePaths.daemonPid(stateDir), { force: true });
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const { startApiServer } = await import('./apiserver/index.ts');
  const listen = Object.values(bridgeAddresses(spec)).map((host) => ({ host, port: API_PORT }));
  const api = await startApiServer({ listen });
  closers.push(api);
  for (const url of api.urls) log(`api server listening ${url}`);
  const apiUrl = apiServerUrl(spec);

  type Controllers = { startControllers(o: { apiUrl: string; spec: LabSpec; log?: (l: string) => void }): Promise<Closer> };
  type Kubelet = { startKubelet(o: { apiUrl: string; spec: LabSpec; node: string; log?: (l: string) => void }): Promise<Closer> };

  const controllers = await optionalModule<Controllers>('controllers/index.ts');
  if (controllers) {
    closers.push(await controllers.startControllers({ apiUrl, spec, log: (l) => log(`controllers: ${l}`) }));
    log('controllers started');
  } else {
    log('controllers: test/lab/controllers/index.ts not present, not started');
  }

  const kubelet = await optionalModule<Kubelet>('kubelet/index.ts');
  if (kubelet) {
    for (const node of spec.nodes) {
      closers.push(await kubelet.startKubelet({ apiUrl, spec, node, log: (l) => log(`kubelet ${node}: ${l}`) }));
    }
    log(`kubelets started (${spec.nodes.join(', ')})`);
  } else {
    log('kubelet: test/lab/kubelet/index.ts not present, not started; registering the Node objects only');
    for (const node of spec.nodes) await registerNode(apiUrl, spec, node);
  }
  log('ready');
}

/** Creates a node's Node object with its underlay InternalIPs (what a kubelet would register). */
async function registerNode(apiUrl: string, spec: LabSpec, node: string): Promise<void> {
  const addresses = [
    ...Object.values(nodeUnderlayByName(spec, node)).map((address) => ({ type: 'InternalIP', address })),
    { type: 'Hostname', address: node },
  ];
  await apiRequest(apiUrl, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: node, ...(spec.nodeAnnotations?.[node] ? { annotations: spec.nodeAnnotations[node] } : {}) } });
  // A merge patch of status: the controllers may already be writing the Node (pod CIDRs).
  await apiRequest(apiUrl, 'PATCH', `/api/v1/nodes/${node}/status`, { status: { addresses } });
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
