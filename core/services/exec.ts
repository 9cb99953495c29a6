import { spawn } from 'node:child_process';
import type { Exec as ExecService, ExecOptions, ExecResult, LogFields } from '@krouter/sdk';

/** The core logger's trace level (-v 4 and up), when the logger has one. */
export interface TraceLog {
  trace?(message: string, fields?: LogFields): void;
}

/** A command that failed: names the command line and carries its stderr. */
export class ExecError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly result: ExecResult,
  ) {
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join(' | ');
    super(`${command} ${args.join(' ')}: exit ${result.code}${detail ? `: ${detail}` : ''}`);
    this.name = 'ExecError';
  }
}

/** Runs a command without a shell, collecting output; each command is logged at trace. */
export class Exec implements ExecService {
  constructor(private readonly log?: TraceLog) {}

  run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: options.env ? { ...process.env, ...options.env } : process.env,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timer: NodeJS.Timeout | undefined;
      if (options.timeoutMs) {
        timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
      }
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        if (timer) clearTimeout(timer);
        reject(new Error(`${command}: ${e.message}`));
      });
      child.on('close', (code, sig) => {
        if (timer) clearTimeout(timer);
        const result: ExecResult = {
          code: code ?? (sig ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8') + (sig ? `\nkilled by ${sig}` : ''),
        };
        this.log?.trace?.('command run', { command, args: args.join(' '), code: result.code, ms: Date.now() - started, stdinBytes: options.input?.length ?? 0 });
        if (result.code !== 0 && !options.allowFailure) reject(new ExecError(command, args, result));
        else resolve(result);
      });
      child.stdin.on('error', () => undefined); // child may exit before reading
      child.stdin.end(options.input ?? '');
    });
  }
}
