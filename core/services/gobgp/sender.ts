/**
 * Sends a plan (see desired.ts) to gobgpd, bringing the record of what
 * gobgpd holds (`have`) along one RPC at a time, so that a plan cut short by
 * a lost connection leaves `have` exact and the next diff sends the rest.
 *
 * A connection error aborts (the supervisor restarts gobgpd, the replay
 * sends the rest); gobgpd refusing one object rejects that object alone.
 */
import * as grpc from '@grpc/grpc-js';
import type { BgpRejection, BgpRoute, Logger } from '@krouter/sdk';
import type { GobgpApi, GobgpRpcError } from './client.ts';
import { encodeGlobal, encodePeer, familyToApi } from './encode.ts';
import { emptyState, type BgpPlan, type BgpState, type StatePath, type StatePolicies } from './desired.ts';
import { globalAssignment, type RenderedPolicies } from './policy.ts';
import { decodeListPathRoutes } from './wire.ts';

/** gRPC codes that mean "gobgpd is not there right now", not "gobgpd refused this". */
export function isConnectionError(e: unknown): boolean {
  const code = (e as GobgpRpcError)?.code;
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.CANCELLED;
}

export interface SendContext {
  client: GobgpApi;
  log: Logger;
  /** Peers are added with graceful restart's restarting state until then (see the service). */
  localRestarting: () => boolean;
}

export interface SendReport {
  rejected: BgpRejection[];
  /** RPCs sent that change gobgpd. */
  sent: number;
}

/** AddPath/DeletePath calls in flight at once: paths are independent, and one at a time is bound by round trips. */
const PATH_CONCURRENCY = 64;

