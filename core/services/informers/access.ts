/**
 * Telling an RBAC refusal apart from a passing failure. A list or watch the
 * API server refuses (401/403) will not heal by retrying: the operator must
 * change the agent's ClusterRole or credentials, so it is reported once, as
 * an error that names the verb, the resource and its API group.
 */

/** The REST verb of a failed call. */
export type ListWatchVerb = 'list' | 'watch';

export interface AccessDenied {
  status: 401 | 403;
  /** One line for the operator. */
  message: string;
}

/** `/apis/discovery.k8s.io/v1/endpointslices` -> resource `endpointslices`, group `discovery.k8s.io` (core: ""). */
export function resourceOfPath(path: string): { resource: string; group: string } {
  const parts = path.split('/').filter(Boolean);
  const resource = parts[parts.length - 1] ?? path;
  return { resource, group: parts[0] === 'apis' ? (parts[1] ?? '') : '' };
}

/** The HTTP status of a client-node failure (ApiException.code, or a watch's statusCode). */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** AccessDenied for a 401/403 failure of `verb` on the collection at `path`; undefined for anything else. */
export function accessDenied(err: unknown, verb: ListWatchVerb, path: string): AccessDenied | undefined {
  const status = statusOf(err);
  if (status !== 401 && status !== 403) return undefined;
  const { resource, group } = resourceOfPath(path);
  const groupText = group ? `API group "${group}"` : 'the core API group ("")';
  if (status === 401) {
    return { status, message: `the API server does not accept the agent's credentials (401) to ${verb} ${resource}: check the kubeconfig or the service-account token` };
  }
  return {
    status,
    message: `permission denied: the agent may not ${verb} ${resource} (${groupText}); grant the verb "${verb}" on "${resource}" in the ClusterRole bound to the agent's service account (deploy/rbac.yaml)`,
  };
}
