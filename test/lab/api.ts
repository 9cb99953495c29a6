/**
 * The lab's own access to its API server: a client with the admin's
 * certificate (or another lab identity's), and the few reads the CLI, the
 * lifecycle and the tests share (nodes, pods, readiness).
 */
import type { Family } from '../../sdk/src/families.ts';
import { tryFamilyOf } from '../../sdk/src/families.ts';
import { apiServerUrl, type LabSpec } from './config.ts';
import { controlPlanePaths } from './k8s/control-plane.ts';
import { ADMIN, pkiFiles, type Identity } from './k8s/pki.ts';
import { KubeClient, KubeError, R, type Obj, type ResourcePath } from './kube.ts';

/** A client of the lab's API server authenticated as `identity` (the admin by default). */
export function labClient(spec: Pick<LabSpec, 'family' | 'stateDir'>, identity: Identity = ADMIN): KubeClient {
  const f = pkiFiles(controlPlanePaths(spec.stateDir).pki);
  return new KubeClient(apiServerUrl(spec), { caCert: f.caCert, cert: f.cert(identity), key: f.key(identity) });
}

/** Runs `fn` with an admin client and closes it after. */
export async function withAdmin<T>(spec: Pick<LabSpec, 'family' | 'stateDir'>, fn: (c: KubeClient) => Promise<T>): Promise<T> {
  const client = labClient(spec);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** True when the API server says it is ready (`/readyz`). */
export async function apiReady(spec: Pick<LabSpec, 'family' | 'stateDir'>): Promise<boolean> {
  try {
    await withAdmin(spec, (c) => c.request('GET', '/readyz', undefined, undefined, AbortSignal.timeout(2000)));
    return true;
  } catch {
    return false;
  }
}

export async function listNodes(spec: Pick<LabSpec, 'family' | 'stateDir'>): Promise<Obj[]> {
  return withAdmin(spec, async (c) => (await c.list(R.nodes)).items);
}

export async function listPods(spec: Pick<LabSpec, 'family' | 'stateDir'>, namespace?: string): Promise<Obj[]> {
  return withAdmin(spec, async (c) => (await c.list(R.pods, { namespace })).items);
}

// Loose on purpose: pods come from the API as plain JSON.
/** Services of the given namespaces. */
export async function listServices(spec: Pick<LabSpec, 'family' | 'stateDir'>, namespaces: readonly string[]): Promise<Obj[]> {
  return withAdmin(spec, async (c) => (await Promise.all(namespaces.map((ns) => c.list(R.services, { namespace: ns })))).flatMap((l) => l.items));
}

interface PodLike {
  status?: { podIP?: string; podIPs?: Array<{ ip: string }>; conditions?: Array<{ type: string; status: string }>; [k: string]: any };
  [k: string]: any;
}

export function podReady(pod: PodLike): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** A pod's addresses by family, from status.podIPs (status.podIP when that is absent). */
export function podIPsByFamily(pod: PodLike): Partial<Record<Family, string>> {
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  const out: Partial<Record<Family, string>> = {};
  for (const ip of ips) {
    const f = tryFamilyOf(ip);
    if (f && !out[f] && !ip.includes('/')) out[f] = ip;
  }
  return out;
}

/** The REST resource of the kinds the lab itself creates. */
const RESOURCE_OF_KIND: Record<string, ResourcePath> = {
  Namespace: R.namespaces,
  Pod: R.pods,
  Service: R.services,
  ConfigMap: R.configmaps,
  ServiceAccount: R.serviceaccounts,
  DaemonSet: R.daemonsets,
};

/** Creates an object; an existing one (409) counts as created. */
export async function createIfMissing(client: KubeClient, obj: Obj & { kind: string }): Promise<void> {
  const r = RESOURCE_OF_KIND[obj.kind];
  if (!r) throw new Error(`${obj.kind} ${obj.metadata.name}: the lab creates no objects of this kind (use lab kubectl)`);
  try {
    await client.create(r, r.namespaced ? { ...obj, metadata: { namespace: 'default', ...obj.metadata } } : obj);
  } catch (err) {
    if (!(err instanceof KubeError && err.code === 409)) throw err;
  }
}
