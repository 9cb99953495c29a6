import type {
  V1EndpointSlice,
  V1Namespace,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import { serviceToken } from '../token.ts';

export type { V1EndpointSlice, V1Namespace, V1NetworkPolicy, V1Node, V1Pod, V1Service };

export type ChangeType = 'add' | 'update' | 'delete';

export interface Change<T> {
  type: ChangeType;
  object: T;
  /** Previous version on update. */
  old?: T;
}

/** A typed, read-only cache of one kind, kept current by list/watch. */
export interface Informer<T> {
  readonly kind: string;
  /** All cached objects. */
  list(): T[];
  /** By `name` (cluster-scoped) or `namespace/name`. */
  get(key: string): T | undefined;
  /** Objects in a namespace. */
  listNamespace(namespace: string): T[];
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: (change: Change<T>) => void): () => void;
  hasSynced(): boolean;
}

export interface Informers {
  readonly nodes: Informer<V1Node>;
  readonly pods: Informer<V1Pod>;
  readonly services: Informer<V1Service>;
  readonly endpointSlices: Informer<V1EndpointSlice>;
  readonly namespaces: Informer<V1Namespace>;
  readonly networkPolicies: Informer<V1NetworkPolicy>;
  /** Resolves once every started informer has listed; rejects after timeoutMs. */
  waitForSync(timeoutMs?: number): Promise<void>;
  /** Writes through the API: events and status patches. */
  readonly api: KubernetesWriter;
}

/** The few writes an agent makes. */
export interface KubernetesWriter {
  /** Records a Kubernetes Event about an object (best effort, never throws). */
  recordEvent(ref: { kind: string; name: string; namespace?: string; uid?: string }, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
  /** JSON merge patch of an object's metadata annotations/labels. */
  patchNodeAnnotations(name: string, annotations: Record<string, string | null>): Promise<void>;
}

export const Informers = serviceToken<Informers>('informers', 1);
