/** Requests to a pod test server's control socket (probes run from inside the pod). */
import net from 'node:net';

/** One JSON request; resolves with the first JSON line of the answer. */
export function controlRequest(socket: string, req: Record<string, unknown>, timeoutMs = 5000): Promise<any> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`${socket}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on('connect', () => conn.end(`${JSON.stringify(req)}\n`));
    conn.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        conn.destroy();
        try {
          resolve(JSON.parse(buf.slice(0, nl)));
        } catch (e) {
          reject(e);
        }
      }
    });
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
