/**
 * Readiness probes from a node's network namespace, where a kubelet probes
 * from: pod addresses are routed there (the root namespace, where the lab
 * kubelets run, has no route to pods). One long-lived child per node,
 * started with `ip netns exec`, answers probe requests over its IPC channel.
 *
 * Run as a script (by startNetnsProber): `netns-prober.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

export type ProbeRequest = { kind: 'http'; host: string; port: number; path: string; scheme?: string; timeoutMs: number } | { kind: 'tcp'; host: string; port: number; timeoutMs: number };

export interface NetnsProber {
  probe(req: ProbeRequest): Promise<boolean>;
  close(): void;
}

/** `http://HOST:PORT/PATH` with IPv6 in brackets. */
export function probeUrl(req: { host: string; port: number; path: string; scheme?: string }): string {
  const host = req.host.includes(':') ? `[${req.host}]` : req.host;
  const path = req.path.startsWith('/') ? req.path : `/${req.path}`;
  return `${(req.scheme ?? 'HTTP').toLowerCase()}://${host}:${req.port}${path}`;
}

export function startNetnsProber(netns: string, log: (line: string) => void): NetnsProber {
  let child: ChildProcess | undefined;
  let next = 0;
  const pending = new Map<number, (ok: boolean) => void>();
  const ensure = (): ChildProcess => {
    if (child && child.exitCode === null && child.connected) return child;
    const c = spawn('ip', ['netns', 'exec', netns, process.execPath, SELF], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    c.on('message', (m: { id: number; ok: boolean }) => {
      pending.get(m.id)?.(m.ok);
      pending.delete(m.id);
    });
    c.on('exit', () => {
      // Whatever was asked of it is a failed probe; the next probe starts a new child.
      for (const done of pending.values()) done(false);
      pending.clear();
    });
    c.on('error', (e) => log(`prober in ${netns}: ${e.message}`));
    child = c;
    return c;
  };
  return {
    probe(req) {
      return new Promise((resolve) => {
        const id = ++next;
        pending.set(id, resolve);
        try {
          ensure().send({ id, req });
        } catch {
          pending.delete(id);
          resolve(false);
        }
      });
    },
    close() {
      if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

async function answer(req: ProbeRequest): Promise<boolean> {
  if (req.kind === 'tcp') {
    return new Promise((resolve) => {
      const s = net.connect({ host: req.host, port: req.port, timeout: req.timeoutMs });
      const done = (ok: boolean) => {
        s.destroy();
        resolve(ok);
      };
      s.once('connect', () => done(true));
      s.once('timeout', () => done(false));
      s.once('error', () => done(false));
    });
  }
  try {
    const res = await fetch(probeUrl(req), { signal: AbortSignal.timeout(req.timeoutMs), redirect: 'manual' });
    await res.body?.cancel();
    // A kubelet's httpGet probe: 200 <= status < 400 succeeds.
    return res.status >= 200 && res.status < 400;
  } catch {
    return false;
  }
}

if (process.argv[1] === SELF) {
  process.on('message', (m: { id: number; req: ProbeRequest }) => {
    void answer(m.req).then((ok) => process.send?.({ id: m.id, ok }));
  });
  // Ends with its parent: the IPC channel closing means the kubelet is gone.
  process.on('disconnect', () => process.exit(0));
}
