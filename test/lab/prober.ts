/**
 * Probes from anywhere in the lab that is not a pod: the external router's
 * namespace (a client outside the cluster) or a node's namespace (the node
 * itself). Runs the pod test server there without listening ports, only for
 * its control socket, which takes the same probe requests as a pod's.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from './kubelet/control.ts';

const POD_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pod-server.mjs');

export interface Probe {
  host: string;
  port: number;
  proto: 'tcp' | 'udp';
  timeoutMs?: number;
  send?: string;
  /** UDP: keep this source port, so successive probes are one flow. */
  localPort?: number;
}

export interface ProbeResult {
  ok: boolean;
  reply?: string;
  source?: string;
  error?: string;
}

export interface Prober {
  probe(p: Probe): Promise<ProbeResult>;
  probes(ps: readonly Probe[]): Promise<ProbeResult[]>;
  stop(): void;
}

/** A prober in network namespace `netns`; it ends with this process too (--parent-pid). */
export async function startProber(netns: string, stateDir: string, name: string): Promise<Prober> {
  const socket = path.join(stateDir, `prober-${name}.sock`);
  rmSync(socket, { force: true });
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, POD_SERVER, '--name', name, '--control', socket, '--parent-pid', String(process.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`prober in ${netns} exited (${code}): ${err.trim()}`)));
  });
  return {
    probe: async (p) => (await controlRequest(socket, { probe: p }, (p.timeoutMs ?? 1000) + 5000)) as ProbeResult,
    probes: async (ps) => ((await controlRequest(socket, { probes: ps }, Math.max(0, ...ps.map((p) => p.timeoutMs ?? 1000)) + 5000)) as { results: ProbeResult[] }).results,
    stop: () => {
      child.kill('SIGTERM');
      rmSync(socket, { force: true });
    },
  };
}
