/**
 * lab.json: everything `lab up` makes, recorded BEFORE it is made (processes
 * right after spawn, with their start time so a reused PID is never killed),
 * so `lab down` can remove it after a crash at any point.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabSpec } from './config.ts';

export interface RecordedProcess {
  /** What it is: `daemon`, `agent node-1`, `router bird`. */
  name: string;
  pid: number;
  /** /proc/PID/stat starttime; a PID whose start time differs is someone else's. */
  startTime?: string;
  log?: string;
}

export interface LabState {
  version: 1;
  spec: LabSpec;
  /** starting: `up` in progress or crashed; up: finished; failed: a step failed. */
  phase: 'starting' | 'up' | 'failed';
  createdAt: string;
  namespaces: string[];
  /** Links in the root namespace (links inside lab namespaces go with them). */
  links: string[];
  processes: RecordedProcess[];
  /** Where the Kubernetes binaries of this lab are (test/lab/k8s/build.sh). */
  k8sBinDir?: string;
  /** Where CoreDNS of this lab is (test/lab/k8s/dns/build.sh). */
  dnsBinDir?: string;
}

function labJsonPath(stateDir: string): string {
  return path.join(stateDir, 'lab.json');
}

export function newLabState(spec: LabSpec): LabState {
  return { version: 1, spec, phase: 'starting', createdAt: new Date().toISOString(), namespaces: [], links: [], processes: [] };
}

/** The lab state in `stateDir`, or undefined when there is none. A corrupt file is an error naming it. */
export function loadLabState(stateDir: string): LabState | undefined {
  const file = labJsonPath(stateDir);
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  try {
    const state = JSON.parse(text) as LabState;
    if (state.version !== 1 || !state.spec) throw new Error('not a lab state (version 1 with a spec)');
    state.namespaces ??= [];
    state.links ??= [];
    state.processes ??= [];
    return state;
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** Writes lab.json atomically (a crash leaves the old or the new file, never half of one). */
export function saveLabState(state: LabState): void {
  const file = labJsonPath(state.spec.stateDir);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

/** Start time of a process (clock ticks since boot), undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); starttime is field 22.
    if (rest[0] === 'Z') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

/**
 * True once no thread of `pid` runs any more. A killed multi-threaded process
 * (the Go components) shows its leader as a zombie while its other threads
 * are still exiting, and those still hold its sockets: a restart must wait
 * for them, or it finds its port in use.
 */
export function threadsGone(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  return tasks.every((t) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state === 'Z' || state === 'X';
    } catch {
      return true;
    }
  });
}

/** True when the recorded process still runs (same PID and start time). */
export function isRecordedAlive(p: Pick<RecordedProcess, 'pid' | 'startTime'>): boolean {
  const now = processStartTime(p.pid);
  if (now === undefined) return false;
  return p.startTime === undefined || p.startTime === now;
}
