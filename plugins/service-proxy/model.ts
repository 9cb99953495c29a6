import {
  AddressError,
  cidrContains,
  familyOfKubernetes,
  hostPrefixLength,
  parseCidr,
  parseIP,
  perFamily,
  type Family,
  type NodeNetwork,
  type PerFamily,
  type V1EndpointSlice,
  type V1Service,
} from '@krouter/sdk';
import { readServiceAnnotations, type Scheduler } from './annotations.ts';
import type { ServiceProxyConfig } from './config.ts';
import { clusterEndpoints, localEndpoints, type Candidate, type Topology } from './endpoints.ts';

export type Protocol = 'tcp' | 'udp' | 'sctp';
const PROTOCOLS: Readonly<Record<string, Protocol>> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** Labels that keep a service away from this proxy. */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** ClientIP affinity default and bounds, as the API server's. */
const DEFAULT_AFFINITY_SECONDS = 10800;
const MAX_AFFINITY_SECONDS = 86400;

/** Why an object (or a part of it) was not programmed; one Warning event reason each. */
export type ProblemReason =
  | 'InvalidServicePort'
  | 'InvalidClusterIP'
  | 'InvalidExternalIP'
  | 'ExternalIPOutOfRange'
  | 'LoadBalancerIPOutOfRange'
  | 'InvalidLoadBalancerIP'
  | 'InvalidSourceRange'
  | 'InvalidSessionAffinity'
  | 'InvalidHealthCheckNodePort'
  | 'InvalidEndpoint'
  | 'InvalidAnnotation'
  | 'UnsupportedAnnotation'
  | 'UnknownAnnotation'
  /** Another service already has this address, protocol and port. */
  | 'AddressConflict';

export interface Problem {
  kind: 'Service' | 'EndpointSlice';
  namespace: string;
  name: string;
  uid?: string;
  /** The field, e.g. `spec.ports[1].protocol`. */
  field: string;
  reason: ProblemReason;
  /** One line naming the object and the field. */
  message: string;
}

export interface Endpoint {
  address: string;
  /** Target port, as the EndpointSlice resolved it for this endpoint (named targetPorts differ per pod). */
  port: number;
  /** On this node. */
  local: boolean;
}

/** One service port in one family: everything its chains and map elements are rendered from. */
export interface PortState {
  family: Family;
  /** `namespace/name/protocol/port-name-or-number`, the same in every family. */
  id: string;
  protocol: Protocol;
  port: number;
  nodePort?: number;
  clusterIP?: string;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** loadBalancerSourceRanges of this family; undefined when the service sets none (no firewall). */
  sourceRanges?: string[];
  internalLocal: boolean;
  externalLocal: boolean;
  /** Endpoints under the Cluster policy. */
  clusterEndpoints: Endpoint[];
  /** This node's endpoints under the Local policies. */
  localEndpoints: Endpoint[];
  affinitySeconds?: number;
  scheduler: Scheduler;
  hairpin: boolean;
}

export interface ServiceState {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  ports: PortState[];
  /** externalTrafficPolicy: Local LoadBalancers: the port and this node's ready endpoint count. */
  healthCheck?: { port: number; localEndpoints: number };
  problems: Problem[];
}

/** Node-wide facts the per-service model depends on; a change of any of them means a full sync. */
export interface ProxyContext {
  families: readonly Family[];
  nodeName: string;
  zone?: string;
  hairpinMode: boolean;
  masqueradeAll: boolean;
  externalIPRanges: PerFamily<string[]>;
  /** ExternalIPs and LoadBalancer IPs only inside their ranges; no range: none (kube-router's --strict-external-ip-validation). */
  strictExternalIPValidation: boolean;
  loadBalancerIPRanges: PerFamily<string[]>;
  nodePortRange: { first: number; last: number };
  serviceProxyName?: string;
}

