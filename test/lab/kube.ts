/**
 * A small Kubernetes REST client for the lab (kubelets, check, tests): JSON
 * over HTTPS with a client certificate (the API server authenticates every
 * lab identity by its certificate), and informers that list, watch from the
 * resourceVersion and relist when the server answers 410 Gone.
 */
import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';

export class KubeError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

export type Obj = Record<string, any> & { metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: any } };

/** Where a resource lives: `/api/v1` or `/apis/<group>/<version>` plus the plural. */
export interface ResourcePath {
  prefix: string;
  plural: string;
  namespaced: boolean;
}

export const R = {
  nodes: { prefix: '/api/v1', plural: 'nodes', namespaced: false },
  namespaces: { prefix: '/api/v1', plural: 'namespaces', namespaced: false },
  pods: { prefix: '/api/v1', plural: 'pods', namespaced: true },
  services: { prefix: '/api/v1', plural: 'services', namespaced: true },
  events: { prefix: '/api/v1', plural: 'events', namespaced: true },
  configmaps: { prefix: '/api/v1', plural: 'configmaps', namespaced: true },
  serviceaccounts: { prefix: '/api/v1', plural: 'serviceaccounts', namespaced: true },
  leases: { prefix: '/apis/coordination.k8s.io/v1', plural: 'leases', namespaced: true },
  daemonsets: { prefix: '/apis/apps/v1', plural: 'daemonsets', namespaced: true },
  endpointslices: { prefix: '/apis/discovery.k8s.io/v1', plural: 'endpointslices', namespaced: true },
} satisfies Record<string, ResourcePath>;

export function resourceUrl(r: ResourcePath, namespace?: string, name?: string, sub?: string): string {
  let p = r.prefix;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (sub) p += `/${sub}`;
  return p;
}

export const keyOf = (o: Obj): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

/** Where a client's credentials are: PEM files of the cluster CA, its certificate and key. */
export interface TlsFiles {
  caCert: string;
  cert: string;
  key: string;
}

export class KubeClient {
  readonly base: string;
  private readonly dispatcher: Agent;
  constructor(base: string, tls: TlsFiles) {
    this.base = base.replace(/\/$/, '');
    this.dispatcher = new Agent({
      connect: { ca: readFileSync(tls.caCert), cert: readFileSync(tls.cert), key: readFileSync(tls.key) },
      // Watches stay open for minutes; the server ends them itself.
      bodyTimeout: 0,
      headersTimeout: 30_000,
    });
  }

