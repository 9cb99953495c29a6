/**
 * Running a process "in a container" on a lab node: inside the node's
 * network namespace, with the pod's volumes bind-mounted at their mount
 * paths. `ip netns exec` gives every command its own mount namespace (with
 * no propagation back to the host), so the bind mounts are private to that
 * process and its children, the way a container's mounts are.
 *
 * A bind mount needs its target to exist. Targets this machine lacks (such
 * as /etc/krouter) are made empty here and recorded in the lab state, so
 * `lab down` removes them again.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Mount {
  /** Path on this machine (under the pod's or the node's directory). */
  source: string;
  /** Path the process sees. */
  target: string;
  readOnly?: boolean;
}

/** POSIX shell single quoting. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `ip netns exec NETNS sh -c '<mounts> && exec <argv>'`. With `env`, the
 * process gets exactly that environment (plus PATH), as a container does;
 * without, it inherits the caller's.
 */
export function nodeExecArgv(netns: string, mounts: readonly Mount[], argv: readonly string[], env?: Record<string, string>): string[] {
  const steps = mounts.flatMap((m) => {
    const bind = `mount --bind ${shQuote(m.source)} ${shQuote(m.target)}`;
    return m.readOnly ? [bind, `mount -o remount,bind,ro ${shQuote(m.target)}`] : [bind];
  });
  const envPart = env
    ? ['env', '-i', ...Object.entries({ PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env }).map(([k, v]) => shQuote(`${k}=${v}`))]
    : [];
  const exec = ['exec', ...envPart, ...argv.map(shQuote)].join(' ');
  return ['ip', 'netns', 'exec', netns, 'sh', '-c', [...steps, exec].join(' && ')];
}

// ---- mount targets made on this machine ----------------------------------------

const recordFile = (stateDir: string) => path.join(stateDir, 'mountpoints.json');

function readRecorded(stateDir: string): string[] {
  try {
    return JSON.parse(readFileSync(recordFile(stateDir), 'utf8')) as string[];
  } catch {
    return [];
  }
}

/**
 * Makes `target` exist (a directory, or an empty file for a file mount),
 * recording the top-most path it had to create before creating it.
 */
export function ensureMountTarget(stateDir: string, target: string, kind: 'dir' | 'file'): void {
  if (existsSync(target)) return;
  let top = target;
  while (!existsSync(path.dirname(top))) top = path.dirname(top);
  const recorded = readRecorded(stateDir);
  if (!recorded.includes(top)) writeFileSync(recordFile(stateDir), JSON.stringify([...recorded, top]));
  if (kind === 'dir') mkdirSync(target, { recursive: true });
  else {
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, '');
  }
}

/**
 * Removes what ensureMountTarget made, once nothing runs any more: empty
 * directories (deepest first) and empty files only, so nothing anybody put
 * there since is lost. Returns the paths removed.
 */
export function removeMountTargets(stateDir: string): string[] {
  const removed: string[] = [];
  const prune = (p: string): boolean => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return true;
    }
    if (st.isDirectory()) {
      let empty = true;
      for (const entry of readdirSafe(p)) empty = prune(path.join(p, entry)) && empty;
      if (!empty) return false;
      try {
        rmdirSync(p);
        removed.push(p);
        return true;
      } catch {
        return false;
      }
    }
    if (st.isFile() && st.size === 0) {
      rmSync(p, { force: true });
      removed.push(p);
      return true;
    }
    return false;
  };
  for (const top of readRecorded(stateDir)) prune(top);
  rmSync(recordFile(stateDir), { force: true });
  return removed;
}

function readdirSafe(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}