/** Table-wide state: sets the base chains match on. */
export interface Globals {
  families: readonly Family[];
  /** Destinations that take NodePorts (CIDRs; `/32` `/128` for `primary`). */
  nodePortAddresses: PerFamily<string[]>;
  /** Sources inside the cluster; traffic to a ClusterIP from elsewhere is masqueraded. */
  clusterCIDRs: PerFamily<string[]>;
  /** This node's pod CIDRs: their traffic to an externalTrafficPolicy: Local address may use any endpoint. */
  localPodCIDRs: PerFamily<string[]>;
  masqueradeMark: number;
  /** Masquerade all ClusterIP traffic, not only the traffic from outside `clusterCIDRs`. */
  masqueradeAll: boolean;
  /** Conntrack timeouts (seconds, 0 = the kernel's) set on new service connections. */
  conntrackTimeouts: { tcp: number; tcpFin: number; udp: number };
}

export function keyOf(namespace: string, name: string): string {
  // Joined, not a template: one flat string (kept for every service) instead of a tree of the pieces.
  return [namespace, name].join('/');
}

/** The service an EndpointSlice belongs to (`namespace/name`), or undefined. */
export function sliceServiceKey(slice: V1EndpointSlice): string | undefined {
  const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  const ns = slice.metadata?.namespace;
  return svc && ns ? keyOf(ns, svc) : undefined;
}

export function buildContext(config: ServiceProxyConfig, families: readonly Family[], local: { name: string; zone?: string }): ProxyContext {
  const [first, last] = config.nodePortRange.split('-').map(Number) as [number, number];
  const ranges = perFamily<string[]>(() => []);
  for (const c of config.externalIPRanges) ranges[parseCidr(c).family].push(parseCidr(c).text);
  const lbRanges = perFamily<string[]>(() => []);
  for (const c of config.loadBalancerIPRanges) lbRanges[parseCidr(c).family].push(parseCidr(c).text);
  return {
    families,
    nodeName: local.name,
    ...(local.zone ? { zone: local.zone } : {}),
    hairpinMode: config.hairpinMode,
    masqueradeAll: config.masqueradeAll,
    externalIPRanges: ranges,
    strictExternalIPValidation: config.strictExternalIPValidation,
    loadBalancerIPRanges: lbRanges,
    nodePortRange: { first, last },
    ...(config.serviceProxyName ? { serviceProxyName: config.serviceProxyName } : {}),
  };
}

export function buildGlobals(config: ServiceProxyConfig, families: readonly Family[], local: NodeNetwork, nodes: readonly NodeNetwork[]): Globals {
  const nodePortAddresses = perFamily<string[]>(() => []);
  for (const entry of config.nodePortAddresses) {
    if (entry === 'primary') {
      for (const f of families) {
        const ip = local.primaryIP[f];
        if (ip) nodePortAddresses[f].push(`${ip}/${hostPrefixLength(f)}`);
      }
    } else {
      const c = parseCidr(entry);
      nodePortAddresses[c.family].push(c.text);
    }
  }
  const clusterCIDRs = perFamily<string[]>(() => []);
  for (const c of config.clusterCIDRs) clusterCIDRs[parseCidr(c).family].push(parseCidr(c).text);
  for (const f of families) {
    if (clusterCIDRs[f].length === 0) clusterCIDRs[f] = [...new Set(nodes.flatMap((n) => n.podCIDRs[f]))].sort();
  }
  return {
    families,
    nodePortAddresses: perFamily((f) => (families.includes(f) ? [...new Set(nodePortAddresses[f])] : [])),
    clusterCIDRs: perFamily((f) => (families.includes(f) ? clusterCIDRs[f] : [])),
    localPodCIDRs: perFamily((f) => (families.includes(f) ? [...local.podCIDRs[f]] : [])),
    masqueradeMark: 2 ** config.masqueradeBit,
    masqueradeAll: config.masqueradeAll,
    conntrackTimeouts: { ...config.conntrackTimeouts },
  };
}

