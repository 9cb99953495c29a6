/**
 * In-memory object store with Kubernetes resourceVersion semantics: one global,
 * monotonically increasing counter; a bounded history of change events for
 * watches; a watch from a version older than the kept history is "Expired" (410).
 */
import { randomUUID } from 'node:crypto';
import { RESOURCES, apiVersionOf, resourceKey, type ResourceDef } from './resources.ts';
import { ApiError, alreadyExists, badRequest, conflict, expired, invalid, notFound } from './status.ts';

export type KubeObject = Record<string, any>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  resource: string;
  type: EventType;
  object: KubeObject;
  /** The object before the change (MODIFIED, DELETED). */
  old?: KubeObject;
}

export interface WatchSink {
  /** Called synchronously for every change of the watched resource (and namespace). */
  event(ev: StoreEvent): void;
  /** Asks the watch to end (server closing, or a test dropping connections). */
  close(): void;
}

interface Watcher {
  resource: string;
  namespace?: string;
  sink: WatchSink;
}

export interface WriteOptions {
  dryRun?: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

const timestamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const clone = <T>(v: T): T => structuredClone(v);

/** Everything but metadata and status: a change here bumps metadata.generation. */
function specPart(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

/** The object compared for no-op detection (k8s skips writes that change nothing). */
function comparable(obj: KubeObject): string {
  const c = clone(obj);
  if (c.metadata) {
    delete c.metadata.resourceVersion;
    delete c.metadata.managedFields;
  }
  return stableStringify(c);
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export class Store {
  private rv = 0;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: StoreEvent[] = [];
  /** Newest resourceVersion no longer in the history; a watch must start at or after it. */
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();

  constructor(private historyLimit = 1000) {
    for (const def of RESOURCES) this.objects.set(resourceKey(def), new Map());
    const ns = RESOURCES.find((r) => r.plural === 'namespaces')!;
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.create(ns, undefined, { metadata: { name } });
    }
  }

  currentRv(): string {
    return String(this.rv);
  }

  /** Oldest resourceVersion a watch may start from. */
  oldestWatchableRv(): number {
    return this.compactedRv;
  }

  setHistoryLimit(limit: number): void {
    this.historyLimit = Math.max(0, limit);
    this.trim();
  }

  /** Drops all history: every watch from an older resourceVersion now gets 410 Expired. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** Ends every open watch (the clients see the stream close and must re-watch). */
  closeWatches(): void {
    for (const w of [...this.watchers]) w.sink.close();
    this.watchers.clear();
  }

  watcherCount(): number {
    return this.watchers.size;
  }

  private table(def: ResourceDef): Map<string, KubeObject> {
    return this.objects.get(resourceKey(def))!;
  }

  list(def: ResourceDef, namespace?: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const obj of this.table(def).values()) {
      if (!namespace || obj.metadata.namespace === namespace) out.push(clone(obj));
    }
    return out;
  }

  /** The objects as they were at resourceVersion `rv`, rebuilt by undoing newer history. */
  listAt(def: ResourceDef, namespace: string | undefined, rv: number): KubeObject[] {
    if (rv > this.rv) throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${this.rv}`);
    if (rv < this.compactedRv) throw expired(`too old resource version: ${rv} (${this.compactedRv})`);
    const state = new Map<string, KubeObject>();
    for (const [k, v] of this.table(def)) state.set(k, v);
    const key = resourceKey(def);
    for (let i = this.history.length - 1; i >= 0 && this.history[i]!.rv > rv; i--) {
      const ev = this.history[i]!;
      if (ev.resource !== key) continue;
      const k = objectKey(ev.object.metadata.namespace, ev.object.metadata.name);
      if (ev.type === 'ADDED') state.delete(k);
      else state.set(k, ev.old!);
    }
    return [...state.values()].filter((o) => !namespace || o.metadata.namespace === namespace).map(clone);
  }

  get(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const obj = this.table(def).get(objectKey(def.namespaced ? namespace : undefined, name));
    if (!obj) throw notFound(def.plural, def.group, name);
    return clone(obj);
  }

  private requireNamespace(def: ResourceDef, namespace: string | undefined): void {
    if (!def.namespaced) return;
    if (!namespace) throw badRequest(`${def.plural} are namespaced: a namespace is required`);
    const nsDef = RESOURCES.find((r) => r.plural === 'namespaces')!;
    if (!this.table(nsDef).has(namespace)) throw notFound('namespaces', '', namespace);
  }

  private checkBody(def: ResourceDef, body: unknown, namespace: string | undefined): KubeObject {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest(`the body must be a ${def.kind} object`);
    const obj = clone(body) as KubeObject;
    if (obj.kind !== undefined && obj.kind !== def.kind) throw badRequest(`the kind "${obj.kind}" of the object does not match the resource ${def.plural} (kind ${def.kind})`);
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(def)) {
      throw badRequest(`the apiVersion "${obj.apiVersion}" of the object does not match ${apiVersionOf(def)}`);
    }
    obj.kind = def.kind;
    obj.apiVersion = apiVersionOf(def);
    if (obj.metadata === undefined) obj.metadata = {};
    if (typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) throw badRequest('metadata must be an object');
    const md = obj.metadata;
    if (def.namespaced) {
      if (md.namespace !== undefined && md.namespace !== '' && md.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      md.namespace = namespace;
    } else delete md.namespace;
    for (const field of ['labels', 'annotations'] as const) {
      if (md[field] === undefined || md[field] === null) {
        delete md[field];
        continue;
      }
      if (typeof md[field] !== 'object' || Array.isArray(md[field])) throw invalid(def.kind, md.name ?? '', `metadata.${field}`, 'must be a map of strings');
      for (const [k, v] of Object.entries(md[field])) {
        if (typeof v !== 'string') throw invalid(def.kind, md.name ?? '', `metadata.${field}.${k}`, `value must be a string, got ${JSON.stringify(v)}`);
      }
    }
    return obj;
  }

  private validateName(def: ResourceDef, name: unknown): string {
    if (typeof name !== 'string' || name === '') throw invalid(def.kind, '', 'metadata.name', 'name or generateName is required');
    const label = def.plural === 'namespaces' || def.plural === 'services';
    const ok = label ? name.length <= 63 && DNS_LABEL.test(name) : name.length <= 253 && DNS_SUBDOMAIN.test(name);
    if (!ok) throw invalid(def.kind, name, 'metadata.name', `a lowercase RFC 1123 ${label ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.'`);
    return name;
  }

  private defaults(def: ResourceDef, obj: KubeObject): void {
    if (def.plural === 'namespaces') {
      // Like kube-apiserver: every namespace carries its own name as a label.
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
      obj.spec ??= { finalizers: ['kubernetes'] };
      obj.status = { phase: 'Active', ...obj.status };
    }
    if (def.plural === 'pods') obj.status = { phase: 'Pending', ...obj.status };
  }

  private commit(def: ResourceDef, type: EventType, obj: KubeObject, old?: KubeObject): void {
    const key = resourceKey(def);
    const k = objectKey(obj.metadata.namespace, obj.metadata.name);
    if (type === 'DELETED') this.table(def).delete(k);
    else this.table(def).set(k, obj);
    const ev: StoreEvent = { rv: Number(obj.metadata.resourceVersion), resource: key, type, object: obj, old };
    this.history.push(ev);
    this.trim();
    for (const w of this.watchers) {
      if (w.resource === key && (!w.namespace || w.namespace === obj.metadata.namespace)) w.sink.event(ev);
    }
  }

  private trim(): void {
    while (this.history.length > this.historyLimit) this.compactedRv = this.history.shift()!.rv;
  }

  create(def: ResourceDef, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): KubeObject {
    const obj = this.checkBody(def, body, namespace);
    const md = obj.metadata;
    if ((md.name === undefined || md.name === '') && typeof md.generateName === 'string' && md.generateName) {
      let name: string;
      do {
        name = md.generateName + Array.from({ length: 5 }, () => GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)]).join('');
      } while (this.table(def).has(objectKey(md.namespace, name)));
      md.name = name;
    }
    this.validateName(def, md.name);
    this.requireNamespace(def, namespace);
    if (this.table(def).has(objectKey(md.namespace, md.name))) throw alreadyExists(def.plural, def.group, md.name);
    if (md.resourceVersion !== undefined && md.resourceVersion !== '') {
      throw badRequest('resourceVersion should not be set on objects to be created');
    }
    delete md.deletionTimestamp;
    md.uid = randomUUID();
    md.creationTimestamp = timestamp();
    md.generation = 1;
    this.defaults(def, obj);
    if (opts.dryRun) return { ...obj, metadata: { ...md, resourceVersion: this.currentRv() } };
    md.resourceVersion = String(++this.rv);
    this.commit(def, 'ADDED', obj);
    return clone(obj);
  }

