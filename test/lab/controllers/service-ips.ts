/**
 * Service cluster-IP decisions, following Kubernetes' own rules
 * (validation of spec.clusterIP(s)/ipFamilies/ipFamilyPolicy, then the
 * defaulting in the service registry's allocator). Pure: the caller owns the
 * allocators and applies the result.
 */
import { tryFamilyOf, parseIP, type Family } from '../../../sdk/src/families.ts';
import type { IpAllocator } from './cidrs.ts';

export type K8sFamily = 'IPv4' | 'IPv6';
export type FamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

export const toK8sFamily = (f: Family): K8sFamily => (f === 'ipv4' ? 'IPv4' : 'IPv6');
export const fromK8sFamily = (f: K8sFamily): Family => (f === 'IPv4' ? 'ipv4' : 'ipv6');

export interface ServiceSpecInput {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  selector?: Record<string, string>;
}

/** What the service's spec should say once allocation is done. */
export interface FamilyDecision {
  /** ExternalName services get no IPs and no families. */
  externalName: boolean;
  headless: boolean;
  ipFamilies: K8sFamily[];
  ipFamilyPolicy?: FamilyPolicy;
  /** Requested IP per entry of ipFamilies (undefined = allocate one), empty for headless. */
  requested: Array<string | undefined>;
}

/** A Kubernetes field error, printed like the API server prints it. */
export class FieldError extends Error {
  constructor(readonly field: string, readonly kind: 'Invalid' | 'Unsupported' | 'Duplicate' | 'TooMany' | 'Required', readonly value: unknown, readonly detail: string) {
    super(fieldErrorText(field, kind, value, detail));
  }
}

function goValue(v: unknown): string {
  if (Array.isArray(v)) return `[]string{${v.map((x) => JSON.stringify(x)).join(', ')}}`;
  return JSON.stringify(v);
}

function fieldErrorText(field: string, kind: FieldError['kind'], value: unknown, detail: string): string {
  switch (kind) {
    case 'Invalid':
      return `${field}: Invalid value: ${goValue(value)}: ${detail}`;
    case 'Unsupported':
      return `${field}: Unsupported value: ${goValue(value)}: ${detail}`;
    case 'Duplicate':
      return `${field}: Duplicate value: ${goValue(value)}`;
    case 'TooMany':
      return `${field}: Too many: ${String(value)}: ${detail}`;
    case 'Required':
      return `${field}: Required value: ${detail}`;
  }
}

/** The whole message Kubernetes returns for an invalid Service. */
export function invalidServiceMessage(name: string, errors: FieldError[]): string {
  const parts = errors.map((e) => e.message);
  return `Service "${name}" is invalid: ${parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`}`;
}

const POLICIES: FamilyPolicy[] = ['SingleStack', 'PreferDualStack', 'RequireDualStack'];

/** Field validation (ValidateService's IP-family part): errors independent of the cluster. */
export function validateServiceIPFields(spec: ServiceSpecInput): FieldError[] {
  const errs: FieldError[] = [];
  if (spec.type === 'ExternalName') return errs;
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const fams = spec.ipFamilies ?? [];
  if (spec.ipFamilyPolicy !== undefined && !POLICIES.includes(spec.ipFamilyPolicy as FamilyPolicy)) {
    errs.push(new FieldError('spec.ipFamilyPolicy', 'Unsupported', spec.ipFamilyPolicy, `supported values: ${POLICIES.map((p) => JSON.stringify(p)).join(', ')}`));
  }
  if (spec.clusterIP !== undefined && spec.clusterIP !== '' && spec.clusterIPs?.length && spec.clusterIPs[0] !== spec.clusterIP) {
    errs.push(new FieldError('spec.clusterIPs[0]', 'Invalid', ips, 'must match `spec.clusterIP` when set'));
  }
  if (ips.length > 2) errs.push(new FieldError('spec.clusterIPs', 'Invalid', ips, 'may only hold up to 2 values'));
  if (fams.length > 2) errs.push(new FieldError('spec.ipFamilies', 'TooMany', fams.length, 'must have at most 2 items'));
  fams.forEach((f, i) => {
    if (f !== 'IPv4' && f !== 'IPv6') errs.push(new FieldError(`spec.ipFamilies[${i}]`, 'Unsupported', f, 'supported values: "IPv4", "IPv6"'));
    else if (fams.indexOf(f) !== i) errs.push(new FieldError(`spec.ipFamilies[${i}]`, 'Duplicate', f, ''));
  });
  const headless = ips[0] === 'None' || spec.clusterIP === 'None';
  ips.forEach((ip, i) => {
    if (ip === 'None') {
      if (i > 0) errs.push(new FieldError(`spec.clusterIPs[${i}]`, 'Invalid', ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
      return;
    }
    if (headless) {
      errs.push(new FieldError('spec.clusterIPs', 'Invalid', ips, 'must not have multiple values when the first value is "None"'));
      return;
    }
    const fam = tryFamilyOf(ip);
    if (!fam || ip.includes('/')) {
      errs.push(new FieldError(`spec.clusterIPs[${i}]`, 'Invalid', ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
      return;
    }
    const want = fams[i];
    if ((want === 'IPv4' || want === 'IPv6') && toK8sFamily(fam) !== want) {
      errs.push(new FieldError(`spec.clusterIPs[${i}]`, 'Invalid', ip, `expected an ${want} value as indicated by \`ipFamilies[${i}]\``));
    }
    if (i === 1) {
      const first = tryFamilyOf(ips[0]!);
      if (first === fam) errs.push(new FieldError('spec.clusterIPs[1]', 'Invalid', ips, 'may not have the same IP family as `clusterIPs[0]`'));
    }
  });
  if (spec.ipFamilyPolicy === 'SingleStack') {
    if (ips.length === 2) errs.push(new FieldError('spec.ipFamilyPolicy', 'Invalid', 'SingleStack', 'must be RequireDualStack or PreferDualStack when multiple cluster IPs are specified'));
    if (fams.length === 2) errs.push(new FieldError('spec.ipFamilyPolicy', 'Invalid', 'SingleStack', 'must be RequireDualStack or PreferDualStack when multiple IP families are specified'));
  }
  return errs;
}