async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += PATH_CONCURRENCY) {
    const results = await Promise.allSettled(items.slice(i, i + PATH_CONCURRENCY).map(fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

export class PlanSender {
  private report: SendReport = { rejected: [], sent: 0 };

  constructor(private readonly ctx: SendContext) {}

  private async call(rpc: string, request: object): Promise<void> {
    await this.ctx.client.unary(rpc, request);
    this.report.sent++;
  }

  /** Runs one RPC for one object: a refusal rejects that object, a lost connection aborts. */
  private async forObject(object: BgpRejection['object'], key: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      if (isConnectionError(e)) throw e;
      this.ctx.log.error(`bgp ${object} ${key}: gobgpd refused it`, { error: (e as Error).message });
      this.report.rejected.push({ object, key, kind: 'refused', message: (e as Error).message });
    }
  }

  /** Sends the plan; `have` follows every successful RPC. */
  async send(plan: BgpPlan, have: BgpState, want: BgpState): Promise<SendReport> {
    this.report = { rejected: [], sent: 0 };
    if (plan.global === 'restart') {
      // The global config of a running gobgpd cannot change in place: stop BGP and replay everything.
      await this.call('StopBgp', {});
      Object.assign(have, emptyState());
    }
    if (plan.global === 'start' || plan.global === 'restart') {
      await this.call('StartBgp', { global: encodeGlobal(want.global!.global) });
      Object.assign(have, emptyState(), { global: want.global });
    }

    await inBatches(plan.deletePaths, (p) =>
      this.forObject('path', p.encoded.prefix, async () => {
        // A withdrawal is matched by NLRI; gobgpd still wants a next hop of the family in the request.
        // Never send DeletePath without a path: gobgpd would withdraw every local path.
        await this.call('DeletePath', { table_type: 'GLOBAL', family: familyToApi(p.encoded.family), path: p.encoded.path });
        have.paths.delete(p.encoded.prefix);
      }),
    );
    for (const address of plan.deletePeers) {
      await this.forObject('peer', address, async () => {
        await this.call('DeletePeer', { address });
        have.peers.delete(address);
      });
    }
    if (plan.policies.length > 0) {
      const hadPeers = have.peers.size > 0;
      if (plan.policies.includes('export') && hadPeers) await this.changeExportPolicy(have, want.policies);
      else await this.applyPolicies(want.policies.rendered);
      if (plan.policies.includes('import') && hadPeers) await this.softReset('IN');
      have.policies = want.policies;
    }
    await inBatches(plan.addPaths, (p) =>
      this.forObject('path', p.encoded.prefix, async () => {
        // AddPath of an existing prefix replaces the local path (implicit withdraw).
        await this.call('AddPath', { table_type: 'GLOBAL', path: p.encoded.path });
        have.paths.set(p.encoded.prefix, p);
      }),
    );
    for (const p of plan.addPeers) {
      await this.forObject('peer', p.peer.address, async () => {
        await this.call('AddPeer', { peer: encodePeer(p.peer, { localRestarting: this.ctx.localRestarting() }) });
        have.peers.set(p.peer.address, p);
      });
    }
    for (const p of plan.updatePeers) {
      // Session parameters (families, timers, capabilities) only take effect on a new
      // session; UpdatePeer resets it when needed.
      await this.forObject('peer', p.peer.address, async () => {
        await this.call('UpdatePeer', { peer: encodePeer(p.peer, { localRestarting: this.ctx.localRestarting() }), do_soft_reset_in: true });
        have.peers.set(p.peer.address, p);
      });
    }
    return this.report;
  }

  /** Replaces gobgpd's routing policy and assigns it globally. */
  private async applyPolicies(rendered: RenderedPolicies): Promise<void> {
    // Unassign first what is going away: gobgpd re-applies the current
    // assignments when the policy set is replaced.
    for (const d of ['import', 'export'] as const) {
      if (rendered.assignments[d].length === 0) await this.call('SetPolicyAssignment', globalAssignment(d, []));
    }
    await this.call('SetPolicies', rendered.setPolicies);
    for (const d of ['import', 'export'] as const) {
      if (rendered.assignments[d].length > 0) await this.call('SetPolicyAssignment', globalAssignment(d, rendered.assignments[d]));
    }
  }

  /**
   * gobgpd does not re-evaluate paths already exchanged when a policy
   * changes: a soft reset re-runs import (IN) or export (OUT) on every peer.
   */
  private async softReset(direction: 'IN' | 'OUT'): Promise<void> {
    try {
      await this.call('ResetPeer', { address: 'all', soft: true, direction });
    } catch (e) {
      if (isConnectionError(e)) throw e;
      this.ctx.log.warn(`soft reset ${direction} after a policy change failed`, { error: (e as Error).message });
    }
  }

  /** What gobgpd would advertise now to each peer it has: peer -> prefix -> route. */
  private async adjOut(have: BgpState): Promise<Map<string, Map<string, BgpRoute>>> {
    const out = new Map<string, Map<string, BgpRoute>>();
    for (const { peer } of have.peers.values()) {
      const routes = new Map<string, BgpRoute>();
      for (const family of new Set(peer.families)) {
        try {
          const items = await this.ctx.client.collect<BgpRoute[]>(
            'ListPath',
            { table_type: 'ADJ_OUT', name: peer.address, family: familyToApi(family), sort_type: 'PREFIX' },
            undefined,
            decodeListPathRoutes,
          );
          for (const r of items.flat()) routes.set(r.prefix, r);
        } catch (e) {
          if (isConnectionError(e)) throw e;
          // A peer that is not established has no adj-out.
        }
      }
      out.set(peer.address, routes);
    }
    return out;
  }

  /**
   * Applies a changed export policy. A soft reset out re-sends what the new
   * policy accepts, but gobgpd never withdraws a path the new policy rejects
   * (it evaluates the withdrawal against the new policy too). So local paths
   * that some peer had and no longer gets are withdrawn under the previous
   * policy and originated again under the new one.
   */
  private async changeExportPolicy(have: BgpState, next: StatePolicies): Promise<void> {
    const previous = have.policies;
    const before = await this.adjOut(have);
    await this.applyPolicies(next.rendered);
    await this.softReset('OUT');
    const after = await this.adjOut(have);
    const local = new Map<string, StatePath>();
    const received: string[] = [];
    for (const [peer, routes] of before) {
      const still = after.get(peer);
      for (const [prefix, route] of routes) {
        if (still?.has(prefix)) continue;
        const own = have.paths.get(prefix);
        if (!route.source && own) local.set(prefix, own);
        else if (route.source) received.push(`${prefix} to ${peer}`);
      }
    }
    if (received.length > 0) {
      this.ctx.log.warn('the export policy now rejects received paths already advertised; peers keep them until their session resets', {
        paths: received.slice(0, 20),
      });
    }
    if (local.size === 0) return;
    await this.applyPolicies(previous.rendered);
    for (const p of local.values()) await this.call('DeletePath', { table_type: 'GLOBAL', family: familyToApi(p.encoded.family), path: p.encoded.path });
    await this.applyPolicies(next.rendered);
    for (const p of local.values()) await this.call('AddPath', { table_type: 'GLOBAL', path: p.encoded.path });
    this.ctx.log.info('export policy change withdrew local paths from peers it now rejects', { paths: [...local.keys()] });
  }
}
