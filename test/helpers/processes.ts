import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Child processes started by tests, stopped by PID (never by name) in
 * `stopAllTestProcesses()` and on process exit, also when a test fails.
 */
const started = new Set<ChildProcess>();

export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  started.add(child);
  child.on('exit', () => started.delete(child));
  return child;
}

export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAllTestProcesses(): Promise<void> {
  await Promise.all([...started].map((c) => stopProcess(c)));
}

process.on('exit', () => {
  for (const c of started) c.kill('SIGKILL');
});
