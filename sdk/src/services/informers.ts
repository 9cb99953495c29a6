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
  /**
   * Objects in a namespace whose label `label` is `value` (a Service's
   * EndpointSlices: `kubernetes.io/service-name`). Indexed from the first
   * call for that label on: the cost is in the matches, not the namespace.
   */
  listByLabel(namespace: string, label: string, value: string): T[];
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
  /** Resolves once every started informer has listed; rejects after timeoutMs (default: the agent's cache sync timeout, kubernetes.cacheSyncTimeoutSeconds). */
  waitForSync(timeoutMs?: number): Promise<void>;
  /** Writes through the API: events and status patches. */
  readonly api: KubernetesWriter;
}

/**
 * A coordination.k8s.io/v1 Lease as the agent reads and writes it (times are
 * RFC 3339 texts with microseconds, as the API stores them).
 */
export interface LeaseRecord {
  namespace: string;
  name: string;
  /** Set on a Lease read; an update must carry the one it read (optimistic concurrency). */
  resourceVersion?: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** Why a write through the API failed: a closed set, so callers decide on values, not on message texts. */
export type ApiErrorKind = 'conflict' | 'already-exists' | 'not-found' | 'forbidden' | 'invalid' | 'other';

const API_ERROR_BRAND = Symbol.for('krouter/api-error');

/** A failed API write. Recognise it with `apiErrorKind(err)` (works across separately built bundles). */
export class ApiWriteError extends Error {
  readonly [API_ERROR_BRAND] = true;
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ApiWriteError';
  }
}

/** The kind of a failed API write, or undefined when `err` is not one. */
export function apiErrorKind(err: unknown): ApiErrorKind | undefined {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[API_ERROR_BRAND] === true ? (err as ApiWriteError).kind : undefined;
}

/** The few writes an agent makes. */
export interface KubernetesWriter {
  /** Records a Kubernetes Event about an object (best effort, never throws). */
  recordEvent(ref: { kind: string; name: string; namespace?: string; uid?: string }, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
  /** JSON merge patch of an object's metadata annotations/labels. */
  patchNodeAnnotations(name: string, annotations: Record<string, string | null>): Promise<void>;
  /** Reads a Lease; undefined when there is none. Throws ApiWriteError on other failures. */
  getLease(namespace: string, name: string): Promise<LeaseRecord | undefined>;
  /** Creates a Lease (no resourceVersion); ApiWriteError `already-exists` when another made it first. */
  createLease(lease: LeaseRecord): Promise<LeaseRecord>;
  /** Replaces a Lease read before; ApiWriteError `conflict` when it changed since (resourceVersion). */
  updateLease(lease: LeaseRecord): Promise<LeaseRecord>;
  /**
   * Replaces a Service's status (the `status` subresource) with the given
   * object's `status`; `metadata.resourceVersion` must be the one the caller
   * decided on (ApiWriteError `conflict` when the Service changed since,
   * `not-found` when it is gone). Returns the Service as stored.
   */
  updateServiceStatus(service: V1Service): Promise<V1Service>;
}

export const Informers = serviceToken<Informers>('informers', 1);
