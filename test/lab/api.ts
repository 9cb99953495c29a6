/** A minimal JSON client for the lab API server (the CLI's own reads and writes). */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function apiRequest<T = unknown>(base: string, method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<T> {
  const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) {
    let msg = text;
    try {
      msg = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      /* plain text */
    }
    throw new ApiError(res.status, `${method} ${path}: ${res.status} ${msg}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export const apiGet = <T = unknown>(base: string, path: string) => apiRequest<T>(base, 'GET', path);

/** True when the API server answers a list of nodes. */
export async function apiAnswers(base: string): Promise<boolean> {
  try {
    await apiRequest(base, 'GET', '/api/v1/nodes', undefined, 1000);
    return true;
  } catch {
    return false;
  }
}

export interface NodeObject {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: Array<{ type: string; address: string }>; conditions?: Array<{ type: string; status: string }> };
}

export interface PodObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: { phase?: string; podIPs?: Array<{ ip: string }>; conditions?: Array<{ type: string; status: string }> };
}

export async function listNodes(base: string): Promise<NodeObject[]> {
  return (await apiGet<{ items: NodeObject[] }>(base, '/api/v1/nodes')).items ?? [];
}

export async function listPods(base: string, namespace?: string): Promise<PodObject[]> {
  const path = namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : '/api/v1/pods';
  return (await apiGet<{ items: PodObject[] }>(base, path)).items ?? [];
}

export function podReady(p: PodObject): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}