  /** Closes the client's connections (open watches end). */
  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }

  async request<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    const res = await fetch(this.base + path, {
      dispatcher: this.dispatcher,
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) throw new KubeError(res.status, json?.reason ?? res.statusText, json?.message ?? `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
    return json as T;
  }

  list(r: ResourcePath, opts: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {}): Promise<{ items: Obj[]; metadata: { resourceVersion: string } }> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    const qs = q.toString();
    return this.request('GET', resourceUrl(r, opts.namespace) + (qs ? `?${qs}` : ''));
  }

  get(r: ResourcePath, namespace: string | undefined, name: string): Promise<Obj> {
    return this.request('GET', resourceUrl(r, namespace, name));
  }

  /** GET that answers undefined for 404. */
  async tryGet(r: ResourcePath, namespace: string | undefined, name: string): Promise<Obj | undefined> {
    try {
      return await this.get(r, namespace, name);
    } catch (e) {
      if (e instanceof KubeError && e.code === 404) return undefined;
      throw e;
    }
  }

  create(r: ResourcePath, obj: Obj): Promise<Obj> {
    return this.request('POST', resourceUrl(r, obj.metadata.namespace), obj);
  }

  update(r: ResourcePath, obj: Obj, sub?: string): Promise<Obj> {
    return this.request('PUT', resourceUrl(r, obj.metadata.namespace, obj.metadata.name, sub), obj);
  }

  /** JSON merge patch (RFC 7386). */
  patch(r: ResourcePath, namespace: string | undefined, name: string, patch: unknown, sub?: string): Promise<Obj> {
    return this.request('PATCH', resourceUrl(r, namespace, name, sub), patch, 'application/merge-patch+json');
  }

  /** DELETE; 404 counts as done. */
  async delete(r: ResourcePath, namespace: string | undefined, name: string, opts: { gracePeriodSeconds?: number; uid?: string } = {}): Promise<void> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.uid) body.preconditions = { uid: opts.uid };
    const qs = opts.gracePeriodSeconds !== undefined ? `?gracePeriodSeconds=${opts.gracePeriodSeconds}` : '';
    try {
      await this.request('DELETE', resourceUrl(r, namespace, name) + qs, body);
    } catch (e) {
      if (e instanceof KubeError && (e.code === 404 || (e.code === 409 && opts.uid))) return;
      throw e;
    }
  }

  /**
   * One watch request: calls `onEvent` per event until the stream ends.
   * Throws KubeError(410) when the resourceVersion is too old.
   */
  async watchOnce(r: ResourcePath, resourceVersion: string, onEvent: (type: string, obj: Obj) => void, signal: AbortSignal, opts: { fieldSelector?: string; labelSelector?: string } = {}): Promise<void> {
    const q = new URLSearchParams({ watch: '1', resourceVersion, allowWatchBookmarks: 'true' });
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    const res = await fetch(`${this.base}${resourceUrl(r)}?${q}`, { signal, dispatcher: this.dispatcher, headers: { accept: 'application/json' } });
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      throw new KubeError(res.status, 'WatchFailed', `watch ${r.plural}: HTTP ${res.status} ${text.slice(0, 200)}`);
    }
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const ev = JSON.parse(line) as { type: string; object: any };
        if (ev.type === 'ERROR') {
          const code = ev.object?.code ?? 500;
          throw new KubeError(code, ev.object?.reason ?? 'Error', ev.object?.message ?? 'watch error');
        }
        onEvent(ev.type, ev.object);
      }
    }
  }
}

export interface InformerHandlers {
  onAdd?(obj: Obj): void;
  onUpdate?(obj: Obj, old: Obj): void;
  onDelete?(obj: Obj): void;
  /** After each (re)list has been applied to the store. */
  onSync?(): void;
}

/**
 * Keeps a local copy of one resource kind. Relists on 410 Gone and after
 * connection errors (with a short backoff), emitting only real differences.
 */
export class Informer {
  readonly store = new Map<string, Obj>();
  private readonly abort = new AbortController();
  private syncedResolve!: () => void;
  readonly synced: Promise<void> = new Promise((r) => (this.syncedResolve = r));
  private loop?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly resource: ResourcePath,
    private readonly handlers: InformerHandlers,
    private readonly opts: { fieldSelector?: string; labelSelector?: string; log?: (line: string) => void } = {},
  ) {}

  start(): this {
    this.loop = this.run();
    return this;
  }

  list(): Obj[] {
    return [...this.store.values()];
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let rv = '';
    while (!signal.aborted) {
      try {
        if (!rv) rv = await this.relist();
        await this.client.watchOnce(
          this.resource,
          rv,
          (type, obj) => {
            if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
            if (type === 'BOOKMARK') return;
            this.apply(type, obj);
          },
          signal,
          this.opts,
        );
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof KubeError && e.code === 410) {
          rv = '';
          continue;
        }
        this.opts.log?.(`informer ${this.resource.plural}: ${(e as Error).message}; retrying`);
        rv = '';
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async relist(): Promise<string> {
    const res = await this.client.list(this.resource, this.opts);
    const seen = new Set<string>();
    for (const item of res.items) {
      const k = keyOf(item);
      seen.add(k);
      this.apply('MODIFIED', item);
    }
    for (const [k, old] of [...this.store]) if (!seen.has(k)) this.apply('DELETED', old);
    this.handlers.onSync?.();
    this.syncedResolve();
    return res.metadata.resourceVersion;
  }

  private apply(type: string, obj: Obj): void {
    const k = keyOf(obj);
    const old = this.store.get(k);
    if (type === 'DELETED') {
      if (!old) return;
      this.store.delete(k);
      this.handlers.onDelete?.(obj);
      return;
    }
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.store.set(k, obj);
    if (old) this.handlers.onUpdate?.(obj, old);
    else this.handlers.onAdd?.(obj);
  }
}