  /**
   * PUT. `subresource: 'status'` changes only status; a main-resource update of a
   * kind with a status subresource keeps the stored status.
   */
  update(def: ResourceDef, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions & { subresource?: 'status' } = {}): KubeObject {
    const ns = def.namespaced ? namespace : undefined;
    const old = this.table(def).get(objectKey(ns, name));
    if (!old) throw notFound(def.plural, def.group, name);
    const incoming = this.checkBody(def, body, ns);
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name) {
      throw badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    }
    const wantRv = incoming.metadata.resourceVersion;
    if (wantRv !== undefined && wantRv !== '' && wantRv !== old.metadata.resourceVersion) throw conflict(def.plural, def.group, name);

    let next: KubeObject;
    if (opts.subresource === 'status') {
      if (!def.status) throw notFound(`${def.plural}/status`, def.group, name);
      next = clone(old);
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = incoming;
      if (def.status) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      // Fields the server owns.
      const md = next.metadata;
      md.name = name;
      md.uid = old.metadata.uid;
      md.creationTimestamp = old.metadata.creationTimestamp;
      md.generation = old.metadata.generation;
      delete md.generateName;
      if (old.metadata.generateName) md.generateName = old.metadata.generateName;
      if (old.metadata.deletionTimestamp) md.deletionTimestamp = old.metadata.deletionTimestamp;
      else delete md.deletionTimestamp;
      this.defaults(def, next);
      if (def.status && old.status === undefined) delete next.status;
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (specPart(next) !== specPart(old)) next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    if (comparable(next) === comparable(old)) return clone(old); // no-op: no new version, no event
    if (opts.dryRun) return next;
    next.metadata.resourceVersion = String(++this.rv);
    this.commit(def, 'MODIFIED', next, old);
    return clone(next);
  }

