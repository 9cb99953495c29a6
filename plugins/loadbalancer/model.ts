import {
  bigIntToIP,
  familyOfKubernetes,
  hostRangeSize,
  ipToBigInt,
  parseIP,
  perFamily,
  type Family,
  type HostRange,
  type PerFamily,
  type V1Service,
} from '@krouter/sdk';

/**
 * The allocator, pure: every Service (the cluster's state, restart-safe:
 * there is no other record) and the ranges in -> the ingress addresses each
 * LoadBalancer Service of krouter's class should carry, the problems to
 * report, and the counts per family.
 *
 * Addresses in the ranges are "used" when any Service holds them: a
 * ClusterIP, an ExternalIP, a LoadBalancer ingress of another class (fixed:
 * never moved), or an ingress of krouter's class (its own). Oldest Service
 * first (creationTimestamp, then namespace/name):
 *   A. keep each Service's valid ingress address per family (in a range of
 *      that family, a family the Service asks for, not held by a fixed claim
 *      or an older Service);
 *   B. honour spec.loadBalancerIP (in range and free), then give every family
 *      still missing the lowest free address.
 * A non-LoadBalancer Service that still carries addresses of the ranges
 * (type changed) loses its LoadBalancer status: they are released.
 */

/** kube-router's class, and the class name under kube-router.io; `default` and none only with defaultClass. */
export const LOADBALANCER_CLASSES: readonly string[] = ['kube-router', 'kube-router.io/loadbalancer'];

/** Why a Service is reported: a closed set, also the Kubernetes Event reason. */
export type ProblemReason = 'AllocationFailed' | 'InvalidLoadBalancerIP' | 'LoadBalancerIPInUse' | 'IPConflict';

export interface Problem {
  /** `namespace/name`. */
  service: string;
  uid?: string;
  reason: ProblemReason;
  message: string;
}

export interface StatusWrite {
  service: V1Service;
  key: string;
  /** The ingress addresses the Service should carry, in spec.ipFamilies order. */
  ingress: string[];
  /** Addresses it does not carry yet. */
  added: string[];
  /** Addresses of the ranges it carries and should not. */
  removed: string[];
}

export interface Allocation {
  service: string;
  ip: string;
}

export interface LbModel {
  writes: StatusWrite[];
  /** Every address of krouter's class held after the writes, per family, by address order. */
  allocations: PerFamily<Allocation[]>;
  /** Addresses of the ranges held by anything (allocations and fixed claims), per family. */
  used: PerFamily<number>;
  /** Addresses of the ranges still free, per family. */
  free: PerFamily<bigint>;
  problems: Problem[];
}

export interface ModelInput {
  families: readonly Family[];
  ranges: PerFamily<HostRange[]>;
  defaultClass: boolean;
  services: readonly V1Service[];
}

