/**
 * The lab's kubectl: the one built with the control plane (same version),
 * with the admin's kubeconfig.
 */
import path from 'node:path';
import { statePaths } from './config.ts';
import { run } from './proc.ts';
import type { LabState } from './state.ts';

/** `kubectl ARGS` against the lab as its admin: the argv and the environment. */
export function kubectlCommand(state: Pick<LabState, 'spec' | 'k8sBinDir'>, args: readonly string[]): { argv: string[]; env: NodeJS.ProcessEnv } {
  const bin = state.k8sBinDir ? path.join(state.k8sBinDir, 'kubectl') : 'kubectl';
  return { argv: [bin, ...args], env: { ...process.env, KUBECONFIG: statePaths.kubeconfig(state.spec.stateDir) } };
}

/** Runs kubectl, returns its stdout; throws with its stderr. */
export function runKubectl(state: Pick<LabState, 'spec' | 'k8sBinDir'>, args: readonly string[], input?: string): string {
  const { argv, env } = kubectlCommand(state, args);
  return run(argv, { env, input });
}
