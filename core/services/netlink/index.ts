import { readFile, writeFile } from 'node:fs/promises';
import { KROUTER_ROUTE_PROTOCOL } from '@krouter/sdk';
import type { Address, ApplyResult, Family, Link, Logger, Netlink, NetlinkOp, OpError, Route, RouteFilter, Rule } from '@krouter/sdk';
import { Exec } from '../exec.ts';
import { IpBatchProcess } from './batch-process.ts';
import { loadProtocolNames, loadTableNames, registerProtocolName } from './names.ts';
import { parseAddresses, parseLinks, parseRoutes, parseRules, MAIN_TABLE } from './parse.ts';
import { interpretOutcome, planBatch, type PlannedLine } from './plan.ts';
import { checkLinkName, type Channel } from './render.ts';
import { checkSysctlValue, sysctlPath } from './sysctl.ts';

export { renderOp, OpValidationError } from './render.ts';

/** Ops rendered and written per step (~15 kB of text): small enough that ip starts at once. */
const CHUNK = 250;

export interface NetlinkServiceOptions {
  logger: Logger;
  /** Operate inside this named network namespace (`ip -n`, `ip netns exec`). */
  netns?: string;
  ipBinary?: string;
}

/** Lines written to one batch child and not yet confirmed. */
interface OpenRun {
  channel: Channel;
  proc: IpBatchProcess;
  lines: PlannedLine[];
  /** Every line so far may overlap the other channel's concurrent lines. */
  concurrent: boolean;
}

/** ip exited in the middle of a batch at a point that cannot be pinned on one op. */
export class NetlinkBatchError extends Error {
  constructor(
    message: string,
    /** Errors of ops that were confirmed before ip exited. */
    readonly errors: OpError[],
  ) {
    super(message);
    this.name = 'NetlinkBatchError';
  }
}

/**
 * Netlink through iproute2: writes go to long-lived `ip -force -batch -`
 * children (one call = one write of all lines), reads use `ip -json`.
 */
export class NetlinkService implements Netlink {
  private readonly logger: Logger;
  private readonly ip: string;
  private readonly netnsArgs: string[];
  private readonly exec = new Exec();
  private readonly processes = new Map<Channel, IpBatchProcess>();
  private queue: Promise<unknown> = Promise.resolve();
  private protocolNames: Map<string, number>;
  private readonly tableNames: Map<string, number>;
  private closed = false;

  constructor(private readonly opts: NetlinkServiceOptions) {
    this.logger = opts.logger.child({ service: 'netlink' });
    this.ip = opts.ipBinary ?? 'ip';
    this.netnsArgs = opts.netns ? ['-n', opts.netns] : [];
    registerProtocolName(this.logger);
    this.protocolNames = loadProtocolNames();
    this.tableNames = loadTableNames();
  }

  /** Pids of the batch children (for diagnostics and tests). */
  batchPids(): number[] {
    return [...this.processes.values()].map((p) => p.pid).filter((p): p is number => p !== undefined);
  }

  private process(channel: Channel): IpBatchProcess {
    let p = this.processes.get(channel);
    if (!p) {
      const args = channel === 'ipv6' ? [...this.netnsArgs, '-6'] : [...this.netnsArgs];
      p = new IpBatchProcess(this.ip, args, this.logger);
      this.processes.set(channel, p);
    }
    return p;
  }

