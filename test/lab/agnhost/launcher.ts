/**
 * How containers of the agnhost image reach the lab's agnhost: a two-line
 * shell script, written once per lab into the state directory, that runs
 * main.ts with this Node; the kubelet bind-mounts it at /agnhost in the
 * container's processes, so `/agnhost netexec ...` works as a container
 * command, in `kubectl exec` and from a shell script alike.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { shQuote, type Mount } from '../kubelet/container.ts';
import { AGNHOST_ENTRYPOINT } from '../kubelet/pod.ts';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.ts');

/** The launcher's text: Node runs main.ts as is (type stripping, no loader: a quick start for the many short `connect` runs). */
export function launcherScript(nodeBin: string, main: string): string {
  return `#!/bin/sh\nexec ${shQuote(nodeBin)} --no-warnings ${shQuote(main)} "$@"\n`;
}

/** The mount that puts the launcher at /agnhost (written first when missing). */
export function agnhostMount(stateDir: string): Mount {
  const source = path.join(stateDir, 'agnhost', 'agnhost');
  if (!existsSync(source)) {
    mkdirSync(path.dirname(source), { recursive: true });
    writeFileSync(source, launcherScript(process.execPath, MAIN));
    chmodSync(source, 0o755);
  }
  return { source, target: AGNHOST_ENTRYPOINT, readOnly: true };
}
