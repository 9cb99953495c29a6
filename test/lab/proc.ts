/**
 * Thin kernel/process edge of the lab: run a command, start a detached
 * process with its output in a log file, stop a recorded process by PID,
 * list namespaces and the processes inside one.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isRecordedAlive, processStartTime, type RecordedProcess } from './state.ts';

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(`\`${argv.join(' ')}\` failed (exit ${code ?? 'signal'})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    this.name = 'CommandError';
  }
}

/** Runs a command, returns stdout; throws CommandError with its stderr. */
export function run(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { encoding: 'utf8', input: opts.input, env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error) throw new CommandError(argv, r.error.message, null);
  if (r.status !== 0) throw new CommandError(argv, r.stderr || r.stdout, r.status);
  return r.stdout;
}

/** Like run() but returns undefined instead of throwing. */
export function tryRun(argv: string[]): string | undefined {
  try {
    return run(argv);
  } catch {
    return undefined;
  }
}

/**
 * Starts a process in its own session (it survives the CLI), stdout and stderr
 * appended to `log`. Returns its record (PID + start time) at once.
 */
export function spawnDetached(
  name: string,
  argv: string[],
  opts: { log: string; cwd?: string; env?: NodeJS.ProcessEnv },
): RecordedProcess {
  mkdirSync(path.dirname(opts.log), { recursive: true });
  const fd = openSync(opts.log, 'a');
  try {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', fd, fd], cwd: opts.cwd, env: opts.env });
    if (child.pid === undefined) throw new Error(`${name}: could not start \`${argv.join(' ')}\` (see ${opts.log})`);
    child.on('error', () => undefined);
    child.unref();
    return { name, pid: child.pid, startTime: processStartTime(child.pid), log: opts.log };
  } finally {
    closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Never touches a reused PID. */
export async function stopRecorded(p: RecordedProcess, graceMs = 3000): Promise<void> {
  if (!isRecordedAlive(p)) return;
  signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRecordedAlive(p)) return;
    await sleep(50);
  }
  if (isRecordedAlive(p)) signal(p.pid, 'SIGKILL');
  while (isRecordedAlive(p)) await sleep(20);
}

/**
 * Processes whose command line names `dir` (a lab's state directory: every
 * control-plane component and the kubelets' daemon name it in their
 * arguments). Finds a process `up` started but was killed before recording.
 */
export function processesNaming(dir: string): number[] {
  const needle = dir.endsWith('/') ? dir : `${dir}/`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.includes(needle) || a === dir)) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The children of `pid` (from /proc: the parent in each process's stat), each with its command line. */
export function childProcesses(pid: number): Array<{ pid: number; argv: string[] }> {
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name (field 2) is in parentheses and may hold spaces: the parent follows its last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push({ pid: Number(entry), argv: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean) });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Named network namespaces (`ip netns list`). */
export function listNetns(): string[] {
  const out = tryRun(['ip', 'netns', 'list']) ?? '';
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter(Boolean);
}

/** PIDs of processes inside a named namespace (`ip netns pids`). */
export function netnsPids(ns: string): number[] {
  const out = tryRun(['ip', 'netns', 'pids', ns]) ?? '';
  return out
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
}

export function linkExists(name: string): boolean {
  return tryRun(['ip', 'link', 'show', 'dev', name]) !== undefined;
}

/** Stops every process inside a namespace (all of them are the lab's), then deletes it. */
export async function deleteNetnsWithProcesses(ns: string): Promise<void> {
  const pids = netnsPids(ns).map((pid) => ({ name: `in ${ns}`, pid, startTime: processStartTime(pid) }));
  await Promise.all(pids.map((p) => stopRecorded(p, 2000)));
  tryRun(['ip', 'netns', 'delete', ns]);
}

/** A node script run inside a namespace: a tiny HTTP GET returning the status code (0 = no answer). */
export function httpStatusInNetns(ns: string, url: string, timeoutMs = 1000): number {
  const script = `const c=new AbortController();setTimeout(()=>c.abort(),${timeoutMs});fetch(${JSON.stringify(url)},{signal:c.signal}).then(r=>{console.log(r.status);process.exit(0)},()=>{console.log(0);process.exit(0)})`;
  try {
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: timeoutMs + 4000,
    });
    return Number(out.trim()) || 0;
  } catch {
    return 0;
  }
}

/** A node script run inside a namespace: HTTP GET returning status and body (status 0 = no answer). */
export function httpGetInNetns(ns: string, url: string, timeoutMs = 5000): { status: number; body: string } {
  const script = `const c=new AbortController();setTimeout(()=>c.abort(),${timeoutMs});fetch(${JSON.stringify(url)},{signal:c.signal}).then(async r=>{process.stdout.write(JSON.stringify({status:r.status,body:await r.text()}));process.exit(0)},()=>{process.stdout.write(JSON.stringify({status:0,body:''}));process.exit(0)})`;
  try {
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: timeoutMs + 4000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(out) as { status: number; body: string };
  } catch {
    return { status: 0, body: '' };
  }
}
