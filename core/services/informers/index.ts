/**
 * Informers for the kinds plugins use. A kind starts listing and watching on the
 * first access of its getter, so an agent that needs only nodes watches only nodes.
 */
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import {
  ApiWriteError,
  type ApiErrorKind,
  type Informer,
  type Informers,
  type KubernetesWriter,
  type LeaseRecord,
  type Logger,
  type Metrics,
  type V1EndpointSlice,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@krouter/sdk';
import { KindInformer, type Backoff, type KindInformerDeps } from './informer.ts';
import { KINDS, type KindSpec } from './kinds.ts';
import { loadKubeConfig } from './kubeconfig.ts';

export interface InformersServiceOptions {
  logger: Logger;
  metrics: Metrics;
  kubeconfig?: string;
  master?: string;
  nodeName: string;
  /** waitForSync's timeout when a caller names none (the config's kubernetes.cacheSyncTimeoutSeconds). */
  cacheSyncTimeoutMs?: number;
  /** Retry delays of failed list/watch calls (default 500 ms doubling to 30 s). */
  backoff?: Backoff;
}

export class InformersService implements Informers {
  private readonly kc: KubeConfig;
  private readonly started = new Map<string, KindInformer<any>>();
  private readonly deps: Omit<KindInformerDeps, 'kc'>;
  private closed = false;
  readonly api: KubernetesWriter;

  constructor(private readonly opts: InformersServiceOptions) {
    this.kc = loadKubeConfig(opts);
    this.deps = {
      logger: opts.logger.child({ service: 'informers' }),
      restarts: opts.metrics.counter({ name: 'informer_watch_restarts_total', help: 'Watch restarts per kind and reason (closed, expired, forbidden, error)', labelNames: ['kind', 'reason'] }),
      relists: opts.metrics.counter({ name: 'informer_lists_total', help: 'Full lists per kind (first sync and after 410 Gone)', labelNames: ['kind'] }),
      cacheSize: opts.metrics.gauge({ name: 'informer_cache_objects', help: 'Objects in the informer cache per kind', labelNames: ['kind'] }),
      backoff: opts.backoff ?? { initialMs: 500, maxMs: 30_000 },
    };
    this.api = new Writer(this.kc, opts.nodeName, this.deps.logger);
  }

  private informer<T>(spec: KindSpec): Informer<T> {
    let inf = this.started.get(spec.kind);
    if (!inf) {
      if (this.closed) throw new Error(`informers: closed, cannot start ${spec.kind}`);
      inf = new KindInformer<any>(spec, { ...this.deps, kc: this.kc });
      this.started.set(spec.kind, inf);
      inf.start();
    }
    return inf;
  }

  get nodes(): Informer<V1Node> {
    return this.informer(KINDS.nodes);
  }
  get pods(): Informer<V1Pod> {
    return this.informer(KINDS.pods);
  }
  get services(): Informer<V1Service> {
    return this.informer(KINDS.services);
  }
  get endpointSlices(): Informer<V1EndpointSlice> {
    return this.informer(KINDS.endpointSlices);
  }
  get namespaces(): Informer<V1Namespace> {
    return this.informer(KINDS.namespaces);
  }
  get networkPolicies(): Informer<V1NetworkPolicy> {
    return this.informer(KINDS.networkPolicies);
  }

  /** Kinds started so far (for status output and tests). */
  startedKinds(): string[] {
    return [...this.started.keys()];
  }

  async waitForSync(timeoutMs = this.opts.cacheSyncTimeoutMs ?? 60_000): Promise<void> {
    const infs = [...this.started.values()];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const pending = infs.filter((i) => !i.hasSynced()).map((i) => i.kind);
        reject(new Error(`informers not synced after ${timeoutMs} ms: ${pending.join(', ')}`));
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all(infs.map((i) => i.syncedPromise)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.started.values()].map((i) => i.close()));
  }
}

/** The HTTP status of a client-node failure. */
function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A client-node failure as an ApiWriteError of a closed kind. */
export function toApiWriteError(err: unknown, what: string): ApiWriteError {
  const status = httpStatus(err);
  const body = (err as { body?: unknown } | undefined)?.body;
  let reason: string | undefined;
  let message = (err as Error)?.message ?? String(err);
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { reason?: string; message?: string } | undefined;
    reason = parsed?.reason;
    if (parsed?.message) message = parsed.message;
  } catch {
    // not a Status object
  }
  const kind: ApiErrorKind =
    status === 409 ? (reason === 'AlreadyExists' ? 'already-exists' : 'conflict') : status === 404 ? 'not-found' : status === 401 || status === 403 ? 'forbidden' : status === 422 || status === 400 ? 'invalid' : 'other';
  return new ApiWriteError(kind, `${what}: ${status ? `${status} ` : ''}${message}`, status);
}

