import net from 'node:net';
import type { Family } from '@krouter/sdk';
import { PORTS, PROTOS, type Expect, type Proto } from './netpol-scenarios.ts';

/**
 * Reachability matrices probed from inside pods through the pod server's
 * control socket (test/lab/pod-server.mjs): every source pod probes every
 * other pod on every port, protocol and family at once, and the cells that
 * differ from the expectation are returned, one readable line each. Used by
 * the firewall's integration test; the lab's pods run the same server.
 */

export interface ProbeResult {
  ok: boolean;
  reply?: string;
  error?: string;
}

export interface ProbeRequest {
  host: string;
  port: number;
  proto: Proto;
  timeoutMs: number;
}

/** One request over a pod server's control socket: the probes run from inside that pod. */
export function probeFrom(socket: string, probes: readonly ProbeRequest[]): Promise<ProbeResult[]> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let buf = '';
    conn.on('data', (d) => (buf += d.toString()));
    conn.on('end', () => {
      try {
        resolve((JSON.parse(buf.trim().split('\n')[0]!) as { results: ProbeResult[] }).results);
      } catch (err) {
        reject(err);
      }
    });
    conn.on('error', reject);
    conn.end(`${JSON.stringify({ id: 1, probes })}\n`);
  });
}

export interface MatrixPod {
  /** `namespace/name`. */
  name: string;
  /** The pod server's control socket. */
  control: string;
  /** The pod's address per family. */
  address: Partial<Record<Family, string>>;
}

/**
 * Probes the full matrix and returns the wrong cells. A denied connection
 * shows as a timeout, so `deniedTimeoutMs` bounds every probe: allowed ones
 * answer within a few milliseconds on one machine.
 */
export async function wrongCells(pods: readonly MatrixPod[], families: readonly Family[], expect: Expect, deniedTimeoutMs = 400): Promise<string[]> {
  const wrong: string[] = [];
  await Promise.all(
    pods.map(async (from) => {
      const cells: Array<{ to: MatrixPod; f: Family; port: number; proto: Proto }> = [];
      for (const to of pods) if (to !== from) for (const f of families) for (const port of PORTS) for (const proto of PROTOS) cells.push({ to, f, port, proto });
      const results = await probeFrom(
        from.control,
        cells.map((c) => ({ host: c.to.address[c.f]!, port: c.port, proto: c.proto, timeoutMs: deniedTimeoutMs })),
      );
      results.forEach((r, i) => {
        const c = cells[i]!;
        const want = expect(from.name, c.to.name, c.port, c.proto);
        if (r.ok !== want) wrong.push(`${c.f} ${c.proto}/${c.port} ${from.name} -> ${c.to.name}: got ${r.ok ? 'allowed' : `denied (${r.error})`}, want ${want ? 'allowed' : 'denied'}`);
      });
    }),
  );
  return wrong.sort();
}