/**
 * The registry's defaulting of ipFamilyPolicy/ipFamilies for a new Service on
 * a cluster whose service ranges are `clusterFamilies` (primary first).
 * Throws an array of FieldError when Kubernetes would reject the request.
 */
export function decideServiceFamilies(spec: ServiceSpecInput, clusterFamilies: readonly Family[]): FamilyDecision {
  const basic = validateServiceIPFields(spec);
  if (basic.length) throw basic;
  if (spec.type === 'ExternalName') return { externalName: true, headless: false, ipFamilies: [], requested: [] };

  const ips = spec.clusterIPs?.length ? [...spec.clusterIPs] : spec.clusterIP ? [spec.clusterIP] : [];
  const families = [...((spec.ipFamilies ?? []) as K8sFamily[])];
  const configured = new Set(clusterFamilies.map(toK8sFamily));
  const dualCluster = clusterFamilies.length === 2;
  const headless = ips[0] === 'None';

  let policy = spec.ipFamilyPolicy as FamilyPolicy | undefined;
  if (policy === undefined) policy = ips.length === 2 || families.length === 2 ? 'RequireDualStack' : 'SingleStack';

  if (policy === 'RequireDualStack' && !dualCluster) {
    throw [new FieldError('spec.ipFamilyPolicy', 'Invalid', 'RequireDualStack', 'this cluster is not configured for dual-stack services')];
  }

  // Fill families in from the requested IPs.
  for (let i = 0; i < ips.length; i++) {
    if (ips[i] === 'None') break;
    const fam = toK8sFamily(tryFamilyOf(ips[i]!)!);
    if (i >= families.length) {
      if (!configured.has(fam)) throw [new FieldError(`spec.clusterIPs[${i}]`, 'Invalid', ips, `${fam} is not configured on this cluster`)];
      families.push(fam);
    }
  }

  const primary = toK8sFamily(clusterFamilies[0]!);
  const other = (f: K8sFamily): K8sFamily => (f === 'IPv4' ? 'IPv6' : 'IPv4');

  // Headless without selector: no IPs to allocate, so families not on the cluster are allowed.
  if (headless && Object.keys(spec.selector ?? {}).length === 0) {
    if (families.length === 0) families.push(primary);
    if (families.length < 2 && policy !== 'SingleStack') families.push(other(families[0]!));
    return { externalName: false, headless: true, ipFamilies: families, ipFamilyPolicy: policy, requested: [] };
  }

  const errs: FieldError[] = [];
  families.forEach((f, i) => {
    if (!configured.has(f)) errs.push(new FieldError(`spec.ipFamilies[${i}]`, 'Invalid', f, 'not configured on this cluster'));
  });
  if (errs.length) throw errs;

  if (families.length === 0) families.push(primary);
  if (policy !== 'SingleStack' && families.length === 1 && dualCluster) families.push(other(families[0]!));

  const requested = headless ? [] : families.map((_, i) => (ips[i] && ips[i] !== 'None' ? parseIP(ips[i]!).address : undefined));
  return { externalName: false, headless, ipFamilies: families, ipFamilyPolicy: policy, requested };
}

/**
 * Allocates the decision's IPs from per-family allocators, all or nothing.
 * Throws FieldError[] with Kubernetes' allocation errors.
 */
export function allocateServiceIPs(decision: FamilyDecision, allocators: Partial<Record<Family, IpAllocator>>): string[] {
  if (decision.headless || decision.externalName) return [];
  const taken: Array<[IpAllocator, string]> = [];
  try {
    decision.ipFamilies.forEach((f, i) => {
      const alloc = allocators[fromK8sFamily(f)];
      if (!alloc) throw [new FieldError(`spec.ipFamilies[${i}]`, 'Invalid', f, 'not configured on this cluster')];
      const want = decision.requested[i];
      if (want === undefined) {
        taken.push([alloc, alloc.allocateNext()]);
      } else {
        try {
          taken.push([alloc, alloc.allocateSpecific(want)]);
        } catch (e) {
          throw [new FieldError('spec.clusterIPs', 'Invalid', decision.requested.filter((x) => x !== undefined), `failed to allocate IP ${want}: ${(e as Error).message}`)];
        }
      }
    });
  } catch (e) {
    for (const [a, ip] of taken) a.release(ip);
    throw e;
  }
  return taken.map(([, ip]) => ip);
}
