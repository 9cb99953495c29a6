/**
 * A scripted Kubernetes API server for unit and integration tests of the
 * agent's Kubernetes client: an in-memory store behind the REST protocol
 * (list/watch with resourceVersion, bookmarks, 410 Gone, selectors,
 * create/update/patch/delete, status, discovery) for the kinds krouter uses,
 * which a test can drive where a real API server cannot be made to (close
 * every watch now, compact now, count watchers). The lab and every e2e test
 * run the real kube-apiserver (test/lab/k8s/).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Handler } from './server.ts';
import { Store } from './store.ts';

export { Store } from './store.ts';
export { RESOURCES, resourceByKind, findResource } from './resources.ts';

export interface ApiServerOptions {
  listen?: Array<{ host: string; port: number }>;
  /** Change events kept for watches that resume from a resourceVersion (default 1000). */
  historyLimit?: number;
  /** Interval of BOOKMARK events on watches that ask for them (default 5000 ms). */
  bookmarkIntervalMs?: number;
}

export interface ApiServer {
  url: string;
  urls: string[];
  close(): Promise<void>;
  store: Store;
  /** Ends every open watch connection (clients must reconnect). */
  closeWatches(): void;
}

function urlOf(addr: AddressInfo): string {
  const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return `http://${host}:${addr.port}`;
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const store = new Store(opts.historyLimit ?? 1000);
  const handler = new Handler(store, { bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 5000 });
  const listen = opts.listen?.length ? opts.listen : [{ host: '127.0.0.1', port: 0 }];
  const servers: Server[] = [];
  const urls: string[] = [];
  try {
    for (const { host, port } of listen) {
      const server = createServer(handler.handle);
      // Watches are long-lived; the defaults would cut them.
      server.requestTimeout = 0;
      server.headersTimeout = 60_000;
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      urls.push(urlOf(server.address() as AddressInfo));
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    url: urls[0]!,
    urls,
    store,
    closeWatches: () => {
      store.closeWatches();
      handler.closeAll();
    },
    close: () =>
      (closed ??= (async () => {
        store.closeWatches();
        handler.closeAll();
        await Promise.all(
          servers.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.close(() => resolve());
                s.closeAllConnections();
              }),
          ),
        );
      })()),
  };
}
