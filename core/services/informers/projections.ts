/**
 * What an informer keeps of an object of its kind, when not the whole
 * object: the fields some plugin reads. A cluster has many more
 * EndpointSlices than anything else these agents watch, and each carries
 * fields no plugin reads (timestamps as Date objects, owner references, each
 * endpoint's targetRef and hostname, the controller's annotations), so their
 * cache is cut to what the service proxy and the router use. Services keep
 * every field. Both share small parts that repeat between objects (through
 * a bounded pool of frozen copies). They take the compact copy (see
 * compact.ts) and share its leaves.
 */
import type { V1EndpointConditions, V1EndpointSlice, V1Service } from '@kubernetes/client-node';

/** A copy of `object` with only `keys`, those that have a value. */
function pick<T extends object, K extends keyof T>(object: T | undefined, keys: readonly K[]): Pick<T, K> | undefined {
  if (!object) return undefined;
  const out = {} as Pick<T, K>;
  for (const k of keys) if (object[k] !== undefined) out[k] = object[k];
  return out;
}

/**
 * Endpoint conditions are three optional booleans, the same few
 * combinations on every endpoint of a cluster: one frozen object per
 * combination is shared by every cached endpoint instead of one each.
 */
const CONDITIONS = new Map<string, Readonly<V1EndpointConditions>>();
export function sharedConditions(c: V1EndpointConditions | undefined): V1EndpointConditions | undefined {
  if (!c) return undefined;
  const values = [c.ready, c.serving, c.terminating];
  // Anything but the three booleans (a field added to the API later): kept as it is.
  if (Object.keys(c).some((k) => k !== 'ready' && k !== 'serving' && k !== 'terminating')) return c;
  if (values.some((v) => v !== undefined && typeof v !== 'boolean')) return c;
  const key = values.map(String).join();
  let shared = CONDITIONS.get(key);
  if (!shared) CONDITIONS.set(key, (shared = Object.freeze(pick(c, ['ready', 'serving', 'terminating'])!)));
  return shared;
}

/**
 * Small parts that repeat from object to object (a slice's or a service's
 * port list, a service's IP families, an empty load balancer status): one
 * frozen copy of each distinct value is shared by every object that has it.
 * The pool is bounded (a cluster with more distinct values than that shares
 * only those seen first after it was last emptied).
 */
const POOL_MAX = 4096;
const pool = new Map<string, unknown>();
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
export function shared<T>(value: T): T {
  if (value === undefined || value === null || typeof value !== 'object') return value;
  const key = JSON.stringify(value);
  const known = pool.get(key);
  if (known !== undefined) return known as T;
  if (pool.size >= POOL_MAX) pool.clear();
  pool.set(key, deepFreeze(value));
  return value;
}

/**
 * The Service as it is (the load balancer reads its timestamp and writes its
 * status back), its repeating parts shared.
 */
export function serviceFields(service: V1Service): V1Service {
  const spec = service.spec && { ...service.spec, ...(service.spec.ports ? { ports: shared(service.spec.ports) } : {}), ...(service.spec.ipFamilies ? { ipFamilies: shared(service.spec.ipFamilies) } : {}) };
  return { ...service, ...(spec ? { spec } : {}), ...(service.status ? { status: shared(service.status) } : {}) };
}

/**
 * The EndpointSlice fields plugins read: name, namespace, uid (events),
 * resourceVersion (change detection), labels (the owning service); the
 * address type; per endpoint its addresses, conditions, node, zone and
 * hints; the ports.
 */
export function endpointSliceFields(slice: V1EndpointSlice): V1EndpointSlice {
  const endpoints = slice.endpoints?.map((e) => {
    const endpoint = pick(e, ['addresses', 'nodeName', 'zone', 'hints'])!;
    const conditions = sharedConditions(e.conditions);
    return conditions ? { ...endpoint, conditions } : endpoint;
  });
  const metadata = pick(slice.metadata, ['name', 'namespace', 'uid', 'resourceVersion', 'labels']);
  return {
    addressType: slice.addressType,
    ...(metadata ? { metadata } : {}),
    ...(endpoints ? { endpoints } : {}),
    ...(slice.ports ? { ports: shared(slice.ports) } : {}),
  } as V1EndpointSlice;
}
