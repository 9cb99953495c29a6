/**
 * Which of upstream's e2e specs the lab runs, and which it skips and why: a
 * pure table, so the list the README prints and the run obey the same source.
 *
 * A skip names what this lab lacks (a kernel feature, a cloud, a container
 * runtime, a component krouter replaces), never a spec that merely fails.
 */
import type { LabFamily } from '../config.ts';

/** The spec sets the lab runs by default, by name, as ginkgo focus regexes over a spec's full text. */
export const SPEC_SETS = {
  netpol: String.raw`\[sig-network\] Netpol `,
  services: String.raw`\[sig-network\] Services `,
  dualstack: String.raw`\[Feature:IPv6DualStack\]`,
} as const;

export type SpecSetName = keyof typeof SPEC_SETS;
export const SPEC_SET_NAMES = Object.keys(SPEC_SETS) as SpecSetName[];

export interface LabSkip {
  /** Regex over the spec's full text. */
  pattern: string;
  reason: string;
  /** Only in these family modes (all modes when absent). */
  modes?: readonly LabFamily[];
}

export const LAB_SKIPS: readonly LabSkip[] = [
  // Only the specs that send SCTP: two Netpol specs put an SCTP port in a policy
  // and probe over TCP (a plugin must not take it for TCP), and they run here.
  { pattern: String.raw`\[Feature:SCTPConnectivity\]|basic SCTP service`, reason: 'this kernel has no SCTP (no sctp module); krouter renders SCTP rules and unit-tests them' },
  { pattern: String.raw`should work after restarting kube-proxy`, reason: 'there is no kube-proxy: krouter is the service proxy (agent restarts are covered by the reliability suite)' },
  { pattern: String.raw`should work after restarting apiserver`, reason: "restarts the API server over SSH through a cloud provider's master access; the lab's own API-server outage case covers it" },
  { pattern: String.raw`Services should create endpoints for unready pods`, reason: "checks each pod through the API server's pod proxy; the API server runs in the root namespace, which the lab never routes pod ranges from" },
  { pattern: String.raw`should be rejected for evicted pods`, reason: 'needs the kubelet to evict a pod for its ephemeral-storage use (a container runtime)' },
  { pattern: String.raw`\[Feature:IPv6DualStack\]`, reason: 'dual-stack specs: the lab runs them in the dual mode', modes: ['ipv4', 'ipv6'] },
];

export interface RunPlan {
  /** The `--ginkgo.focus` regex. */
  focus: string;
  /** The `--ginkgo.skip` regex (empty: none). */
  skip: string;
  /** The lab skips that apply in this mode. */
  skips: LabSkip[];
}

/** The focus (a user's regex, or the union of the named sets) and this mode's skips. */
export function runPlan(mode: LabFamily, opts: { focus?: string; sets?: readonly SpecSetName[] } = {}): RunPlan {
  const sets = opts.sets?.length ? opts.sets : SPEC_SET_NAMES;
  const focus = opts.focus ?? sets.map((s) => SPEC_SETS[s]).join('|');
  const skips = LAB_SKIPS.filter((s) => !s.modes || s.modes.includes(mode));
  return { focus, skip: skips.map((s) => s.pattern).join('|'), skips };
}

/** The lab skip that takes a spec out of the run, if any. */
export function labSkipOf(specText: string, skips: readonly LabSkip[]): LabSkip | undefined {
  return skips.find((s) => new RegExp(s.pattern).test(specText));
}
