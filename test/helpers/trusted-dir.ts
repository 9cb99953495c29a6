/**
 * External plugins load only from paths owned by root (or the agent's user)
 * and writable by nobody else, all the way up to / (core/host/plugin-path.ts).
 * The temp directory (/tmp, mode 1777) and a checkout under it do not pass,
 * so tests put the plugin files they load here: a fresh directory under
 * /run/krouter-test (root) or ~/.cache/krouter-test (anyone else), removed
 * when the test process exits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
let hooked = false;

function base(): string {
  const dir = process.geteuid?.() === 0 ? '/run/krouter-test' : path.join(os.homedir(), '.cache', 'krouter-test');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** A fresh directory whose whole path passes the external plugin path rules. */
export function trustedDir(prefix = 'plugins-'): string {
  const dir = fs.mkdtempSync(path.join(base(), prefix));
  made.push(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const d of made) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** Writes `text` to a file named `name` in a fresh trusted directory (mode 0644). */
export function trustedFile(name: string, text: string, dir = trustedDir()): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  fs.chmodSync(file, 0o644);
  return file;
}

/** A copy of `file` in a fresh trusted directory, under the same name (mode 0644). */
export function trustedCopy(file: string, dir = trustedDir()): string {
  return trustedFile(path.basename(file), fs.readFileSync(file, 'utf8'), dir);
}