/** A time the API returned: a Date (typed models) or already text; as the Lease's MicroTime text. */
function timeText(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return typeof value === 'string' ? value : undefined;
}

function leaseRecord(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    namespace: lease.metadata?.namespace ?? '',
    name: lease.metadata?.name ?? '',
    ...(lease.metadata?.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}),
    ...(spec.holderIdentity !== undefined ? { holderIdentity: spec.holderIdentity } : {}),
    ...(spec.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: spec.leaseDurationSeconds } : {}),
    ...(timeText(spec.acquireTime) ? { acquireTime: timeText(spec.acquireTime) } : {}),
    ...(timeText(spec.renewTime) ? { renewTime: timeText(spec.renewTime) } : {}),
    ...(spec.leaseTransitions !== undefined ? { leaseTransitions: spec.leaseTransitions } : {}),
  };
}

/** A LeaseRecord as the body the API takes (MicroTime texts passed through as they are: client-node would print Dates with milliseconds, which the API server refuses). */
function leaseBody(r: LeaseRecord): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: r.name, namespace: r.namespace, ...(r.resourceVersion ? { resourceVersion: r.resourceVersion } : {}) },
    spec: {
      holderIdentity: r.holderIdentity,
      leaseDurationSeconds: r.leaseDurationSeconds,
      acquireTime: r.acquireTime as unknown as Date,
      renewTime: r.renewTime as unknown as Date,
      leaseTransitions: r.leaseTransitions,
    },
  };
}

class Writer implements KubernetesWriter {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;

  constructor(
    kc: KubeConfig,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
  }

  async getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    try {
      return leaseRecord(await this.coordination.readNamespacedLease({ namespace, name }));
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw toApiWriteError(err, `reading lease ${namespace}/${name}`);
    }
  }

  async createLease(lease: LeaseRecord): Promise<LeaseRecord> {
    try {
      return leaseRecord(await this.coordination.createNamespacedLease({ namespace: lease.namespace, body: leaseBody({ ...lease, resourceVersion: undefined }) }));
    } catch (err) {
      throw toApiWriteError(err, `creating lease ${lease.namespace}/${lease.name}`);
    }
  }

  async updateLease(lease: LeaseRecord): Promise<LeaseRecord> {
    try {
      return leaseRecord(await this.coordination.replaceNamespacedLease({ namespace: lease.namespace, name: lease.name, body: leaseBody(lease) }));
    } catch (err) {
      throw toApiWriteError(err, `updating lease ${lease.namespace}/${lease.name}`);
    }
  }

  async updateServiceStatus(service: V1Service): Promise<V1Service> {
    const namespace = service.metadata?.namespace ?? '';
    const name = service.metadata?.name ?? '';
    try {
      return await this.core.replaceNamespacedServiceStatus({ namespace, name, body: service });
    } catch (err) {
      throw toApiWriteError(err, `updating the status of service ${namespace}/${name}`);
    }
  }

  async recordEvent(ref: { kind: string; name: string; namespace?: string; uid?: string }, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    // Events about cluster-scoped objects (nodes) go to "default", as kubelet does.
    const namespace = ref.namespace ?? 'default';
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${ref.name}.`, namespace },
          involvedObject: { kind: ref.kind, name: ref.name, namespace: ref.namespace, uid: ref.uid },
          type,
          reason,
          message,
          source: { component: 'krouter', host: this.nodeName },
          reportingComponent: 'krouter',
          reportingInstance: this.nodeName,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      // Best effort: an event that cannot be written must not disturb the caller.
      this.logger.warn('could not record event', { kind: ref.kind, name: ref.name, reason, error: (err as Error).message });
    }
  }

  async patchNodeAnnotations(name: string, annotations: Record<string, string | null>): Promise<void> {
    try {
      await this.core.patchNode({ name, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    } catch (err) {
      throw new Error(`patching annotations of node ${name}: ${(err as Error).message}`);
    }
  }
}