export const keyOf = (svc: V1Service) => `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;

/** Whether krouter allocates for this Service. */
export function isOurs(svc: V1Service, defaultClass: boolean): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  if (cls === undefined || cls === '' || cls === 'default') return defaultClass;
  return LOADBALANCER_CLASSES.includes(cls);
}

/** The families a Service asks for, in its order (spec.ipFamilies; else its ClusterIPs' families). */
function familiesOf(svc: V1Service): Family[] {
  const out: Family[] = [];
  for (const name of svc.spec?.ipFamilies ?? []) {
    const f = familyOfKubernetes(name);
    if (f && !out.includes(f)) out.push(f);
  }
  if (out.length === 0) {
    for (const ip of svc.spec?.clusterIPs ?? []) {
      try {
        const f = parseIP(ip).family;
        if (!out.includes(f)) out.push(f);
      } catch {
        // headless or malformed: no family from it
      }
    }
  }
  return out;
}

function olderFirst(a: V1Service, b: V1Service): number {
  const ta = a.metadata?.creationTimestamp ? new Date(a.metadata.creationTimestamp).getTime() : 0;
  const tb = b.metadata?.creationTimestamp ? new Date(b.metadata.creationTimestamp).getTime() : 0;
  if (ta !== tb) return ta - tb;
  const ka = keyOf(a);
  const kb = keyOf(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Family and number of an address of the ranges; undefined outside them or malformed. */
function inRanges(ranges: PerFamily<HostRange[]>, ip: string | undefined): { family: Family; n: bigint; address: string } | undefined {
  if (!ip) return undefined;
  let parsed;
  try {
    parsed = parseIP(ip.trim());
  } catch {
    return undefined;
  }
  const n = ipToBigInt(parsed.address);
  return ranges[parsed.family].some((r) => n >= r.first && n <= r.last) ? { family: parsed.family, n, address: parsed.address } : undefined;
}

/** Lowest free address per family, walking each range once per model (the cursor only moves forward). */
class FreeCursor {
  private readonly at: PerFamily<{ range: number; next: bigint | undefined }>;
  constructor(
    private readonly ranges: PerFamily<HostRange[]>,
    private readonly used: PerFamily<Set<bigint>>,
  ) {
    this.at = perFamily((f) => ({ range: 0, next: ranges[f][0]?.first }));
  }
  next(family: Family): bigint | undefined {
    const at = this.at[family];
    const ranges = this.ranges[family];
    while (at.range < ranges.length) {
      const r = ranges[at.range]!;
      let c = at.next ?? r.first;
      while (c <= r.last && this.used[family].has(c)) c++;
      if (c <= r.last) {
        at.next = c;
        return c;
      }
      at.range++;
      at.next = ranges[at.range]?.first;
    }
    return undefined;
  }
}

const ingressIPs = (svc: V1Service): string[] => (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter(Boolean);

export function buildModel(input: ModelInput): LbModel {
  const { ranges, families } = input;
  const problems: Problem[] = [];
  const used = perFamily(() => new Set<bigint>());
  const problem = (svc: V1Service, reason: ProblemReason, message: string) =>
    problems.push({ service: keyOf(svc), ...(svc.metadata?.uid ? { uid: svc.metadata.uid } : {}), reason, message });

  const ours: V1Service[] = [];
  const writes: StatusWrite[] = [];
  /** Who holds a fixed claim, for messages. */
  const fixedHolder = new Map<string, string>();
  for (const svc of input.services) {
    if (isOurs(svc, input.defaultClass)) {
      ours.push(svc);
      continue;
    }
    const fixed = [...(svc.spec?.clusterIPs ?? []), ...(svc.spec?.externalIPs ?? [])];
    if (svc.spec?.type === 'LoadBalancer') fixed.push(...ingressIPs(svc));
    for (const ip of fixed) {
      const hit = inRanges(ranges, ip);
      if (!hit) continue;
      used[hit.family].add(hit.n);
      fixedHolder.set(hit.address, keyOf(svc));
    }
    if (svc.spec?.type !== 'LoadBalancer') {
      // Released on a type change (the API server clears the status itself; a
      // status left by an older one is dropped whole: only a LoadBalancer may carry one).
      const current = ingressIPs(svc);
      const ours = current.filter((ip) => inRanges(ranges, ip));
      if (ours.length) {
        // Still held until the write lands: not handed out again in this pass.
        for (const ip of ours) {
          const hit = inRanges(ranges, ip)!;
          used[hit.family].add(hit.n);
        }
        writes.push({ service: svc, key: keyOf(svc), ingress: [], added: [], removed: current });
      }
    }
  }
  ours.sort(olderFirst);

  // A: keep what each Service validly holds.
  const held = new Map<V1Service, Partial<Record<Family, { n: bigint; address: string }>>>();
  const holderOf = new Map<string, string>();
  for (const svc of ours) {
    const wanted = familiesOf(svc).filter((f) => families.includes(f));
    const keep: Partial<Record<Family, { n: bigint; address: string }>> = {};
    for (const ip of ingressIPs(svc)) {
      const hit = inRanges(ranges, ip);
      if (!hit || !wanted.includes(hit.family) || keep[hit.family]) continue;
      if (used[hit.family].has(hit.n)) {
        const other = fixedHolder.get(hit.address) ?? holderOf.get(hit.address) ?? 'another service';
        problem(svc, 'IPConflict', `${hit.address} is also held by ${other}; a new address replaces it`);
        continue;
      }
      used[hit.family].add(hit.n);
      holderOf.set(hit.address, keyOf(svc));
      keep[hit.family] = hit;
    }
    held.set(svc, keep);
  }

  // B: requested addresses, then the lowest free one per missing family.
  const cursor = new FreeCursor(ranges, used);
  for (const svc of ours) {
    const keep = held.get(svc)!;
    const asked = familiesOf(svc);
    const wanted = asked.filter((f) => families.includes(f));
    const requireAll = svc.spec?.ipFamilyPolicy === 'RequireDualStack';
    let blocked = false;

    const requestedText = svc.spec?.loadBalancerIP?.trim();
    if (requestedText) {
      let req: { family: Family; address: string } | undefined;
      try {
        req = parseIP(requestedText);
      } catch {
        problem(svc, 'InvalidLoadBalancerIP', `spec.loadBalancerIP ${JSON.stringify(requestedText)} is not an IP address; no address allocated`);
        blocked = true;
      }
      if (req) {
        const hit = inRanges(ranges, req.address);
        if (!wanted.includes(req.family)) {
          problem(svc, 'InvalidLoadBalancerIP', `spec.loadBalancerIP ${req.address} is ${req.family}, not a family of this service (${asked.join(', ') || 'none'}); no address allocated`);
          blocked = true;
        } else if (!hit) {
          const list = ranges[req.family].map((r) => r.cidr).join(', ') || 'none';
          problem(svc, 'InvalidLoadBalancerIP', `spec.loadBalancerIP ${req.address} is outside the ${req.family} ipRanges (${list}); no address allocated`);
          blocked = true;
        } else if (keep[req.family]?.n !== hit.n) {
          if (used[req.family].has(hit.n)) {
            const other = fixedHolder.get(hit.address) ?? holderOf.get(hit.address) ?? 'another service';
            problem(svc, 'LoadBalancerIPInUse', `spec.loadBalancerIP ${hit.address} is held by ${other}; no address allocated`);
            blocked = true;
          } else {
            const previous = keep[req.family];
            if (previous) holderOf.delete(previous.address);
            used[req.family].add(hit.n);
            holderOf.set(hit.address, keyOf(svc));
            keep[req.family] = hit;
          }
        }
      }
    }

    const missing = wanted.filter((f) => !keep[f]);
    const unserved = asked.filter((f) => !keep[f] && (!families.includes(f) || ranges[f].length === 0));
    if (!blocked && missing.length + unserved.length > 0) {
      if (asked.length === 0) {
        problem(svc, 'AllocationFailed', 'the service has no IP family (spec.ipFamilies is empty); no address allocated');
      } else if (unserved.length && (requireAll || unserved.length === asked.length)) {
        problem(svc, 'AllocationFailed', `no ipRanges of ${unserved.join(' or ')} are configured${requireAll ? ' (the service requires dual-stack)' : ''}; no address allocated`);
      } else {
        const picks = perFamily<bigint | undefined>(() => undefined);
        for (const f of missing) picks[f] = ranges[f].length ? cursor.next(f) : undefined;
        const exhausted = missing.filter((f) => ranges[f].length > 0 && picks[f] === undefined);
        for (const f of exhausted) {
          problem(svc, 'AllocationFailed', `no free ${f} address left in ${ranges[f].map((r) => r.cidr).join(', ')}`);
        }
        if (!(requireAll && exhausted.length)) {
          for (const f of missing) {
            const n = picks[f];
            if (n === undefined) continue;
            used[f].add(n);
            const address = bigIntToIP(n, f);
            holderOf.set(address, keyOf(svc));
            keep[f] = { n, address };
          }
        }
      }
    }

    const ingress = asked.map((f) => keep[f]?.address).filter((ip): ip is string => !!ip);
    const current = svc.status?.loadBalancer?.ingress ?? [];
    const same = current.length === ingress.length && current.every((e, i) => e.ip === ingress[i] && !e.hostname && e.ipMode !== 'Proxy');
    if (!same) {
      const currentIPs = ingressIPs(svc);
      writes.push({
        service: svc,
        key: keyOf(svc),
        ingress,
        added: ingress.filter((ip) => !currentIPs.includes(ip)),
        removed: currentIPs.filter((ip) => !ingress.includes(ip)),
      });
    }
  }

  const allocations = perFamily<Allocation[]>(() => []);
  for (const [address, service] of holderOf) {
    const f = parseIP(address).family;
    allocations[f].push({ service, ip: address });
  }
  for (const f of families) allocations[f].sort((a, b) => (ipToBigInt(a.ip) < ipToBigInt(b.ip) ? -1 : 1));
  const total = perFamily((f) => ranges[f].reduce((sum, r) => sum + hostRangeSize(r), 0n));
  return {
    writes,
    allocations,
    used: perFamily((f) => used[f].size),
    free: perFamily((f) => total[f] - BigInt(used[f].size)),
    problems,
  };
}
