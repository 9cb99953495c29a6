/**
 * kube-router's service annotations, read with their kube-router meaning.
 * Pure; a malformed or unsupported value is one problem line and a
 * documented fallback, never an exception.
 */

export const ANNOTATIONS = {
  local: 'kube-router.io/service.local',
  hairpin: 'kube-router.io/service.hairpin',
  hairpinExternalIPs: 'kube-router.io/service.hairpin.externalips',
  skipLbIps: 'kube-router.io/service.skiplbips',
  scheduler: 'kube-router.io/service.scheduler',
  dsr: 'kube-router.io/service.dsr',
} as const;

const SERVICE_PREFIX = 'kube-router.io/service.';

/**
 * kube-router's other service annotations: read by the router plugin
 * (advertisement) or ignored on purpose (IPVS scheduler flags have no
 * nftables meaning). Any other `kube-router.io/service.*` key is a typo.
 */
const OTHER_KNOWN_KEYS: ReadonlySet<string> = new Set([
  'kube-router.io/service.advertise.clusterip',
  'kube-router.io/service.advertise.externalip',
  'kube-router.io/service.advertise.loadbalancerip',
]);
const KNOWN_KEYS: ReadonlySet<string> = new Set([...Object.values(ANNOTATIONS), ...OTHER_KNOWN_KEYS]);
const SCHEDULER_FLAGS = 'kube-router.io/service.schedflags';

/** Load-balancing methods this proxy renders: `random` (numgen) or `source-hash` (jhash of the client address). */
export type Scheduler = 'random' | 'source-hash';

/** kube-router's IPVS scheduler names that map onto ours. */
const SCHEDULERS: Readonly<Record<string, Scheduler>> = { rr: 'random', sh: 'source-hash' };

export interface AnnotationWarning {
  annotation: string;
  /** Malformed value (a fallback is used), a kube-router feature this proxy does not have, or a key kube-router does not know. */
  reason: 'InvalidAnnotation' | 'UnsupportedAnnotation' | 'UnknownAnnotation';
  message: string;
}

export interface ServiceAnnotations {
  /** kube-router.io/service.local: only node-local endpoints, for internal and external traffic. */
  local: boolean;
  /** Hairpin forced on (true), or left to the config (undefined). */
  hairpin?: boolean;
  /** Hairpin through ExternalIPs too. The same endpoint rule covers every address, so this only documents intent. */
  hairpinExternalIPs: boolean;
  /** LoadBalancer ingress IPs are not served. */
  skipLbIps: boolean;
  scheduler: Scheduler;
  /** One per malformed, unsupported or unknown annotation. */
  warnings: AnnotationWarning[];
}

/** kube-router reads these as "present means on"; an explicit "false" turns them off. */
function flag(value: string | undefined): { on: boolean; bad: boolean } {
  if (value === undefined) return { on: false, bad: false };
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'true') return { on: true, bad: false };
  if (v === 'false') return { on: false, bad: false };
  return { on: true, bad: true };
}

export function readServiceAnnotations(annotations: Record<string, string> | undefined): ServiceAnnotations {
  const a = annotations ?? {};
  const warnings: ServiceAnnotations['warnings'] = [];
  const read = (key: string): boolean => {
    const f = flag(a[key]);
    if (f.bad) warnings.push({ annotation: key, reason: 'InvalidAnnotation', message: `${JSON.stringify(a[key])} is not "true" or "false"; taken as "true" (kube-router reads presence as on)` });
    return f.on;
  };
  const out: ServiceAnnotations = {
    local: read(ANNOTATIONS.local),
    hairpinExternalIPs: read(ANNOTATIONS.hairpinExternalIPs),
    skipLbIps: read(ANNOTATIONS.skipLbIps),
    scheduler: 'random',
    warnings,
  };
  if (a[ANNOTATIONS.hairpin] !== undefined) out.hairpin = read(ANNOTATIONS.hairpin);
  if (out.hairpinExternalIPs && out.hairpin === undefined) out.hairpin = true;

  const scheduler = a[ANNOTATIONS.scheduler];
  if (scheduler !== undefined) {
    const s = SCHEDULERS[scheduler.trim()];
    if (s) out.scheduler = s;
    else {
      warnings.push({
        annotation: ANNOTATIONS.scheduler,
        reason: 'UnsupportedAnnotation',
        message: `scheduler ${JSON.stringify(scheduler)} is not supported (rr, sh); using rr (random, equal shares)`,
      });
    }
  }
  if (a[ANNOTATIONS.dsr] !== undefined) {
    warnings.push({
      annotation: ANNOTATIONS.dsr,
      reason: 'UnsupportedAnnotation',
      message: `direct server return (${JSON.stringify(a[ANNOTATIONS.dsr])}) needs IPIP tunnels, which this node's kernel lacks; the service is served normally (DNAT)`,
    });
  }
  for (const key of Object.keys(a)) {
    if (!key.startsWith(SERVICE_PREFIX) || KNOWN_KEYS.has(key)) continue;
    if (key === SCHEDULER_FLAGS) {
      warnings.push({ annotation: key, reason: 'UnsupportedAnnotation', message: 'IPVS scheduler flags have no meaning for the nftables proxy; ignored' });
    } else {
      warnings.push({ annotation: key, reason: 'UnknownAnnotation', message: `not a kube-router service annotation (known: ${[...KNOWN_KEYS].sort().join(', ')}); ignored` });
    }
  }
  return out;
}
