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

/**
 * Counts the destinations the kernel of `ns` adds routes of one of
 * `protocols` for, per family, from the moment it is started. The monitor
 * can lose messages when routes come faster than it is read (its netlink
 * socket overflows: ip says so on stderr); from then on the kernel's own
 * table is counted instead, every 20 ms.
 */
export class KernelRouteAdds {
  /** Destinations added, per family (a route replaced again counts once). */
  private readonly added: Record<Family, Set<string>> = { ipv4: new Set(), ipv6: new Set() };
  private readonly waiters = new Set<() => void>();
  private readonly child: ChildProcess;
  private partial = '';
  /** Routes of the protocols in the table when started: a count of the table is offset by them. */
  private readonly before: Record<Family, number>;
  /** Set once the monitor reported lost messages: counted from the table, every 20 ms. */
  private polling?: NodeJS.Timeout;
  private counted: Record<Family, number> | undefined;

  private sawProbe = false;

  private constructor(
    private readonly ns: string,
    private readonly protocols: readonly string[],
  ) {
    this.before = { ipv4: this.tableCount('ipv4'), ipv6: this.tableCount('ipv6') };
    this.child = startProcess('ip', ['-n', ns, 'monitor', 'route']);
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (text: string) => {
      if (this.polling || !/No buffer space|receive error/i.test(text)) return;
      process.stderr.write(`  ip monitor in ${ns} lost messages (${text.trim()}); counting the kernel's table from now on\n`);
      this.polling = setInterval(() => {
        this.counted = { ipv4: this.tableCount('ipv4') - this.before.ipv4, ipv6: this.tableCount('ipv6') - this.before.ipv6 };
        for (const w of this.waiters) w();
      }, 20);
    });
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

  /** Routes of the protocols in the table now (spawns ip: only after the monitor lost messages). */
  private tableCount(family: Family): number {
    const out = execFileSync('ip', ['-n', this.ns, family === 'ipv4' ? '-4' : '-6', 'route', 'show', 'table', 'all'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const proto = new RegExp(`\\bproto (?:${this.protocols.join('|')})\\b`);
    return out.split('\n').filter((l) => proto.test(l)).length;
  }

  count(family: Family): number {
    return Math.max(this.added[family].size, this.counted?.[family] ?? 0);
  }

  /** Resolves when `want(counts)` holds, checked on every report. */
  until(want: (count: (f: Family) => number) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!want((f) => this.count(f))) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  stop(): Promise<void> {
    if (this.polling) clearInterval(this.polling);
    return stopProcess(this.child);
  }
}
