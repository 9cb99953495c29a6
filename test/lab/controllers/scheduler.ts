/** Pod scheduling for the lab: round-robin over Ready, schedulable nodes. Pure. */

export interface NodeLike {
  metadata: { name: string };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

export function nodeReady(node: NodeLike): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Names of the nodes a pod may go to, sorted so the rotation is stable. */
export function schedulableNodes(nodes: readonly NodeLike[]): string[] {
  return nodes
    .filter((n) => !n.spec?.unschedulable && nodeReady(n))
    .map((n) => n.metadata.name)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

/** Round-robin picker: returns the next node, or undefined when none is ready. */
export class RoundRobin {
  private i = 0;
  pick(candidates: readonly string[]): string | undefined {
    if (candidates.length === 0) return undefined;
    return candidates[this.i++ % candidates.length];
  }
}
