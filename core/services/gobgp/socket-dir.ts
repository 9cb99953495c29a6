/**
 * gobgpd's API socket is the whole control plane of BGP (whoever connects
 * can add peers and paths), so it lives in a directory only the agent's user
 * can enter (0700) and is itself 0600. The directory is created or tightened
 * at start; one owned by another user, or one that stays open to others, is
 * refused with the path and the reason.
 */
import { chmodSync, mkdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';

export const SOCKET_DIR_MODE = 0o700;
export const SOCKET_MODE = 0o600;

/** The file system calls used (tests pass failing ones). */
export interface DirOps {
  mkdir(dir: string, mode: number): void;
  stat(p: string): Stats;
  chmod(p: string, mode: number): void;
  /** The agent's effective user. */
  uid(): number;
}

export const realDirOps: DirOps = {
  mkdir: (dir, mode) => void mkdirSync(dir, { recursive: true, mode }),
  stat: (p) => statSync(p),
  chmod: (p, mode) => chmodSync(p, mode),
  uid: () => process.geteuid?.() ?? 0,
};

/** Shared directories whose mode is the system's: never tightened, so never a socket directory. */
const SYSTEM_DIRS = new Set(['/', '/run', '/var/run', '/tmp', '/var/tmp', '/dev/shm', '/var', '/etc', '/usr', '/home', '/root', '/opt', '/srv', '/mnt', '/dev', '/proc', '/sys']);

export class SocketDirError extends Error {
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super(`gobgp socket directory ${dir}: ${reason}`);
    this.name = 'SocketDirError';
  }
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/**
 * Makes `dir` exist as a directory of the agent's user with mode 0700:
 * created so, or tightened (chmod) when it is open to group or others.
 * Throws SocketDirError when it is not a directory, belongs to another user,
 * is a shared system or sticky (temp) directory, or cannot be tightened.
 * Returns what it did, for the log.
 */
export function securePrivateDir(dir: string, ops: DirOps = realDirOps): 'created' | 'tightened' | 'ok' {
  const abs = path.resolve(dir);
  if (SYSTEM_DIRS.has(abs)) {
    throw new SocketDirError(abs, 'is a shared system directory; put the socket in a directory of its own (e.g. /run/krouter/gobgp.sock)');
  }
  let st: Stats | undefined;
  try {
    st = ops.stat(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SocketDirError(abs, `cannot be read: ${(e as Error).message}`);
  }
  let outcome: 'created' | 'tightened' | 'ok' = 'ok';
  if (!st) {
    try {
      ops.mkdir(abs, SOCKET_DIR_MODE);
      st = ops.stat(abs);
    } catch (e) {
      throw new SocketDirError(abs, `cannot be created: ${(e as Error).message}`);
    }
    outcome = 'created';
  }
  if (!st.isDirectory()) throw new SocketDirError(abs, 'is not a directory');
  const uid = ops.uid();
  if (st.uid !== uid) {
    throw new SocketDirError(abs, `is owned by uid ${st.uid}, not by the agent's user (uid ${uid}); remove it or give it to uid ${uid} with mode 0700`);
  }
  if (st.mode & 0o1000) {
    throw new SocketDirError(abs, `is a shared sticky directory (mode ${octal(st.mode)}); put the socket in a directory of its own`);
  }
  // The umask may have narrowed mkdir's mode, never widened it; anything open to group or others is closed.
  if ((st.mode & 0o777) !== SOCKET_DIR_MODE) {
    try {
      ops.chmod(abs, SOCKET_DIR_MODE);
      st = ops.stat(abs);
    } catch (e) {
      throw new SocketDirError(abs, `has mode ${octal(st.mode)} (group or others may enter it) and cannot be set to 0700: ${(e as Error).message}`);
    }
    if ((st.mode & 0o777) !== SOCKET_DIR_MODE) {
      throw new SocketDirError(abs, `has mode ${octal(st.mode)} after chmod 0700 (a file system that ignores modes?); put the socket elsewhere`);
    }
    if (outcome === 'ok') outcome = 'tightened';
  }
  return outcome;
}

/**
 * Sets a socket (or file) gobgpd made to 0600 (nothing to do when it is not
 * there); throws SocketDirError naming it when that fails.
 */
export function restrictSocket(socketPath: string, ops: Pick<DirOps, 'chmod' | 'stat'> = realDirOps): void {
  try {
    let st: Stats;
    try {
      st = ops.stat(socketPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if ((st.mode & 0o777) !== SOCKET_MODE) ops.chmod(socketPath, SOCKET_MODE);
  } catch (e) {
    throw new SocketDirError(path.dirname(socketPath), `cannot set ${socketPath} to 0600: ${(e as Error).message}`);
  }
}
