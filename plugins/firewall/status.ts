import type { Family } from '@krouter/sdk';
import type { FirewallModel } from './model.ts';
import type { PodView } from './pods.ts';
import { matches } from './selectors.ts';

/** One policy in one family: the pods of this node it applies to. */
export interface FirewallPolicyStatus {
  policy: string;
  id: string;
  /** ingress, egress. */
  types: string[];
  /** This node's pods the policy applies to, as `namespace/name address`. */
  pods: string[];
}

/** What `krouter status` shows of the firewall. */
export interface FirewallStatus {
  table: string;
  defaultDeny: boolean;
  /** NetworkPolicies compiled (in every family). */
  policies: number;
  families: Partial<Record<Family, { policies: FirewallPolicyStatus[]; podsSelected: number }>>;
  problems: string[];
}

/** Pure: the compiled model and this node's pods -> the firewall's status. */
export function firewallStatus(
  model: FirewallModel | undefined,
  localPods: readonly PodView[],
  opts: { table: string; defaultDeny: boolean; families: readonly Family[] },
): FirewallStatus {
  const families = model?.families ?? opts.families;
  const compiled = model
    ? model.compiled.policies.map((p) => {
        const target = model.compiled.selectors.get(p.target)!;
        const pods = localPods.filter((pod) => target.namespaces.has(pod.namespace) && matches(target.podSelector, pod.labels));
        return { policy: p.key, id: p.id, types: [...p.directions], pods };
      })
    : [];
  return {
    table: opts.table,
    defaultDeny: opts.defaultDeny,
    policies: compiled.length,
    families: Object.fromEntries(
      families.map((f) => {
        const policies = compiled.map((p) => ({ policy: p.policy, id: p.id, types: p.types, pods: p.pods.flatMap((pod) => pod.ips[f].map((ip) => `${pod.key} ${ip}`)) }));
        return [f, { policies, podsSelected: new Set(policies.flatMap((p) => p.pods)).size }];
      }),
    ),
    problems: model?.problems.map((p) => `${p.policy} ${p.field}: ${p.message}`) ?? [],
  };
}
