import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProcess } from './processes.ts';

/**
 * A running `krouter run` (the executable, the bundle under Deno, ...)
 * started through processes.ts so it is stopped by PID even when a test fails.
 */
export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  /** Base URLs from the agent's `listening` log lines. */
  healthUrl: string;
  metricsUrl: string;
  /** Every stdout/stderr line so far (JSON log lines and anything else). */
  lines: string[];
  /** Resolves with the exit status once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Text of all output, for assertion messages. */
  output(): string;
}

export interface StartAgentOptions {
  env?: Record<string, string>;
  /** Give up waiting for both `listening` lines after this long (a failure, not a timing check). */
  startTimeoutMs?: number;
}

/** Writes a config file (JSON is YAML) into a fresh temp dir; returns its path. */
export function writeConfig(config: unknown, dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-cfg-'))): string {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/** Starts the agent and resolves when it has logged both listening endpoints. */
export async function startAgent(command: string, args: string[], opts: StartAgentOptions = {}): Promise<AgentProcess> {
  const child = startProcess(command, args, { env: { ...process.env, ...opts.env } });
  const lines: string[] = [];
  const urls: Record<string, string> = {};
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let notify = () => undefined as void;
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      rest += chunk;
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        const entry = parseJson(line);
        if (entry?.msg === 'listening' && typeof entry.endpoint === 'string' && typeof entry.url === 'string') {
          urls[entry.endpoint] = entry.url.replace(/\/+$/, '');
          notify();
        }
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const output = () => lines.join('\n');

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent did not log both listening endpoints in ${opts.startTimeoutMs ?? 60_000} ms:\n${output()}`)),
      opts.startTimeoutMs ?? 60_000,
    );
    notify = () => {
      if (urls.health && urls.metrics) {
        clearTimeout(timer);
        resolve();
      }
    };
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`agent exited (code ${code}, signal ${signal}) before listening:\n${output()}`));
    });
  });
  return { child, pid: child.pid!, healthUrl: urls.health!, metricsUrl: urls.metrics!, lines, exited, output };
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * GET `url`: directly, or with curl inside network namespace `netns` (an
 * agent there listens on that namespace's loopback, which this process
 * cannot reach).
 */
export async function httpGet(url: string, netns?: string): Promise<{ status: number; body: string }> {
  if (!netns) {
    const res = await fetch(url);
    return { status: res.status, body: await res.text() };
  }
  const marker = '\n__status__:';
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      'ip',
      ['netns', 'exec', netns, 'curl', '-sS', '--max-time', '10', '-o', '-', '-w', `${marker}%{http_code}`, url],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`curl ${url} in ${netns}: ${stderr || err.message}`)) : resolve(stdout)),
    ),
  );
  const i = out.lastIndexOf(marker);
  return { status: Number(out.slice(i + marker.length)), body: out.slice(0, i) };
}

/** Polls `url` until it answers `status`; rejects with the last answer after `timeoutMs`. */
export async function waitForStatus(
  url: string,
  opts: { status?: number; timeoutMs?: number; intervalMs?: number; netns?: string } = {},
): Promise<string> {
  const { status = 200, timeoutMs = 60_000, intervalMs = 20, netns } = opts;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const res = await httpGet(url, netns);
      if (res.status === status) return res.body;
      last = `${res.status} ${res.body.slice(0, 500)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms; last: ${last}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Polls /metrics until `predicate` holds for the text; returns that text. */
export async function waitForMetrics(
  metricsUrl: string,
  predicate: (text: string) => boolean,
  opts: { timeoutMs?: number; netns?: string } = {},
): Promise<string> {
  const { timeoutMs = 60_000, netns } = opts;
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    try {
      text = (await httpGet(`${metricsUrl}/metrics`, netns)).body;
      if (predicate(text)) return text;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`metrics never matched within ${timeoutMs} ms; last scrape:\n${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One sample's value from Prometheus text, or undefined. `labels` must all match. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Resident set size of a process in kB, from /proc/PID/status. */
export function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** PIDs of the direct children of `pid`. */
export function childPids(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Descendant PIDs with their command names (comm), depth-first. */
export function descendants(pid: number): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (const c of childPids(pid)) {
    let comm = '';
    try {
      comm = fs.readFileSync(`/proc/${c}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    out.push({ pid: c, comm }, ...descendants(c));
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it has exited though.
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * A config running only the bgp-metrics example plugin with its own BGP
 * (no listener, so nothing leaves the namespace) and ephemeral ports.
 */
export function exampleAgentConfig(opts: { dir: string; pluginPath: string; startBgp?: boolean; pluginConfig?: Record<string, unknown> }): string {
  return writeConfig(
    {
      nodeName: 'test-node',
      families: 'dual',
      log: { level: 'debug' },
      metrics: { address: '127.0.0.1', port: 0 },
      health: { address: '127.0.0.1', port: 0 },
      gobgp: { socket: path.join(opts.dir, 'gobgp.sock') },
      externalPlugins: [
        {
          path: opts.pluginPath,
          config: {
            intervalSeconds: 1,
            ...(opts.startBgp ? { startBgp: { asn: 64512, routerId: '198.18.0.1' } } : {}),
            ...opts.pluginConfig,
          },
        },
      ],
    },
    opts.dir,
  );
}
