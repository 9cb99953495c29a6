/**
 * Runs a CNI network configuration list the way libcni does: each plugin in
 * turn with its own config plus the list's name/cniVersion, the previous
 * plugin's result as prevResult, and runtimeConfig for the capabilities it
 * declares. The plugins run inside the node's network namespace, with the
 * node's own /var/lib/cni mounted (host-local keeps its leases there).
 */
import { spawn } from 'node:child_process';
import { parseIP, tryFamilyOf, type Family } from '../../../sdk/src/families.ts';
import { nodeExecArgv, type Mount } from './container.ts';

export const CNI_PATH = '/usr/lib/cni';

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, any> & { type: string }>;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface CniInvocation {
  command: 'ADD' | 'DEL' | 'CHECK';
  containerId: string;
  /** Path of the pod's namespace, /var/run/netns/<name>. */
  netnsPath: string;
  ifName: string;
  /** K8S_POD_NAMESPACE etc. */
  args: Record<string, string>;
  runtimeConfig: { portMappings?: PortMapping[] };
}

/** Parses and checks a conflist file's text; errors name the file. */
export function parseConflist(text: string, file: string): Conflist {
  let c: any;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof c?.name !== 'string' || typeof c?.cniVersion !== 'string') throw new Error(`${file}: needs string "name" and "cniVersion"`);
  if (!Array.isArray(c.plugins) || c.plugins.length === 0) throw new Error(`${file}: needs a non-empty "plugins" list`);
  c.plugins.forEach((p: any, i: number) => {
    if (typeof p?.type !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(p.type)) throw new Error(`${file}: plugins[${i}].type must be a plugin name`);
  });
  return c as Conflist;
}

/** The stdin of one plugin invocation (libcni's buildOneConfig + injectRuntimeConfig). */
export function pluginStdin(list: Conflist, index: number, inv: Pick<CniInvocation, 'runtimeConfig'>, prevResult?: unknown): Record<string, unknown> {
  const plugin = list.plugins[index]!;
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
  const rc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inv.runtimeConfig)) if (caps[k] && v !== undefined) rc[k] = v;
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  delete conf.capabilities;
  return conf;
}

export function cniEnv(inv: CniInvocation): Record<string, string> {
  return {
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netnsPath,
    CNI_IFNAME: inv.ifName,
    CNI_PATH,
    CNI_ARGS: ['IgnoreUnknown=1', ...Object.entries(inv.args).map(([k, v]) => `${k}=${v}`)].join(';'),
  };
}

/** The pod IPs a CNI result gives, ipv4 first, one per family (the first of each). */
export function resultIPs(result: any): Partial<Record<Family, string>> {
  const out: Partial<Record<Family, string>> = {};
  for (const entry of result?.ips ?? []) {
    const addr = String(entry?.address ?? '').split('/')[0]!;
    const fam = tryFamilyOf(addr);
    if (fam && !out[fam]) out[fam] = parseIP(addr).address;
  }
  return out;
}

export class CniError extends Error {}

/** Runs one plugin binary in the node namespace; resolves with its parsed stdout. */
export function execPlugin(nodeNetns: string, type: string, env: Record<string, string>, stdin: unknown, mounts: readonly Mount[] = []): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const argv = nodeExecArgv(nodeNetns, mounts, ['env', ...envArgs, `${CNI_PATH}/${type}`]);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new CniError(`${type} ${env.CNI_COMMAND}: ${e.message}`)));
    child.on('close', (code) => {
      let parsed: any;
      try {
        parsed = out.trim() ? JSON.parse(out) : undefined;
      } catch {
        parsed = undefined;
      }
      if (code !== 0) {
        const why = parsed?.msg ? `${parsed.msg}${parsed.details ? `: ${parsed.details}` : ''}` : (err || out).trim();
        reject(new CniError(`${type} ${env.CNI_COMMAND} failed (exit ${code}): ${why}`));
      } else resolve(parsed);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(stdin));
  });
}

/** ADD through the whole list; returns the last plugin's result. */
export async function cniAdd(nodeNetns: string, list: Conflist, inv: Omit<CniInvocation, 'command'>, mounts: readonly Mount[] = []): Promise<unknown> {
  let prev: unknown;
  const env = cniEnv({ ...inv, command: 'ADD' });
  for (let i = 0; i < list.plugins.length; i++) {
    prev = await execPlugin(nodeNetns, list.plugins[i]!.type, env, pluginStdin(list, i, inv, prev), mounts);
  }
  return prev;
}

/** DEL in reverse order with the cached ADD result; every plugin runs even if one fails. */
export async function cniDel(nodeNetns: string, list: Conflist, inv: Omit<CniInvocation, 'command'>, cachedResult?: unknown, mounts: readonly Mount[] = []): Promise<string[]> {
  const env = cniEnv({ ...inv, command: 'DEL' });
  const errors: string[] = [];
  for (let i = list.plugins.length - 1; i >= 0; i--) {
    try {
      await execPlugin(nodeNetns, list.plugins[i]!.type, env, pluginStdin(list, i, inv, cachedResult), mounts);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return errors;
}