/** Why a service is not this proxy's to program (undefined: it is). */
export function ignoredBecause(svc: V1Service, ctx: Pick<ProxyContext, 'serviceProxyName'>): string | undefined {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return 'ExternalName';
  if (spec.clusterIP === 'None' || svc.metadata?.labels?.[HEADLESS_LABEL] !== undefined) return 'headless';
  const proxyName = svc.metadata?.labels?.[SERVICE_PROXY_NAME_LABEL];
  if (proxyName !== ctx.serviceProxyName) return `${SERVICE_PROXY_NAME_LABEL}=${proxyName ?? '(none)'}`;
  return undefined;
}

interface SlicePort {
  name: string;
  protocol: Protocol;
  port: number;
}

interface ReadSlice {
  family: Family;
  ports: SlicePort[];
  endpoints: Array<Omit<Candidate, 'port'>>;
}

function reasonOf(err: unknown): string {
  if (err instanceof AddressError) return err.message.replace(/^"[^"]*": /, '');
  return err instanceof Error ? err.message : String(err);
}

const isPort = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;

/**
 * Whether this proxy reads an EndpointSlice: the slice's own labels are
 * judged as a Service's are (kube-proxy watches EndpointSlices with the same
 * selector as Services), so a slice marked headless, or meant for another
 * proxy, contributes no endpoint even to a Service this proxy programs.
 */
export function sliceIsOurs(slice: V1EndpointSlice, ctx: Pick<ProxyContext, 'serviceProxyName'>): boolean {
  const labels = slice.metadata?.labels;
  return labels?.[HEADLESS_LABEL] === undefined && labels?.[SERVICE_PROXY_NAME_LABEL] === ctx.serviceProxyName;
}

/** Reads one EndpointSlice of an enabled family; bad fields become problems and are skipped. */
function readSlice(slice: V1EndpointSlice, ctx: ProxyContext, problems: Problem[]): ReadSlice | undefined {
  const family = familyOfKubernetes(slice.addressType);
  if (!family || !ctx.families.includes(family)) return undefined; // FQDN slices and disabled families are not ours
  if (!sliceIsOurs(slice, ctx)) return undefined;
  const namespace = slice.metadata?.namespace ?? '';
  const name = slice.metadata?.name ?? '';
  const problem = (field: string, value: unknown, why: string) =>
    problems.push({
      kind: 'EndpointSlice',
      namespace,
      name,
      ...(slice.metadata?.uid ? { uid: slice.metadata.uid } : {}),
      field,
      reason: 'InvalidEndpoint',
      message: `EndpointSlice ${namespace}/${name} ${field} ${JSON.stringify(value)}: ${why}`,
    });
  const ports: SlicePort[] = [];
  (slice.ports ?? []).forEach((p, i) => {
    const protocol = PROTOCOLS[p.protocol ?? 'TCP'];
    if (!protocol) return problem(`ports[${i}].protocol`, p.protocol, 'unknown protocol (TCP, UDP, SCTP)');
    if (!isPort(p.port)) return problem(`ports[${i}].port`, p.port, 'port must be 1..65535');
    ports.push({ name: p.name ?? '', protocol, port: p.port });
  });
  const endpoints: ReadSlice['endpoints'] = [];
  (slice.endpoints ?? []).forEach((e, i) => {
    const text = e.addresses?.[0];
    let address: string;
    try {
      address = parseIP(String(text), family).address;
    } catch (err) {
      return problem(`endpoints[${i}].addresses[0]`, text, `${reasonOf(err)} (addressType ${slice.addressType})`);
    }
    const ready = e.conditions?.ready ?? true;
    const zones = e.hints?.forZones?.map((z) => z.name);
    const nodes = e.hints?.forNodes?.map((n) => n.name);
    endpoints.push({
      address,
      local: e.nodeName === ctx.nodeName,
      ready,
      serving: e.conditions?.serving ?? ready,
      terminating: e.conditions?.terminating ?? false,
      ...(zones ? { zoneHints: zones } : {}),
      ...(nodes ? { nodeHints: nodes } : {}),
    });
  });
  return { family, ports, endpoints };
}