  apply(ops: readonly NetlinkOp[]): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new Error('netlink service is closed'));
    // One batch at a time: the children's line counters and markers depend on it.
    const run = this.queue.then(() => this.applyNow(ops));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes the ops' lines to the batch children, one run per child. Runs of
   * concurrent lines (single-family routes) on the two children overlap, so
   * IPv4 and IPv6 routes go into the kernel at once; any other line is a
   * barrier: the other child's run is settled before it is written.
   */
  private async applyNow(ops: readonly NetlinkOp[]): Promise<ApplyResult> {
    const errors: OpError[] = [];
    const open = new Map<Channel, OpenRun>();

    // Waits for a run; when ip exited on one identified op, runs the lines after it again on a new process.
    const settleRun = async (run: OpenRun): Promise<void> => {
      let { proc, lines } = run;
      for (;;) {
        const result = interpretOutcome(lines, await proc.finish(), ops);
        errors.push(...result.errors);
        if (result.fatal) {
          const { reason, firstUnconfirmedOp, lastOp } = result.fatal;
          throw new Error(
            `ip batch process ${reason} during apply; ops ${firstUnconfirmedOp}..${lastOp} of ${ops.length} may or may not ` +
              `have been applied (earlier ops were, later ones were not); a new ip process is started on the next apply`,
          );
        }
        if (result.resumeFrom === undefined) return;
        lines = lines.slice(result.resumeFrom);
        if (!lines.some((l) => l.opIndex >= 0)) return;
        proc = this.process(run.channel);
        proc.begin();
        proc.write(lines.map((l) => l.text));
      }
    };
    // Settles the open runs of the given channels together; the first fatal failure is thrown after all ended.
    const settle = async (channels: Channel[]): Promise<void> => {
      const runs = channels.map((c) => open.get(c)!);
      for (const c of channels) open.delete(c);
      const outcomes = await Promise.allSettled(runs.map(settleRun));
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) {
        errors.sort((a, b) => a.index - b.index);
        throw new NetlinkBatchError((failed.reason as Error).message, errors);
      }
    };

    try {
      // Render and write in chunks: ip applies one chunk while the next is rendered.
      for (let from = 0; from < ops.length; from += CHUNK) {
        const plan = planBatch(ops, from, Math.min(ops.length, from + CHUNK));
        errors.push(...plan.errors);
        for (const segment of plan.segments) {
          const others = [...open.keys()].filter((c) => c !== segment.channel);
          const overlap = segment.concurrent && others.every((c) => open.get(c)!.concurrent);
          if (!overlap && others.length) await settle(others);
          let run = open.get(segment.channel);
          if (!run) {
            const proc = this.process(segment.channel);
            proc.begin();
            open.set(segment.channel, (run = { channel: segment.channel, proc, lines: [], concurrent: true }));
          }
          run.concurrent &&= segment.concurrent;
          for (const l of segment.lines) run.lines.push(l);
          run.proc.write(segment.lines.map((l) => l.text));
        }
        if (from + CHUNK < ops.length) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await settle([...open.keys()]);
    } finally {
      // A throw above left no run unsettled that a later apply would find busy.
      if (open.size) await Promise.allSettled([...open.values()].map(settleRun));
    }
    errors.sort((a, b) => a.index - b.index);
    for (const e of errors) this.logger.debug('netlink op failed', { index: e.index, message: e.message });
    return { ok: errors.length === 0, errors };
  }

  private async ipJson(args: string[]): Promise<unknown> {
    const { stdout } = await this.exec.run(this.ip, [...this.netnsArgs, '-json', ...args]);
    const text = stdout.trim();
    return text ? JSON.parse(text) : [];
  }

  async listLinks(): Promise<Link[]> {
    return parseLinks(await this.ipJson(['-details', 'link', 'show']));
  }

  async getLink(name: string): Promise<Link | undefined> {
    checkLinkName(name);
    const links = await this.listLinks();
    return links.find((l) => l.name === name);
  }

  async listAddresses(dev?: string): Promise<Address[]> {
    if (dev !== undefined) checkLinkName(dev, 'device');
    // Filtered here: `ip address show dev X` fails for a missing link, where "no addresses" is the answer.
    const all = parseAddresses(await this.ipJson(['address', 'show']));
    return dev === undefined ? all : all.filter((a) => a.dev === dev);
  }

  async listRoutes(filter: RouteFilter): Promise<Route[]> {
    const family = checkFamily(filter?.family);
    const protocol = filter.protocol ?? KROUTER_ROUTE_PROTOCOL;
    const table = filter.table ?? MAIN_TABLE;
    if (!Number.isInteger(table) || table < 1 || table > 0xffffffff) throw new Error(`invalid route table ${JSON.stringify(table)}`);
    if (protocol !== 'all' && (!Number.isInteger(protocol) || protocol < 0 || protocol > 255)) {
      throw new Error(`invalid route protocol ${JSON.stringify(protocol)}`);
    }
    // -N: numbers, not names, which can be ambiguous across rt_protos files.
    const args = ['-N', family === 'ipv4' ? '-4' : '-6', 'route', 'show', 'table', String(table)];
    if (protocol !== 'all') args.push('proto', String(protocol));
    const routes = parseRoutes(await this.ipJson(args), {
      family,
      table,
      protocol: protocol === 'all' ? undefined : protocol,
      protocolNames: this.protocolNames,
      tableNames: this.tableNames,
    });
    // Belt and braces: never hand out another protocol's routes as ours.
    return protocol === 'all' ? routes : routes.filter((r) => r.protocol === protocol);
  }

  async listRules(family: Family): Promise<Rule[]> {
    checkFamily(family);
    return parseRules(await this.ipJson(['-N', family === 'ipv4' ? '-4' : '-6', 'rule', 'show']), family, this.tableNames);
  }

  async getSysctl(key: string): Promise<string> {
    const path = sysctlPath(key);
    if (!this.opts.netns) return (await readFile(path, 'utf8')).trim();
    const { stdout } = await this.exec.run(this.ip, ['netns', 'exec', this.opts.netns, 'sysctl', '-n', key]);
    return stdout.trim();
  }

  async setSysctl(key: string, value: string | number): Promise<void> {
    const path = sysctlPath(key);
    const text = checkSysctlValue(key, value);
    if (!this.opts.netns) {
      await writeFile(path, text);
      return;
    }
    await this.exec.run(this.ip, ['netns', 'exec', this.opts.netns, 'sysctl', '-q', '-w', `${key}=${text}`]);
  }

  /** Ends the batch children after the queued batches. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await Promise.all([...this.processes.values()].map((p) => p.close()));
    this.processes.clear();
  }
}

function checkFamily(family: unknown): Family {
  if (family !== 'ipv4' && family !== 'ipv6') throw new Error(`invalid family ${JSON.stringify(family)} (ipv4 or ipv6)`);
  return family;
}
