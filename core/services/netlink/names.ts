import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KROUTER_ROUTE_PROTOCOL, type Logger } from '@krouter/sdk';
import { DEFAULT_PROTOCOL_NAMES, DEFAULT_TABLE_NAMES, parseNameFile, type NameTable } from './parse.ts';

/** iproute2's name tables (rt_protos, rt_tables), read so `ip -json` names can be turned back into numbers. */

const IPROUTE2_DIR = '/etc/iproute2';

function readTable(base: string, defaults: NameTable, dir: string): Map<string, number> {
  const out = new Map(defaults);
  const files = [join(dir, base)];
  try {
    for (const f of readdirSync(join(dir, `${base}.d`)).sort()) if (f.endsWith('.conf')) files.push(join(dir, `${base}.d`, f));
  } catch {
    /* no drop-in directory */
  }
  for (const file of files) {
    try {
      for (const [name, num] of parseNameFile(readFileSync(file, 'utf8'))) out.set(name, num);
    } catch {
      /* unreadable: the defaults still cover the common names */
    }
  }
  return out;
}

export function loadProtocolNames(dir = IPROUTE2_DIR): Map<string, number> {
  return readTable('rt_protos', DEFAULT_PROTOCOL_NAMES, dir);
}

export function loadTableNames(dir = IPROUTE2_DIR): Map<string, number> {
  return readTable('rt_tables', DEFAULT_TABLE_NAMES, dir);
}

/**
 * Registers `201 krouter` so `ip route` shows krouter's routes by name.
 * Best effort: a read-only /etc only costs readability.
 */
export function registerProtocolName(logger: Logger, dir = IPROUTE2_DIR): void {
  const file = join(dir, 'rt_protos.d', 'krouter.conf');
  const content = `# route protocol of krouter's routes\n${KROUTER_ROUTE_PROTOCOL} krouter\n`;
  try {
    try {
      if (readFileSync(file, 'utf8') === content) return;
    } catch {
      /* missing: write it */
    }
    mkdirSync(join(dir, 'rt_protos.d'), { recursive: true });
    writeFileSync(file, content);
  } catch (e) {
    logger.debug('could not register the krouter route protocol name', { file, error: (e as Error).message });
  }
}
