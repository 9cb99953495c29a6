/**
 * Memory settings of the long-running agent that only take effect when a
 * process starts: `krouter run` re-executes itself once (process.execve:
 * same PID, same arguments, same open files) with them, before any other
 * module is evaluated. Imported first by core/main.ts for that reason.
 *
 * - glibc's malloc serves blocks below its mmap threshold (128 KB and
 *   growing) from the heap and keeps freed ones: a burst of BGP updates
 *   (each IPv6 path arrives with its UPDATE's whole MP_REACH_NLRI, tens of
 *   KB) left ~40-60 MB of freed buffers resident. With a 16 KB threshold
 *   those buffers are mapped and unmapped on their own. Measured with the
 *   router and 10,000 routes per family: agent RSS 172 -> 132 MB.
 * - V8's young generation grows to 16 MB semi-spaces in such a burst and
 *   stays there; the agent caps it (young-generation.ts says how much and
 *   why). The single executable gets this flag from its build
 *   (build/sea.ts); `node dist/krouter.cjs` gets it here.
 *
 * Nothing happens when the settings are already there (set by the operator
 * or by the previous exec), on runtimes without process.execve (Deno), or
 * for the short-lived subcommands.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { SEMI_SPACE_FLAG } from './young-generation.ts';

const TUNABLE = 'glibc.malloc.mmap_threshold';
const MMAP_THRESHOLD = 16 * 1024;

function isSea(): boolean {
  try {
    // Looked up at run time: node:sea is absent on some runtimes.
    return (createRequire(join(process.cwd(), 'x.js'))('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

/** The exec to make, or undefined when this process already runs with the settings. Pure. */
export function tunedExec(p: {
  platform: string;
  argv: readonly string[];
  execArgv: readonly string[];
  execPath: string;
  env: Readonly<Record<string, string | undefined>>;
  sea: boolean;
}): { file: string; args: string[]; env: Record<string, string | undefined> } | undefined {
  if (p.platform !== 'linux') return undefined;
  // Only the daemon: `krouter run ...` (the CLI takes the subcommand first).
  if (p.argv[2] !== 'run') return undefined;
  const tunables = p.env.GLIBC_TUNABLES ?? '';
  const needTunable = !tunables.split(':').some((t) => t.startsWith(`${TUNABLE}=`));
  const needFlag = !p.sea && !p.execArgv.some((a) => a.startsWith('--max-semi-space-size'));
  if (!needTunable && !needFlag) return undefined;
  const env = { ...p.env, ...(needTunable ? { GLIBC_TUNABLES: [tunables, `${TUNABLE}=${MMAP_THRESHOLD}`].filter(Boolean).join(':') } : {}) };
  // A single executable is its own script: its argv[1] repeats the binary.
  const args = p.sea
    ? [p.execPath, ...p.argv.slice(2)]
    : [p.execPath, ...(needFlag ? [SEMI_SPACE_FLAG] : []), ...p.execArgv, ...p.argv.slice(1)];
  return { file: p.execPath, args, env };
}

const exec = tunedExec({
  platform: process.platform,
  argv: process.argv,
  execArgv: process.execArgv,
  execPath: process.execPath,
  env: process.env,
  sea: isSea(),
});
const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never }).execve;
if (exec && typeof execve === 'function') {
  try {
    execve(exec.file, exec.args, exec.env);
  } catch {
    // Not replaced (e.g. the binary is not executable by this user): run untuned.
  }
}
