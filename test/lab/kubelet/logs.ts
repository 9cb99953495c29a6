/**
 * The kubelet API's container logs (`kubectl logs`, which the API server
 * proxies to GET /containerLogs/NS/POD/CONTAINER): the container's log file
 * as the lab kubelet writes it, every restart included. Pure: the request
 * and the tail; follow, previous, timestamps and since* are not provided.
 */

export interface LogsRequest {
  namespace: string;
  pod: string;
  container: string;
  tailLines?: number;
  limitBytes?: number;
}

/** `/containerLogs/NS/POD/CONTAINER?tailLines=N&limitBytes=N`; a string is why it is not one. */
export function parseLogsRequest(rawUrl: string): LogsRequest | string {
  const url = new URL(rawUrl, 'https://kubelet');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'containerLogs' || parts.length !== 4) return `not a container logs path: ${url.pathname}`;
  const req: LogsRequest = { namespace: parts[1]!, pod: parts[2]!, container: parts[3]! };
  const num = (name: string) => {
    const v = url.searchParams.get(name);
    return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const tail = num('tailLines');
  const limit = num('limitBytes');
  if (tail !== undefined) req.tailLines = tail;
  if (limit !== undefined) req.limitBytes = limit;
  return req;
}

/** The last `tailLines` lines of `text` (all without), then at most `limitBytes` bytes of that. */
export function selectLog(text: Buffer, req: Pick<LogsRequest, 'tailLines' | 'limitBytes'>): Buffer {
  let out = text;
  if (req.tailLines !== undefined) {
    const lines = text.toString('utf8').split('\n');
    const trailing = lines[lines.length - 1] === '' ? lines.pop() : undefined;
    const kept = req.tailLines === 0 ? [] : lines.slice(-req.tailLines);
    out = Buffer.from(kept.join('\n') + (kept.length && trailing !== undefined ? '\n' : ''));
  }
  return req.limitBytes !== undefined ? out.subarray(0, req.limitBytes) : out;
}