  delete(def: ResourceDef, namespace: string | undefined, name: string, opts: WriteOptions & { preconditions?: { uid?: string; resourceVersion?: string } } = {}): KubeObject {
    const ns = def.namespaced ? namespace : undefined;
    const old = this.table(def).get(objectKey(ns, name));
    if (!old) throw notFound(def.plural, def.group, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw conflict(def.plural, def.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(def.plural, def.group, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    }
    if (opts.dryRun) return clone(old);
    if (def.plural === 'namespaces') {
      // The namespace controller's work, done at once: every object in it goes first.
      for (const other of RESOURCES) {
        if (!other.namespaced) continue;
        for (const obj of [...this.table(other).values()]) {
          if (obj.metadata.namespace === name) this.delete(other, name, obj.metadata.name);
        }
      }
    }
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.commit(def, 'DELETED', gone, old);
    return clone(gone);
  }

  /**
   * Registers a watch. From `fromRv` undefined/'0': synthetic ADDED for current
   * objects (sorted by resourceVersion) first. From a number: replays the history
   * after it, or throws 410 Expired when that part of the history is gone.
   */
  watch(def: ResourceDef, namespace: string | undefined, fromRv: string | undefined, sink: WatchSink): () => void {
    const key = resourceKey(def);
    const inScope = (o: KubeObject): boolean => !namespace || o.metadata.namespace === namespace;
    if (fromRv === undefined || fromRv === '' || fromRv === '0') {
      const current = [...this.table(def).values()].filter(inScope).sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
      for (const obj of current) sink.event({ rv: Number(obj.metadata.resourceVersion), resource: key, type: 'ADDED', object: obj });
    } else {
      const from = Number(fromRv);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resourceVersion "${fromRv}"`);
      if (from < this.compactedRv) throw expired(`too old resource version: ${from} (${this.compactedRv})`);
      for (const ev of this.history) {
        if (ev.rv > from && ev.resource === key && inScope(ev.object)) sink.event(ev);
      }
    }
    const w: Watcher = { resource: key, namespace, sink };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }
}
