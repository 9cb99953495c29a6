/**
 * client-node's model classes give every known field an own property, set to
 * undefined when the object has no value for it: a Service or EndpointSlice
 * carries dozens of empty slots at every level, and tens of thousands of
 * cached objects pay for them. The caches keep plain copies with only the
 * fields that have values (built fresh, not by deleting, so V8 keeps them
 * compact). A reader sees the same values (`obj.spec?.x` is undefined either
 * way); only the model class's prototype is gone, which nothing uses.
 */
export function compactCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(compactCopy) as T;
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== undefined) out[key] = compactCopy(v);
  }
  return out as T;
}

/**
 * What an informer caches of an object: its compact copy without
 * `metadata.managedFields`. Field ownership records are the API server's
 * bookkeeping (often larger than the object's own fields on a real
 * cluster); no plugin reads them, and a write from a cached object leaves
 * them as the server has them. `project`, when the kind has one, cuts the
 * copy down to the fields plugins read (projections.ts).
 */
export function cacheCopy<T>(object: T, project?: (compact: T) => unknown): T {
  const compact = compactCopy(object);
  const copy = (project ? project(compact) : compact) as T & { metadata?: { managedFields?: unknown } };
  if (copy && typeof copy === 'object' && copy.metadata) delete copy.metadata.managedFields;
  return copy;
}
