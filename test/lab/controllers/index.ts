/**
 * The lab's kube-controller-manager: node pod-CIDR allocation, Service
 * cluster IPs, EndpointSlices, namespace labels and pod scheduling. Each
 * controller reacts to informer events; the decisions are the pure functions
 * in the sibling modules.
 */
import type { Family } from '../../../sdk/src/families.ts';
import { clusterCidrs, families, type LabSpec } from '../config.ts';
import { IpAllocator, SubnetAllocator } from './cidrs.ts';
import { desiredSlices, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, sliceObject, sliceUpToDate } from './endpointslices.ts';
import { Informer, KubeClient, keyOf, R, type Obj } from './kube.ts';
import { RoundRobin, schedulableNodes } from './scheduler.ts';
import { allocateServiceIPs, decideServiceFamilies, FieldError, invalidServiceMessage } from './service-ips.ts';

export const ERROR_ANNOTATION = 'lab.krouter.io/error';

export interface Controllers {
  close(): Promise<void>;
}

/** Runs `fn` for each key at most once at a time; a key queued while running runs again after. */
class KeyedQueue {
  private running = new Map<string, Promise<void>>();
  private again = new Set<string>();
  constructor(private readonly log: (line: string) => void) {}

  add(key: string, fn: () => Promise<void>): void {
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    const p = fn()
      .catch((e) => this.log(`${key}: ${(e as Error).message}`))
      .finally(() => {
        this.running.delete(key);
        if (this.again.delete(key)) this.add(key, fn);
      });
    this.running.set(key, p);
  }

  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()]);
  }
}

