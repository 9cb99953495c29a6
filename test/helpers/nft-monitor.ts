import { inNetns } from './netns.ts';
import { startProcess, stopProcess } from './processes.ts';

/**
 * `nft monitor` in a namespace: the kernel reports every committed nftables
 * transaction to it, so a test learns when a change reached the kernel as it
 * happens, without polling. Polling would distort what it measures: one
 * `nft list` of a table with tens of thousands of services costs the CPU the
 * measured process is using at that moment.
 */
export interface NftMonitor {
  /**
   * `performance.now()` at which the first event line matching `pattern`
   * arrived at or after `since` (a `performance.now()` value). Throws, with
   * the last events, after `timeoutMs`.
   */
  waitFor(pattern: RegExp, since: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

interface Line {
  at: number;
  text: string;
}

/** Lines kept for waitFor's look-back and error messages. */
const KEEP_LINES = 2000;
/** A table the monitor is asked about until it reports it: then it is listening. */
const PROBE_TABLE = 'krouter-test-monitor-probe';

export async function startNftMonitor(ns: string, readyTimeoutMs = 300_000): Promise<NftMonitor> {
  const child = startProcess('ip', ['netns', 'exec', ns, 'nft', 'monitor']);
  const lines: Line[] = [];
  const waiters = new Set<(l: Line) => void>();
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    const at = performance.now();
    const parts = (partial + d.toString('utf8')).split('\n');
    partial = parts.pop()!;
    for (const text of parts) {
      const line = { at, text };
      lines.push(line);
      for (const w of waiters) w(line);
    }
    if (lines.length > KEEP_LINES) lines.splice(0, lines.length - KEEP_LINES);
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));

  const waitFor = (pattern: RegExp, since: number, timeoutMs: number) =>
    new Promise<number>((resolve, reject) => {
      const seen = lines.find((l) => l.at >= since && pattern.test(l.text));
      if (seen) return resolve(seen.at);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(onLine);
      };
      const onLine = (l: Line) => {
        if (l.at >= since && pattern.test(l.text)) {
          done();
          resolve(l.at);
        }
      };
      const timer = setTimeout(() => {
        done();
        const last = lines.slice(-20).map((l) => l.text).join('\n');
        reject(new Error(`nft monitor in ${ns}: no event matching ${pattern} within ${timeoutMs} ms${stderr ? ` (stderr: ${stderr.trim()})` : ''}; last events:\n${last}`));
      }, timeoutMs);
      waiters.add(onLine);
    });
  const monitor: NftMonitor = { waitFor, stop: () => stopProcess(child) };

  // nft monitor reports events only after it has read the ruleset, seconds at tens
  // of thousands of services; until then events are lost. Create and delete a table
  // of its own until the monitor reports one. Each probe changes the ruleset's
  // generation, which makes nft start its reading over: probe less and less often,
  // or a reading longer than the interval never ends.
  const deadline = performance.now() + readyTimeoutMs;
  try {
    for (let interval = 250; ; interval = Math.min(2 * interval, 32_000)) {
      if (child.exitCode !== null) throw new Error(`nft monitor in ${ns} exited (${child.exitCode}): ${stderr}`);
      const since = performance.now();
      inNetns(ns, 'nft', ['add', 'table', 'inet', PROBE_TABLE]);
      inNetns(ns, 'nft', ['delete', 'table', 'inet', PROBE_TABLE]);
      const ok = await waitFor(new RegExp(`^delete table inet ${PROBE_TABLE}$`), since, interval).then(
        () => true,
        () => false,
      );
      if (ok) return monitor;
      if (performance.now() > deadline) throw new Error(`nft monitor in ${ns} did not report its probe table within ${readyTimeoutMs} ms: ${stderr}`);
    }
  } catch (e) {
    await monitor.stop();
    throw e;
  }
}

/** Matches an event that adds something naming this IPv4 address (and not a longer one it is a prefix of). */
export function addsAddress(ip: string): RegExp {
  return new RegExp(`^add .*[^\\d.]${ip.replaceAll('.', '\\.')}(?![\\d])`);
}
