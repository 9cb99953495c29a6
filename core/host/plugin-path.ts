/**
 * An external plugin runs inside the agent with all of its privileges, so
 * it is loaded only from a file nobody but root could have written: an
 * absolute path whose file and every directory up to / are owned by root
 * (or by the agent's own user, when it does not run as root) and are not
 * writable by group or others. A symbolic link on the way is followed and
 * its target's path checked the same way. Anything else is refused with the
 * path and the reason, before the file is read.
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';

export interface PathOps {
  lstat(p: string): Stats;
  readlink(p: string): string;
  /** The agent's effective user. */
  uid(): number;
}

export const realPathOps: PathOps = {
  lstat: (p) => lstatSync(p),
  readlink: (p) => readlinkSync(p),
  uid: () => process.geteuid?.() ?? 0,
};

/** Symbolic links followed on one path before giving up (as the kernel's ELOOP). */
const MAX_LINKS = 40;

const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/**
 * Why `file` may not be loaded as a plugin, or undefined when it may.
 * The reason names the path at fault, e.g.
 * `/opt/plugins: is writable by group or others (mode 0775)`.
 */
export function pluginPathProblem(file: string, ops: PathOps = realPathOps): string | undefined {
  if (!path.isAbsolute(file)) return `${file}: must be an absolute path`;
  const uid = ops.uid();
  const owners = uid === 0 ? 'root' : `root or the agent's user (uid ${uid})`;
  let links = 0;

  // Walks components from /, following links; `pending` are the components still to walk.
  let pending = path.normalize(file).split('/').filter(Boolean);
  let current = '/';
  const checkDirOrFile = (p: string, st: Stats, last: boolean): string | undefined => {
    if (st.uid !== 0 && st.uid !== uid) return `${p}: is owned by uid ${st.uid}, not by ${owners}`;
    if (st.mode & 0o022) return `${p}: is writable by group or others (mode ${octal(st.mode)})`;
    if (last && !st.isFile()) return `${p}: is not a regular file`;
    if (!last && !st.isDirectory()) return `${p}: is not a directory`;
    return undefined;
  };

  let rootStat: Stats;
  try {
    rootStat = ops.lstat('/');
  } catch (e) {
    return `/: cannot be read: ${(e as Error).message}`;
  }
  const rootProblem = checkDirOrFile('/', rootStat, false);
  if (rootProblem) return rootProblem;

  while (pending.length > 0) {
    const name = pending.shift()!;
    const p = path.join(current, name);
    let st: Stats;
    try {
      st = ops.lstat(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? `${p}: no such file or directory` : `${p}: cannot be read: ${(e as Error).message}`;
    }
    if (st.isSymbolicLink()) {
      // The link itself sits in a directory already checked; its target's path must pass too.
      if (++links > MAX_LINKS) return `${file}: too many symbolic links`;
      let target: string;
      try {
        target = ops.readlink(p);
      } catch (e) {
        return `${p}: cannot be read: ${(e as Error).message}`;
      }
      const resolved = path.resolve(current, target);
      pending = [...path.normalize(resolved).split('/').filter(Boolean), ...pending];
      current = '/';
      continue;
    }
    const problem = checkDirOrFile(p, st, pending.length === 0);
    if (problem) return problem;
    current = p;
  }
  return undefined;
}
