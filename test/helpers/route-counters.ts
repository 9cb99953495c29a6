/**
 * Cheap watchers for a route-ingest race: how many destinations a gobgpd
 * holds, asked over its gRPC API on one connection (no CLI process per
 * look), and how many routes of a protocol a namespace's kernel has added,
 * reported by the kernel itself (`ip monitor route`: no process per look).
 * A bench that spawned `gobgp` and `ip` CLIs every 10 ms while the agent
 * raced gobgpd took a good part of a 2-core machine from both.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { GobgpClient } from '../../core/services/gobgp/client.ts';
import { familyToApi } from '../../core/services/gobgp/encode.ts';
import type { Family } from './bgp-peers.ts';
import { startProcess, stopProcess } from './processes.ts';

/** A host route in the test range, of a protocol nothing else uses: the monitor's readiness probe. */
const PROBE_ROUTE = '198.18.255.254';
const PROBE_PROTOCOL = 250;

export class GobgpTableCounter {
  private readonly client: GobgpClient;

  constructor(socket: string) {
    this.client = new GobgpClient(socket);
  }

  async destinations(family: Family): Promise<number> {
    const r = await this.client.unary<{ num_destination?: number }>('GetTable', { table_type: 'GLOBAL', family: familyToApi(family), name: '' });
    return Number(r.num_destination ?? 0);
  }

  close(): void {
    this.client.close();
  }
}

/** Counts the destinations the kernel of `ns` adds routes of one of `protocols` for, per family, from the moment it is started. */
export class KernelRouteAdds {
  /** Destinations added, per family (a route replaced again counts once). */
  private readonly added: Record<Family, Set<string>> = { ipv4: new Set(), ipv6: new Set() };
  private readonly waiters = new Set<() => void>();
  private readonly child: ChildProcess;
  private partial = '';

  private sawProbe = false;

  private constructor(
    ns: string,
    protocols: readonly string[],
  ) {
    this.child = startProcess('ip', ['-n', ns, 'monitor', 'route']);
    // ip prints a protocol by its name when rt_protos names it (krouter registers one).
    const proto = new RegExp(`\\bproto (?:${protocols.join('|')})\\b`);
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) {
        if (line.includes(PROBE_ROUTE)) this.sawProbe = true;
        if (line.startsWith('Deleted') || !proto.test(line)) continue;
        const dst = line.split(' ', 1)[0]!;
        this.added[dst.includes(':') ? 'ipv6' : 'ipv4'].add(dst);
      }
      for (const w of this.waiters) w();
    });
  }

  /**
   * Started and listening: a probe route (its own protocol, on lo) is added
   * until the monitor reports it, then removed, so no add after this is missed.
   */
  static async start(ns: string, protocols: readonly string[]): Promise<KernelRouteAdds> {
    const m = new KernelRouteAdds(ns, protocols);
    for (let tries = 0; !m.sawProbe; tries++) {
      if (tries === 100) {
        await m.stop();
        throw new Error(`ip monitor route in ${ns} reported no probe route`);
      }
      execFileSync('ip', ['-n', ns, 'route', 'replace', PROBE_ROUTE, 'dev', 'lo', 'proto', String(PROBE_PROTOCOL)]);
      await new Promise((r) => setTimeout(r, 20));
    }
    execFileSync('ip', ['-n', ns, 'route', 'del', PROBE_ROUTE, 'dev', 'lo', 'proto', String(PROBE_PROTOCOL)]);
    return m;
  }

  count(family: Family): number {
    return this.added[family].size;
  }

  /** Resolves when `want(counts)` holds, checked on every report. */
  until(want: (count: (f: Family) => number) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!want((f) => this.added[f].size)) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  stop(): Promise<void> {
    return stopProcess(this.child);
  }
}
