import {
  firstHost,
  perFamily,
  type Family,
  type NodeNetwork,
  type PerFamily,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Pod,
} from '@krouter/sdk';
import {
  MembershipIndex,
  emptyChanges,
  member,
  podMembers,
  policiesByTarget,
  type ElementChanges,
  type Member,
  type MembershipContext,
} from './membership.ts';
import { setNames } from './names.ts';
import { compilePolicies, type CompiledPolicies, type Problem } from './policies.ts';
import { namespaceLabels, readPod } from './pods.ts';

/**
 * The firewall's desired state: compiled policies (what the rules look
 * like) and the elements of every set (which addresses the rules apply to),
 * for every enabled family. Built whole on a full sync; on a pod event only
 * that pod's elements are recomputed (updatePods).
 */

export interface ModelInput {
  families: readonly Family[];
  nodeName: string;
  /** This node as read by the address-family service; undefined while unknown. */
  node: NodeNetwork | undefined;
  pods: readonly V1Pod[];
  namespaces: readonly V1Namespace[];
  policies: readonly V1NetworkPolicy[];
}

export interface FirewallModel {
  families: readonly Family[];
  nodeName: string;
  compiled: CompiledPolicies;
  ctx: MembershipContext;
  /** This node's pod CIDR per family: addresses in it that are not judged are pending. */
  podCIDRs: PerFamily<string | undefined>;
  /** Every set's elements, kept per pod so that a pod's change is a diff. */
  index: MembershipIndex;
  problems: Problem[];
}

function nodeMembers(families: readonly Family[], node: NodeNetwork | undefined): Member[] {
  const out: Member[] = [];
  if (!node) return out;
  for (const f of families) {
    const cidr = node.podCIDRs[f][0];
    // The bridge gateway (first host of the pod CIDR) is the node too.
    const addresses = [...node.ips[f], ...(cidr ? [firstHost(cidr)] : [])];
    for (const a of new Set(addresses)) out.push(member(setNames.node(f), a));
  }
  return out;
}

function blockMembers(compiled: CompiledPolicies, families: readonly Family[]): Member[] {
  const out: Member[] = [];
  for (const [id, prefixes] of compiled.blocks) for (const f of families) for (const p of prefixes[f]) out.push(member(setNames.blocks(id, f), p));
  return out;
}

export function buildModel(input: ModelInput): FirewallModel {
  const { families, nodeName } = input;
  const compiled = compilePolicies({ policies: input.policies, namespaces: namespaceLabels(input.namespaces), families });
  const ctx: MembershipContext = { compiled, policiesByTarget: policiesByTarget(compiled), families, nodeName };
  const index = new MembershipIndex();
  index.setStatic('node', nodeMembers(families, input.node));
  index.setStatic('blocks', blockMembers(compiled, families));
  for (const p of input.pods) {
    const view = readPod(p, families);
    if (view) index.setPod(view.key, podMembers(ctx, view));
  }
  const model: FirewallModel = {
    families,
    nodeName,
    compiled,
    ctx,
    podCIDRs: perFamily((f) => (families.includes(f) ? input.node?.podCIDRs[f][0] : undefined)),
    index,
    problems: [],
  };
  model.problems = [...compiled.problems, ...namedPortProblems(model)];
  return model;
}

/**
 * Applies pod changes (the pod now, or undefined when deleted) to the model
 * in place and returns the element changes they make. Named-port problems
 * are re-evaluated, since they depend on which pods exist.
 */
export function updatePods(model: FirewallModel, changed: ReadonlyArray<{ key: string; pod: V1Pod | undefined }>): ElementChanges {
  const changes = emptyChanges();
  for (const { key, pod } of changed) {
    const view = pod ? readPod(pod, model.families) : undefined;
    if (view) model.index.setPod(key, podMembers(model.ctx, view), changes);
    else model.index.deletePod(key, changes);
  }
  model.problems = [...model.compiled.problems, ...namedPortProblems(model)];
  return changes;
}

/**
 * A named port no pod has while the pods it is looked up in exist: those
 * uses match nothing. (Checked against every pod with the name; finer
 * checks would cost a set per use.)
 */
export function namedPortProblems(model: FirewallModel): Problem[] {
  const { compiled, families, index } = model;
  const has = (set: (f: Family) => string) => families.some((f) => (index.elements.get(set(f))?.size ?? 0) > 0);
  const out: Problem[] = [];
  for (const def of compiled.namedPorts.values()) {
    if (has((f) => setNames.namedPort(def.id, f))) continue;
    for (const use of def.uses) {
      const lookup = use.lookup;
      const lookedUp =
        lookup.kind === 'targets'
          ? has((f) => setNames.selector(lookup.selector, f))
          : lookup.kind === 'peers' && lookup.selectors.some((s) => has((f) => setNames.selector(s, f)));
      if (!lookedUp) continue;
      const where = lookup.kind === 'targets' ? "the policy's pods" : 'the peer pods';
      out.push({
        policy: use.policy,
        field: use.field,
        message: `none of ${where} has a ${def.protocol} container port named ${JSON.stringify(def.name)}; this port matches nothing`,
      });
    }
  }
  return out;
}
