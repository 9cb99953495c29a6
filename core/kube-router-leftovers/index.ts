import { readFile } from 'node:fs/promises';
import type { Exec, ExecResult, Family } from '@krouter/sdk';
import { parseIptablesSave, selectIptables } from './iptables.ts';
import {
  parseIpsetTerse,
  parseLinks,
  parseNftTables,
  parseProcIpvs,
  parseRoutes,
  parseRules,
  selectIpsets,
  selectIpvs,
  selectLinks,
  selectNftTables,
  selectRoutes,
  selectRules,
} from './kernel.ts';
import { countObjects, formatLeftovers, iptablesTool, renderSteps, type IptablesBackend, type Leftovers } from './plan.ts';

export { formatLeftovers, renderSteps, type Leftovers } from './plan.ts';

/**
 * `krouter cleanup --kube-router`: the thin kernel edge. It reads the
 * kernel with the tools' own dump commands, hands the text to the pure
 * parsers and selectors (iptables.ts, kernel.ts, names.ts), prints the
 * listing, and with `remove` runs the rendered removal (plan.ts), then
 * reads everything again to show that nothing of kube-router's is left.
 */

const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];
const BACKENDS: readonly IptablesBackend[] = ['legacy', 'nft'];
export const PROC_IPVS = '/proc/net/ip_vs';

/** Shared with krouter, so never part of the listing. */
const KEPT = 'Kept (krouter\'s cni plugin adopts them): the kube-bridge bridge and the CNI config list.\n';

type Outcome = { ok: true; result: ExecResult } | { ok: false; why: string };

/** Runs a read; a missing tool or a failure becomes a reason instead of an exception. */
async function read(exec: Exec, command: string, args: string[]): Promise<Outcome> {
  try {
    const result = await exec.run(command, args, { allowFailure: true, timeoutMs: 60_000 });
    if (result.code !== 0) return { ok: false, why: `${command} ${args.join(' ')}: exit ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}` };
    return { ok: true, result };
  } catch (err) {
    const message = (err as Error).message;
    return { ok: false, why: /ENOENT/.test(message) ? `${command}: not installed` : message };
  }
}

export interface CollectOptions {
  /** Reads /proc/net/ip_vs; undefined when it does not exist. */
  readProcIpvs?: () => Promise<string | undefined>;
}

async function defaultReadProcIpvs(): Promise<string | undefined> {
  try {
    return await readFile(PROC_IPVS, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads the node and selects kube-router's objects. */
export async function collectLeftovers(exec: Exec, opts: CollectOptions = {}): Promise<Leftovers> {
  const l: Leftovers = { iptables: [], ipsets: [], nftTables: [], links: [], routes: [], rules: [], ipvs: [], skipped: [] };
  for (const backend of BACKENDS) {
    for (const family of FAMILIES) {
      const tool = iptablesTool(backend, family, 'save');
      const r = await read(exec, tool, []);
      if (!r.ok) {
        l.skipped.push(r.why);
        continue;
      }
      const tables = selectIptables(parseIptablesSave(r.result.stdout));
      if (tables.length) l.iptables.push({ backend, family, tables });
    }
  }
  const sets = await read(exec, 'ipset', ['list', '-terse']);
  if (sets.ok) l.ipsets = selectIpsets(parseIpsetTerse(sets.result.stdout));
  else l.skipped.push(sets.why);
  const nft = await read(exec, 'nft', ['-j', 'list', 'tables']);
  if (nft.ok) l.nftTables = selectNftTables(parseNftTables(nft.result.stdout || '{"nftables":[]}'));
  else l.skipped.push(nft.why);

  const links = await read(exec, 'ip', ['-details', '-json', 'link', 'show']);
  if (!links.ok) throw new Error(links.why); // iproute2 is required by krouter itself
  l.links = selectLinks(parseLinks(links.result.stdout));
  for (const family of FAMILIES) {
    const flag = family === 'ipv4' ? '-4' : '-6';
    const routes = await read(exec, 'ip', ['-d', '-N', '-json', flag, 'route', 'show', 'table', 'all']);
    if (routes.ok) l.routes.push(...selectRoutes(parseRoutes(routes.result.stdout || '[]', family)));
    else l.skipped.push(routes.why);
    const rules = await read(exec, 'ip', ['-N', '-json', flag, 'rule', 'show']);
    if (rules.ok) l.rules.push(...selectRules(parseRules(rules.result.stdout || '[]', family)));
    else l.skipped.push(rules.why);
  }

  const procIpvs = await (opts.readProcIpvs ?? defaultReadProcIpvs)();
  if (procIpvs === undefined) {
    l.skipped.push(`IPVS: not in this kernel (no ${PROC_IPVS}); no IPVS services to remove`);
  } else {
    let dummy: string[] = [];
    if (l.links.some((k) => k.name === 'kube-dummy-if')) {
      const addrs = await read(exec, 'ip', ['-json', 'addr', 'show', 'dev', 'kube-dummy-if']);
      if (addrs.ok) {
        const parsed = JSON.parse(addrs.result.stdout || '[]') as Array<{ addr_info?: Array<{ local?: string }> }>;
        dummy = parsed.flatMap((x) => (x.addr_info ?? []).map((a) => a.local ?? '')).filter(Boolean);
      }
    }
    l.ipvs = selectIpvs(parseProcIpvs(procIpvs), dummy);
  }
  return l;
}

export interface CleanupOptions extends CollectOptions {
  exec: Exec;
  out: (text: string) => void;
  /** Remove what is listed; without it, list only. */
  remove: boolean;
}

/** Lists (and with `remove`, removes) kube-router's leftovers. Resolves to the exit code. */
export async function runKubeRouterCleanup(opts: CleanupOptions): Promise<number> {
  const { exec, out } = opts;
  const found = await collectLeftovers(exec, opts);
  const n = countObjects(found);
  out(
    opts.remove
      ? 'kube-router leftovers on this node (removing them):\n\n'
      : 'kube-router leftovers on this node (listing only; `krouter cleanup --kube-router --yes` removes exactly these):\n\n',
  );
  out(formatLeftovers(found));
  out(KEPT);
  if (!opts.remove || n === 0) return 0;

  let failed = 0;
  out('\n');
  for (const step of renderSteps(found)) {
    let result: ExecResult;
    try {
      result = await exec.run(step.command, step.args, { input: step.input, allowFailure: true, timeoutMs: 120_000 });
    } catch (err) {
      failed++;
      out(`removing ${step.title}: FAILED: ${(err as Error).message}\n`);
      continue;
    }
    if (result.code === 0) out(`removed ${step.title}\n`);
    else {
      failed++;
      out(`removing ${step.title}: FAILED (${step.command} exit ${result.code}): ${result.stderr.trim()}\n`);
    }
  }
  const left = await collectLeftovers(exec, opts);
  const remaining = countObjects(left);
  if (remaining === 0 && failed === 0) {
    out(`\nRemoved ${n} kube-router object${n === 1 ? '' : 's'}; none left.\n`);
    return 0;
  }
  out(`\n${remaining} kube-router object${remaining === 1 ? '' : 's'} still present:\n\n${formatLeftovers(left)}`);
  return 1;
}