/**
 * The desired proxy state of one service, per family. Pure. Returns
 * undefined for services this proxy leaves alone (ExternalName, headless,
 * another proxy's). A bad field is a problem naming the object and the
 * field and only that part is skipped: the rest of the service is served.
 */
const sameEndpoints = (a: readonly Endpoint[], b: readonly Endpoint[]): boolean =>
  a.length === b.length && a.every((e, i) => e.address === b[i]!.address && e.port === b[i]!.port && e.local === b[i]!.local);

/** One empty list for every port without addresses of a kind (states are never changed after they are built). */
const NONE: string[] = Object.freeze([]) as unknown as string[];
const shareEmpty = (list: string[]): string[] => (list.length ? list : NONE);

export function buildService(svc: V1Service, slices: readonly V1EndpointSlice[], ctx: ProxyContext): ServiceState | undefined {
  if (ignoredBecause(svc, ctx)) return undefined;
  const namespace = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  const key = keyOf(namespace, name);
  const spec = svc.spec ?? {};
  const problems: Problem[] = [];
  const uid = svc.metadata?.uid;
  const problem = (field: string, reason: ProblemReason, why: string, value?: unknown) =>
    problems.push({
      kind: 'Service',
      namespace,
      name,
      ...(uid ? { uid } : {}),
      field,
      reason,
      message: `Service ${key} ${field}${value === undefined ? '' : ` ${JSON.stringify(value)}`}: ${why}`,
    });

  const annotations = readServiceAnnotations(svc.metadata?.annotations);
  for (const w of annotations.warnings) {
    problem(`metadata.annotations[${w.annotation}]`, w.reason, w.message);
  }

  // Addresses per family.
  const clusterIP = perFamily<string | undefined>(() => undefined);
  const ipTexts = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const field = spec.clusterIPs?.length ? 'spec.clusterIPs' : 'spec.clusterIP';
  ipTexts.forEach((text, i) => {
    let ip;
    try {
      ip = parseIP(String(text));
    } catch (err) {
      return problem(`${field}[${i}]`, 'InvalidClusterIP', reasonOf(err), text);
    }
    const declared = spec.ipFamilies?.[i];
    if (declared !== undefined && familyOfKubernetes(declared) !== ip.family) {
      return problem(`${field}[${i}]`, 'InvalidClusterIP', `is ${ip.family} but spec.ipFamilies[${i}] is ${declared}`, text);
    }
    if (clusterIP[ip.family]) return problem(`${field}[${i}]`, 'InvalidClusterIP', `second ${ip.family} ClusterIP; using ${clusterIP[ip.family]}`, text);
    clusterIP[ip.family] = ip.address;
  });

  const externalIPs = perFamily<string[]>(() => []);
  (spec.externalIPs ?? []).forEach((text, i) => {
    let ip;
    try {
      ip = parseIP(String(text));
    } catch (err) {
      return problem(`spec.externalIPs[${i}]`, 'InvalidExternalIP', reasonOf(err), text);
    }
    if (!ctx.families.includes(ip.family)) return;
    const allowed = ctx.externalIPRanges;
    const anyRange = ctx.families.some((f) => allowed[f].length > 0);
    if (ctx.strictExternalIPValidation && !anyRange) {
      return problem(`spec.externalIPs[${i}]`, 'ExternalIPOutOfRange', 'strict external IP validation is on and no external IP range is configured (--service-external-ip-range); not served', text);
    }
    if (anyRange && !allowed[ip.family].some((r) => cidrContains(r, ip.address))) {
      return problem(`spec.externalIPs[${i}]`, 'ExternalIPOutOfRange', `outside the allowed external IP ranges (${ctx.families.flatMap((f) => allowed[f]).join(', ')}); not served`, text);
    }
    if (!externalIPs[ip.family].includes(ip.address)) externalIPs[ip.family].push(ip.address);
  });

  const loadBalancerIPs = perFamily<string[]>(() => []);
  const isLB = spec.type === 'LoadBalancer';
  if (isLB && !annotations.skipLbIps) {
    (svc.status?.loadBalancer?.ingress ?? []).forEach((ing, i) => {
      // Hostname-only ingress has nothing to match; ipMode Proxy means the load balancer proxies, so its IP never reaches us.
      if (ing.ip === undefined || ing.ipMode === 'Proxy') return;
      let ip;
      try {
        ip = parseIP(String(ing.ip));
      } catch (err) {
        return problem(`status.loadBalancer.ingress[${i}].ip`, 'InvalidLoadBalancerIP', reasonOf(err), ing.ip);
      }
      if (!ctx.families.includes(ip.family)) return;
      if (ctx.strictExternalIPValidation && !ctx.loadBalancerIPRanges[ip.family].some((r) => cidrContains(r, ip.address))) {
        const ranges = ctx.families.flatMap((f) => ctx.loadBalancerIPRanges[f]);
        return problem(
          `status.loadBalancer.ingress[${i}].ip`,
          'LoadBalancerIPOutOfRange',
          ranges.length
            ? `outside the allowed load balancer IP ranges (${ranges.join(', ')}); not served`
            : 'strict external IP validation is on and no load balancer IP range is configured (--loadbalancer-ip-range); not served',
          ing.ip,
        );
      }
      if (!loadBalancerIPs[ip.family].includes(ip.address)) loadBalancerIPs[ip.family].push(ip.address);
    });
  }

  // A malformed range is skipped: the remaining ranges only ever allow less.
  let sourceRanges: PerFamily<string[]> | undefined;
  if (isLB && (spec.loadBalancerSourceRanges?.length ?? 0) > 0) {
    const ranges = perFamily<string[]>(() => []);
    spec.loadBalancerSourceRanges!.forEach((text, i) => {
      try {
        const c = parseCidr(String(text).trim(), undefined, { allowHostBits: true });
        ranges[c.family].push(c.text);
      } catch (err) {
        problem(`spec.loadBalancerSourceRanges[${i}]`, 'InvalidSourceRange', `${reasonOf(err)}; ignored (the other ranges still apply)`, text);
      }
    });
    sourceRanges = ranges;
  }

  let affinitySeconds: number | undefined;
  if (spec.sessionAffinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
    if (Number.isInteger(t) && t >= 1 && t <= MAX_AFFINITY_SECONDS) affinitySeconds = t;
    else {
      problem('spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'InvalidSessionAffinity', `must be 1..${MAX_AFFINITY_SECONDS}; using ${DEFAULT_AFFINITY_SECONDS}`, t);
      affinitySeconds = DEFAULT_AFFINITY_SECONDS;
    }
  }

  const externalLocal = spec.externalTrafficPolicy === 'Local' || annotations.local;
  const internalLocal = spec.internalTrafficPolicy === 'Local' || annotations.local;
  const hairpin = annotations.hairpin ?? ctx.hairpinMode;
  const topology: Topology = { nodeName: ctx.nodeName, ...(ctx.zone ? { zone: ctx.zone } : {}) };
  const publishNotReady = spec.publishNotReadyAddresses === true;

  const read = slices.map((s) => readSlice(s, ctx, problems)).filter((s) => s !== undefined);
  const ports: PortState[] = [];
  const localReady = perFamily(() => new Set<string>());
  const seenIds = new Set<string>();
  (spec.ports ?? []).forEach((p, i) => {
    const protocol = PROTOCOLS[p.protocol ?? 'TCP'];
    if (!protocol) return problem(`spec.ports[${i}].protocol`, 'InvalidServicePort', 'unknown protocol (TCP, UDP, SCTP); port not served', p.protocol);
    if (!isPort(p.port)) return problem(`spec.ports[${i}].port`, 'InvalidServicePort', 'port must be 1..65535; port not served', p.port);
    let nodePort: number | undefined;
    if (p.nodePort !== undefined && p.nodePort !== null && (spec.type === 'NodePort' || isLB)) {
      const { first, last } = ctx.nodePortRange;
      if (!isPort(p.nodePort) || p.nodePort < first || p.nodePort > last) {
        problem(`spec.ports[${i}].nodePort`, 'InvalidServicePort', `outside the NodePort range ${first}-${last}; NodePort not served`, p.nodePort);
      } else nodePort = p.nodePort;
    }
    const portName = p.name ?? '';
    // Joined, not a template: one flat string (kept with the state of every port) instead of a tree of its pieces.
    const id = [key, protocol, portName || p.port].join('/');
    if (seenIds.has(id)) return problem(`spec.ports[${i}]`, 'InvalidServicePort', 'duplicate port; not served', portName || p.port);
    seenIds.add(id);

    for (const family of ctx.families) {
      const vip = clusterIP[family];
      // A family without a ClusterIP is not a family of this service (single-stack).
      if (!vip) continue;
      const seen = new Set<string>();
      const candidates: Candidate[] = [];
      for (const s of read) {
        if (s.family !== family) continue;
        const sp = s.ports.find((x) => x.name === portName && x.protocol === protocol);
        if (!sp) continue;
        for (const e of s.endpoints) {
          const k = `${e.address}|${sp.port}`;
          if (seen.has(k)) continue; // the same endpoint in two slices while the controller moves it
          seen.add(k);
          candidates.push({ ...e, ready: e.ready || publishNotReady, port: sp.port });
        }
      }
      const strip = (e: Candidate): Endpoint => ({ address: e.address, port: e.port, local: e.local });
      const cluster = clusterEndpoints(candidates, topology).map(strip);
      // Kept per port for every service: when the Local policies pick the same endpoints (all on this
      // node, or none of them is), one array serves both.
      const localList = localEndpoints(candidates).map(strip);
      const local = sameEndpoints(localList, cluster) ? cluster : localList;
      for (const e of candidates) if (e.local && e.ready) localReady[family].add(e.address);
      ports.push({
        family,
        id,
        protocol,
        port: p.port,
        ...(nodePort !== undefined ? { nodePort } : {}),
        clusterIP: vip,
        externalIPs: shareEmpty(externalIPs[family]),
        loadBalancerIPs: shareEmpty(loadBalancerIPs[family]),
        ...(sourceRanges ? { sourceRanges: sourceRanges[family] } : {}),
        internalLocal,
        externalLocal,
        clusterEndpoints: cluster,
        localEndpoints: local,
        ...(affinitySeconds !== undefined ? { affinitySeconds } : {}),
        scheduler: annotations.scheduler,
        hairpin,
      });
    }
  });

  let healthCheck: ServiceState['healthCheck'];
  if (isLB && externalLocal && spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort !== null) {
    if (isPort(spec.healthCheckNodePort)) {
      healthCheck = { port: spec.healthCheckNodePort, localEndpoints: Math.max(0, ...ctx.families.map((f) => localReady[f].size)) };
    } else problem('spec.healthCheckNodePort', 'InvalidHealthCheckNodePort', 'port must be 1..65535; no health check served', spec.healthCheckNodePort);
  }
  return { key, namespace, name, ports, ...(healthCheck ? { healthCheck } : {}), problems };
}

/** Groups EndpointSlices by their service key, once per full sync. */
export function slicesByService(slices: readonly V1EndpointSlice[]): Map<string, V1EndpointSlice[]> {
  const out = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const k = sliceServiceKey(s);
    if (!k) continue;
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(s);
  }
  return out;
}

/** Every programmed service, by key. */
export function buildServices(services: readonly V1Service[], slices: readonly V1EndpointSlice[], ctx: ProxyContext): Map<string, ServiceState> {
  const grouped = slicesByService(slices);
  const out = new Map<string, ServiceState>();
  for (const svc of services) {
    const k = keyOf(svc.metadata?.namespace ?? '', svc.metadata?.name ?? '');
    const state = buildService(svc, grouped.get(k) ?? [], ctx);
    if (state) out.set(k, state);
  }
  return out;
}
