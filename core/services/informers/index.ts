/**
 * Informers for the kinds plugins use. A kind starts listing and watching on the
 * first access of its getter, so an agent that needs only nodes watches only nodes.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type {
  Informer,
  Informers,
  KubernetesWriter,
  Logger,
  Metrics,
  V1EndpointSlice,
  V1Namespace,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1Service,
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
      restarts: opts.metrics.counter({ name: 'informer_watch_restarts_total', help: 'Watch restarts per kind and reason (closed, expired, error)', labelNames: ['kind', 'reason'] }),
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

  async waitForSync(timeoutMs = 60_000): Promise<void> {
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

class Writer implements KubernetesWriter {
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
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