export async function startControllers(opts: { apiUrl: string; spec: LabSpec; log?: (line: string) => void }): Promise<Controllers> {
  const log = opts.log ?? (() => undefined);
  const client = new KubeClient(opts.apiUrl);
  const cidrs = clusterCidrs(opts.spec);
  const fams = families(opts.spec);
  const queue = new KeyedQueue(log);

  // ---- node pod CIDRs ------------------------------------------------------
  const subnets: Partial<Record<Family, SubnetAllocator>> = {};
  for (const f of fams) subnets[f] = new SubnetAllocator(cidrs.pods[f]!, cidrs.podMaskSize[f]);
  /** node name -> the CIDRs it holds (so a delete releases exactly those). */
  const nodeCidrs = new Map<string, string[]>();

  const release = (cidrList: string[]) => {
    for (const c of cidrList) for (const f of fams) subnets[f]!.release(c);
  };

  /** Remembers what a node already holds; true when it holds something. Stable: never changed. */
  const adoptNode = (node: Obj): boolean => {
    const have: string[] = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
    if (have.length === 0) return false;
    const mine = nodeCidrs.get(node.metadata.name);
    if (mine && JSON.stringify(mine) === JSON.stringify(have)) return true;
    if (mine) release(mine); // someone else set the node's CIDRs: theirs win
    for (const c of have) for (const f of fams) subnets[f]!.occupy(c);
    nodeCidrs.set(node.metadata.name, have);
    return true;
  };

  const allocateNode = async (name: string): Promise<void> => {
    const node = nodes.store.get(name);
    if (!node || adoptNode(node)) return;
    // Allocated earlier but the node does not show it yet (our patch is in
    // flight, or failed): write the same CIDRs again, never new ones.
    let got = nodeCidrs.get(name);
    if (!got) {
      got = [];
      try {
        for (const f of fams) got.push(subnets[f]!.allocate());
      } catch (e) {
        release(got);
        await recordEvent(client, { kind: 'Node', ...node }, 'Warning', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable (${(e as Error).message})`);
        return;
      }
      nodeCidrs.set(name, got);
      log(`node ${name}: pod CIDRs ${got.join(', ')}`);
    }
    await client.patch(R.nodes, undefined, name, { spec: { podCIDR: got[0], podCIDRs: got } });
  };

  const nodes: Informer = new Informer(
    client,
    R.nodes,
    {
      onAdd: (n) => queue.add(`node/${n.metadata.name}`, () => allocateNode(n.metadata.name)),
      onUpdate: (n) => {
        queue.add(`node/${n.metadata.name}`, () => allocateNode(n.metadata.name));
        schedulePending();
      },
      onDelete: (n) => {
        release(nodeCidrs.get(n.metadata.name) ?? []);
        nodeCidrs.delete(n.metadata.name);
      },
      onSync: () => {
        // Adopt every allocated node before handing out anything new.
        for (const n of nodes.list()) adoptNode(n);
      },
    },
    { log },
  );

  // ---- service cluster IPs --------------------------------------------------
  const ipAllocs: Partial<Record<Family, IpAllocator>> = {};
  for (const f of fams) ipAllocs[f] = new IpAllocator(cidrs.services[f]!);
  /** service uid -> the IPs it holds. */
  const serviceIPs = new Map<string, string[]>();

  const releaseService = (uid: string): void => {
    for (const ip of serviceIPs.get(uid) ?? []) for (const f of fams) ipAllocs[f]!.release(ip);
    serviceIPs.delete(uid);
  };

  const servicesSynced = { done: false };
  const adoptService = (svc: Obj): void => {
    const ips: string[] = (svc.spec?.clusterIPs ?? []).filter((ip: string) => ip && ip !== 'None');
    const uid = svc.metadata.uid!;
    if (serviceIPs.has(uid) || ips.length === 0 || !svc.spec?.ipFamilies?.length) return;
    for (const ip of ips) for (const f of fams) ipAllocs[f]!.occupy(ip);
    serviceIPs.set(uid, ips);
  };

  const syncService = async (key: string): Promise<void> => {
    const svc = services.store.get(key);
    if (!svc) return;
    const uid = svc.metadata.uid!;
    const spec = svc.spec ?? {};
    const held = serviceIPs.get(uid);
    if (held && JSON.stringify(held) === JSON.stringify((spec.clusterIPs ?? []).filter((ip: string) => ip !== 'None'))) return;
    if (held) releaseService(uid); // the user changed the IPs: decide afresh
    if (spec.type === 'ExternalName') return;
    if (spec.clusterIPs?.[0] === 'None' && spec.ipFamilies?.length && spec.ipFamilyPolicy) {
      serviceIPs.set(uid, []);
      return;
    }
    let patch: Record<string, unknown>;
    try {
      const decision = decideServiceFamilies(spec, fams);
      const ips = allocateServiceIPs(decision, ipAllocs);
      serviceIPs.set(uid, ips);
      const clusterIPs = decision.headless ? ['None'] : ips;
      patch = {
        metadata: { annotations: { [ERROR_ANNOTATION]: null } },
        spec: { clusterIP: clusterIPs[0], clusterIPs, ipFamilies: decision.ipFamilies, ipFamilyPolicy: decision.ipFamilyPolicy },
      };
    } catch (e) {
      const errs = Array.isArray(e) ? (e as FieldError[]) : [new FieldError('spec', 'Invalid', '', (e as Error).message)];
      const message = invalidServiceMessage(svc.metadata.name, errs);
      if (svc.metadata.annotations?.[ERROR_ANNOTATION] === message) return;
      log(`service ${key}: ${message}`);
      await recordEvent(client, svc, 'Warning', 'ClusterIPNotAllocated', message);
      await client.patch(R.services, svc.metadata.namespace, svc.metadata.name, { metadata: { annotations: { [ERROR_ANNOTATION]: message } } });
      return;
    }
    try {
      await client.patch(R.services, svc.metadata.namespace, svc.metadata.name, patch);
    } catch (e) {
      releaseService(uid);
      throw e;
    }
  };

  const services: Informer = new Informer(
    client,
    R.services,
    {
      onAdd: (s) => {
        if (servicesSynced.done) queue.add(`svc/${keyOf(s)}`, () => syncService(keyOf(s)));
        queue.add(`slices/${s.metadata.namespace}`, () => syncSlices(s.metadata.namespace!));
      },
      onUpdate: (s) => {
        queue.add(`svc/${keyOf(s)}`, () => syncService(keyOf(s)));
        queue.add(`slices/${s.metadata.namespace}`, () => syncSlices(s.metadata.namespace!));
      },
      onDelete: (s) => {
        releaseService(s.metadata.uid!);
        queue.add(`slices/${s.metadata.namespace}`, () => syncSlices(s.metadata.namespace!));
      },
      onSync: () => {
        for (const s of services.list()) adoptService(s);
        servicesSynced.done = true;
        for (const s of services.list()) queue.add(`svc/${keyOf(s)}`, () => syncService(keyOf(s)));
      },
    },
    { log },
  );

  // ---- EndpointSlices ---------------------------------------------------------
  const syncSlices = async (ns: string): Promise<void> => {
    const pods = podsInf.list().filter((p) => p.metadata.namespace === ns);
    const svcs = services.list().filter((s) => s.metadata.namespace === ns);
    const existing = slicesInf.list().filter((s) => s.metadata.namespace === ns && s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
    const want = new Map<string, Record<string, any>>();
    for (const svc of svcs) {
      if (!svc.spec?.ipFamilies?.length) continue; // not allocated yet
      for (const d of desiredSlices(svc as never, pods as never)) want.set(d.name, sliceObject(svc as never, d));
    }
    const ops: Promise<unknown>[] = [];
    for (const [name, obj] of want) {
      const cur = existing.find((s) => s.metadata.name === name);
      if (!cur) ops.push(client.create(R.endpointslices, obj as Obj));
      else if (!sliceUpToDate(cur, obj)) ops.push(client.update(R.endpointslices, { ...obj, metadata: { ...(obj.metadata as object), resourceVersion: cur.metadata.resourceVersion } } as Obj));
    }
    for (const cur of existing) {
      const owner = cur.metadata.labels?.[SERVICE_NAME_LABEL];
      if (!want.has(cur.metadata.name) && owner !== undefined) ops.push(client.delete(R.endpointslices, ns, cur.metadata.name));
    }
    const results = await Promise.allSettled(ops);
    for (const r of results) if (r.status === 'rejected') log(`endpointslices ${ns}: ${(r.reason as Error).message}`);
    if (results.some((r) => r.status === 'rejected')) setTimeout(() => queue.add(`slices/${ns}`, () => syncSlices(ns)), 300);
  };
  const nsSlices = (o: Obj) => queue.add(`slices/${o.metadata.namespace}`, () => syncSlices(o.metadata.namespace!));
  const slicesInf = new Informer(client, R.endpointslices, { onDelete: nsSlices }, { log });

  // ---- scheduling -------------------------------------------------------------------
  const rr = new RoundRobin();
  const schedule = async (key: string): Promise<void> => {
    const pod = podsInf.store.get(key);
    if (!pod || pod.spec?.nodeName || pod.metadata.deletionTimestamp) return;
    const node = rr.pick(schedulableNodes(nodes.list() as never));
    if (!node) return; // retried when a node becomes ready
    await client.patch(R.pods, pod.metadata.namespace, pod.metadata.name, { spec: { nodeName: node } });
    log(`pod ${key}: scheduled to ${node}`);
  };
  function schedulePending(): void {
    for (const p of podsInf?.list() ?? []) if (!p.spec?.nodeName) queue.add(`sched/${keyOf(p)}`, () => schedule(keyOf(p)));
  }
  const onPod = (p: Obj) => {
    if (!p.spec?.nodeName) queue.add(`sched/${keyOf(p)}`, () => schedule(keyOf(p)));
    nsSlices(p);
  };
  const podsInf: Informer = new Informer(client, R.pods, { onAdd: onPod, onUpdate: onPod, onDelete: nsSlices }, { log });

  // ---- namespace label (the API server sets it too; this repairs removals) ---------
  const NS_LABEL = 'kubernetes.io/metadata.name';
  const onNs = (n: Obj) => {
    if (n.metadata.labels?.[NS_LABEL] === n.metadata.name) return;
    queue.add(`ns/${n.metadata.name}`, async () => {
      await client.patch(R.namespaces, undefined, n.metadata.name, { metadata: { labels: { [NS_LABEL]: n.metadata.name } } });
    });
  };
  const namespaces = new Informer(client, R.namespaces, { onAdd: onNs, onUpdate: onNs }, { log });

  const all = [nodes, services, slicesInf, podsInf, namespaces];
  for (const i of all) i.start();
  await Promise.all(all.map((i) => i.synced));
  log(`controllers running (families ${fams.join(', ')})`);
  return {
    async close() {
      await Promise.all(all.map((i) => i.stop()));
      await queue.idle();
    },
  };
}

/** Creates a core/v1 Event about an object (best effort: events never block the work). */
export async function recordEvent(client: KubeClient, obj: Obj, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
  const now = new Date().toISOString();
  const ns = obj.metadata.namespace ?? 'default';
  try {
    await client.create(R.events, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: '', generateName: `${obj.metadata.name}.`, namespace: ns },
      involvedObject: { apiVersion: obj.apiVersion ?? 'v1', kind: obj.kind ?? '', namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid },
      reason,
      message,
      type,
      source: { component: 'lab-controllers' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  } catch {
    /* events are advisory */
  }
}
