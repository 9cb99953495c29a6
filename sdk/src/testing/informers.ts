import {
  ApiWriteError,
  type Change,
  type Informer,
  type Informers,
  type KubernetesWriter,
  type LeaseRecord,
  type V1EndpointSlice,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '../services/informers.ts';

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

/** One slot of a label index: a namespace and a label value (NUL cannot occur in either). */
function labelSlot(namespace: string, value: string): string {
  return `${namespace}\0${value}`;
}

function keyOf(obj: Meta, kind: string): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${kind}: object without metadata.name`);
  return obj.metadata?.namespace ? `${obj.metadata.namespace}/${name}` : name;
}

/**
 * An in-memory informer: `add`, `update`, `upsert` and `delete` change the
 * cache and emit the change synchronously to every listener, as a watch event would.
 */
export class FakeInformer<T extends Meta> implements Informer<T> {
  private readonly items = new Map<string, T>();
  private readonly listeners = new Set<(change: Change<T>) => void>();
  /** label -> (namespace, value) slot -> keys of the objects carrying it. */
  private readonly labelIndexes = new Map<string, Map<string, Set<string>>>();
  private resourceVersion = 0;
  synced = true;

  constructor(readonly kind: string) {}

  list(): T[] {
    return [...this.items.values()];
  }
  get(key: string): T | undefined {
    return this.items.get(key);
  }
  listNamespace(namespace: string): T[] {
    return this.list().filter((o) => o.metadata?.namespace === namespace);
  }
  /** Indexed per label from its first use, like the real informer's: benches of 30k objects must not measure a scan. */
  listByLabel(namespace: string, label: string, value: string): T[] {
    let index = this.labelIndexes.get(label);
    if (!index) {
      this.labelIndexes.set(label, (index = new Map()));
      for (const [key, obj] of this.items) this.indexOne(index, label, key, obj);
    }
    return [...(index.get(labelSlot(namespace, value)) ?? [])].map((key) => this.items.get(key)!);
  }
  private indexOne(index: Map<string, Set<string>>, label: string, key: string, obj: T): void {
    const value = obj.metadata?.labels?.[label];
    if (value === undefined) return;
    const slot = labelSlot(obj.metadata?.namespace ?? '', value);
    let keys = index.get(slot);
    if (!keys) index.set(slot, (keys = new Set()));
    keys.add(key);
  }
  private reindex(key: string, old: T | undefined, now: T | undefined): void {
    for (const [label, index] of this.labelIndexes) {
      const was = old?.metadata?.labels?.[label];
      if (was !== undefined) {
        const slot = labelSlot(old!.metadata?.namespace ?? '', was);
        index.get(slot)?.delete(key);
        if (index.get(slot)?.size === 0) index.delete(slot);
      }
      if (now) this.indexOne(index, label, key, now);
    }
  }
  onChange(listener: (change: Change<T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  hasSynced(): boolean {
    return this.synced;
  }
  /** Number of subscribed listeners (lets tests check that a plugin unsubscribed). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  private stamp(obj: T): T {
    const copy = structuredClone(obj);
    copy.metadata = { ...copy.metadata, resourceVersion: String(++this.resourceVersion) };
    return copy;
  }

  private emit(change: Change<T>) {
    for (const l of [...this.listeners]) l(change);
  }

  add(obj: T): T {
    const key = keyOf(obj, this.kind);
    if (this.items.has(key)) throw new Error(`${this.kind} ${key} already exists`);
    const stored = this.stamp(obj);
    this.items.set(key, stored);
    this.reindex(key, undefined, stored);
    this.emit({ type: 'add', object: stored });
    return stored;
  }

  update(obj: T): T {
    const key = keyOf(obj, this.kind);
    const old = this.items.get(key);
    if (!old) throw new Error(`${this.kind} ${key} does not exist`);
    const stored = this.stamp(obj);
    this.items.set(key, stored);
    this.reindex(key, old, stored);
    this.emit({ type: 'update', object: stored, old });
    return stored;
  }

  /** Adds or updates. */
  upsert(obj: T): T {
    return this.items.has(keyOf(obj, this.kind)) ? this.update(obj) : this.add(obj);
  }

  delete(keyOrObj: string | T): T {
    const key = typeof keyOrObj === 'string' ? keyOrObj : keyOf(keyOrObj, this.kind);
    const old = this.items.get(key);
    if (!old) throw new Error(`${this.kind} ${key} does not exist`);
    this.items.delete(key);
    this.reindex(key, old, undefined);
    this.emit({ type: 'delete', object: old });
    return old;
  }
}

export interface RecordedEvent {
  ref: { kind: string; name: string; namespace?: string; uid?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * Leases in memory with the API's resourceVersion rules; share one between
 * several FakeInformers to have several agents race for the same Lease.
 */
export class FakeLeaseStore {
  private readonly leases = new Map<string, LeaseRecord>();
  private rv = 0;
  /** Every successful write, in order. */
  readonly writes: LeaseRecord[] = [];
  /** Fails the next write with this error (then writes work again). */
  failNext: Error | undefined;

  get(namespace: string, name: string): LeaseRecord | undefined {
    const l = this.leases.get(`${namespace}/${name}`);
    return l && structuredClone(l);
  }

  private write(lease: LeaseRecord): LeaseRecord {
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    const stored = { ...structuredClone(lease), resourceVersion: String(++this.rv) };
    this.leases.set(`${lease.namespace}/${lease.name}`, stored);
    this.writes.push(structuredClone(stored));
    return structuredClone(stored);
  }

  create(lease: LeaseRecord): LeaseRecord {
    if (this.leases.has(`${lease.namespace}/${lease.name}`)) throw new ApiWriteError('already-exists', `lease ${lease.namespace}/${lease.name} already exists`, 409);
    return this.write(lease);
  }

  update(lease: LeaseRecord): LeaseRecord {
    const old = this.leases.get(`${lease.namespace}/${lease.name}`);
    if (!old) throw new ApiWriteError('not-found', `lease ${lease.namespace}/${lease.name} not found`, 404);
    if (lease.resourceVersion !== old.resourceVersion) throw new ApiWriteError('conflict', `lease ${lease.namespace}/${lease.name} was modified`, 409);
    return this.write(lease);
  }
}

/**
 * Records events; applies node annotation patches to the fake node informer,
 * service status updates to the fake service informer (with the API's
 * resourceVersion check), and Lease writes to a FakeLeaseStore.
 */
export class FakeKubernetesWriter implements KubernetesWriter {
  readonly events: RecordedEvent[] = [];
  readonly annotationPatches: Array<{ name: string; annotations: Record<string, string | null> }> = [];
  /** Every successful service status update (the Service as stored). */
  readonly statusUpdates: V1Service[] = [];
  /** Fails the next service status update with this error. */
  failNextStatusUpdate: Error | undefined;

  constructor(
    private readonly nodes: FakeInformer<V1Node>,
    private readonly services: FakeInformer<V1Service> = new FakeInformer<V1Service>('Service'),
    readonly leases: FakeLeaseStore = new FakeLeaseStore(),
  ) {}

  async getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    return this.leases.get(namespace, name);
  }
  async createLease(lease: LeaseRecord): Promise<LeaseRecord> {
    return this.leases.create(lease);
  }
  async updateLease(lease: LeaseRecord): Promise<LeaseRecord> {
    return this.leases.update(lease);
  }

  async updateServiceStatus(service: V1Service): Promise<V1Service> {
    const failure = this.failNextStatusUpdate;
    this.failNextStatusUpdate = undefined;
    if (failure) throw failure;
    const key = `${service.metadata?.namespace}/${service.metadata?.name}`;
    const current = this.services.get(key);
    if (!current) throw new ApiWriteError('not-found', `service ${key} not found`, 404);
    if (service.metadata?.resourceVersion !== current.metadata?.resourceVersion) throw new ApiWriteError('conflict', `service ${key} was modified`, 409);
    const stored = this.services.update({ ...structuredClone(current), status: structuredClone(service.status ?? {}) });
    this.statusUpdates.push(structuredClone(stored));
    return structuredClone(stored);
  }

  async recordEvent(ref: RecordedEvent['ref'], type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.events.push({ ref: { ...ref }, type, reason, message });
  }

  async patchNodeAnnotations(name: string, annotations: Record<string, string | null>): Promise<void> {
    this.annotationPatches.push({ name, annotations: { ...annotations } });
    const node = this.nodes.get(name);
    if (!node) throw new Error(`node ${JSON.stringify(name)} not found`);
    const next = structuredClone(node);
    const merged: Record<string, string> = { ...next.metadata?.annotations };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    next.metadata = { ...next.metadata, annotations: merged };
    this.nodes.update(next);
  }
}

/** The six informers in memory, all synced. `leases` may be shared between several of them (agents racing for a Lease). */
export class FakeInformers implements Informers {
  constructor(opts: { leases?: FakeLeaseStore } = {}) {
    this.api = new FakeKubernetesWriter(this.nodes, this.services, opts.leases);
  }

  readonly nodes = new FakeInformer<V1Node>('Node');
  readonly pods = new FakeInformer<V1Pod>('Pod');
  readonly services = new FakeInformer<V1Service>('Service');
  readonly endpointSlices = new FakeInformer<V1EndpointSlice>('EndpointSlice');
  readonly namespaces = new FakeInformer<V1Namespace>('Namespace');
  readonly networkPolicies = new FakeInformer<V1NetworkPolicy>('NetworkPolicy');
  readonly api: FakeKubernetesWriter;

  async waitForSync(): Promise<void> {
    const all = [this.nodes, this.pods, this.services, this.endpointSlices, this.namespaces, this.networkPolicies];
    const unsynced = all.filter((i) => !i.hasSynced()).map((i) => i.kind);
    if (unsynced.length) throw new Error(`informers not synced: ${unsynced.join(', ')}`);
  }
}

/** A V1Node for tests: name, addresses and pod CIDRs. */
export function makeNode(
  name: string,
  opts: { internalIPs?: string[]; externalIPs?: string[]; podCIDRs?: string[]; podCIDR?: string; annotations?: Record<string, string> } = {},
): V1Node {
  const addresses = [
    ...(opts.internalIPs ?? []).map((address) => ({ type: 'InternalIP', address })),
    ...(opts.externalIPs ?? []).map((address) => ({ type: 'ExternalIP', address })),
  ];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, annotations: opts.annotations },
    spec: { podCIDRs: opts.podCIDRs, podCIDR: opts.podCIDR ?? opts.podCIDRs?.[0] },
    status: { addresses },
  };
}
