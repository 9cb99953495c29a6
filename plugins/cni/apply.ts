import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger, Netlink, NetlinkOp, Nftables } from '@krouter/sdk';
import type { Sysctl } from './render.ts';

export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes the file atomically (temp file in the same directory, then rename),
 * so a container runtime never reads half a config. The temp name does not
 * end in .conf/.conflist/.json, so the runtime never picks it up either.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** Sets the sysctls that differ; `ifPresent` ones are skipped when the key does not exist. */
export async function applySysctls(netlink: Netlink, sysctls: readonly Sysctl[], logger: Logger): Promise<void> {
  for (const s of sysctls) {
    let current: string;
    try {
      current = await netlink.getSysctl(s.key);
    } catch (err) {
      if (s.ifPresent) continue;
      const message = (err as Error).message;
      throw message.includes(s.key) ? err : new Error(`sysctl ${s.key}: ${message}`);
    }
    if (current.trim() === s.value) continue;
    await netlink.setSysctl(s.key, s.value);
    logger.info('sysctl set', { key: s.key, value: s.value });
  }
}

/** Applies ops and turns per-op failures into one error naming each failed op. */
export async function applyOps(netlink: Netlink, ops: readonly NetlinkOp[]): Promise<void> {
  if (ops.length === 0) return;
  const res = await netlink.apply(ops);
  if (!res.ok) {
    throw new Error(res.errors.map((e) => `${JSON.stringify(e.op)}: ${e.message}`).join('; '));
  }
}

export async function deleteTableIfExists(nft: Nftables, table: { family: 'inet'; name: string }): Promise<boolean> {
  if (!(await nft.tableExists(table))) return false;
  await nft.deleteTable(table);
  return true;
}
