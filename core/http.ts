import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@krouter/sdk';

export interface Listen {
  address: string;
  port: number;
  /** false: this endpoint is not served (default true). */
  enabled?: boolean;
}

export interface HttpOptions {
  metrics: Listen & { path?: string };
  health: Listen;
  logger: Logger;
  /** Prometheus text exposition. */
  renderMetrics: () => Promise<{ contentType: string; body: string }>;
  /** Aggregated component health. */
  healthStatus: () => { healthy: boolean; components: Record<string, { healthy: boolean; detail?: string }> };
  /** `/status` body: node, families, each plugin's status(). */
  status: () => Promise<unknown>;
}

export interface HttpServers {
  /** Base URLs actually bound (port 0 resolved), by endpoint; '' when the endpoint is off. */
  urls: { metrics: string; health: string };
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function send(res: ServerResponse, code: number, contentType: string, body: string): void {
  res.writeHead(code, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: ServerResponse, code: number, body: unknown) =>
  send(res, code, 'application/json; charset=utf-8', `${JSON.stringify(body, null, 2)}\n`);

function routes(options: HttpOptions): { metrics: Record<string, Route>; health: Record<string, Route> } {
  return {
    metrics: {
      [options.metrics.path ?? '/metrics']: async (_req, res) => {
        const { contentType, body } = await options.renderMetrics();
        send(res, 200, contentType, body);
      },
    },
    health: {
      '/healthz': async (_req, res) => {
        const status = options.healthStatus();
        if (status.healthy) return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        const unhealthy = Object.fromEntries(Object.entries(status.components).filter(([, c]) => !c.healthy));
        json(res, 503, { healthy: false, unhealthy });
      },
      '/status': async (_req, res) => json(res, 200, await options.status()),
    },
  };
}

function handler(table: Record<string, Route>, logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    const route = table[path];
    (logger as { trace?: Logger['debug'] }).trace?.('http request', { method: req.method, path, remote: req.socket.remoteAddress });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (!route) return send(res, 404, 'text/plain', `not found; try ${Object.keys(table).join(' ')}\n`);
    route(req, res).catch((err: Error) => {
      logger.error('http handler failed', { path, error: err.message });
      if (!res.headersSent) send(res, 500, 'text/plain', `${err.message}\n`);
      else res.destroy();
    });
  };
}

function urlOf(server: Server): string {
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

function listenOnce(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Listens on `at`. The default `::` serves both families on one socket; on a
 * host whose IPv6 is disabled that bind fails, and IPv4 alone is the best
 * there is, so it falls back to 0.0.0.0.
 */
async function listen(server: Server, at: Listen, endpoint: string): Promise<void> {
  const fail = (address: string, err: NodeJS.ErrnoException) =>
    new Error(`${endpoint} endpoint: cannot listen on ${address}:${at.port}: ${err.code ?? err.message}`);
  try {
    await listenOnce(server, at.address, at.port);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (at.address !== '::' || (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL')) throw fail(at.address, err);
    try {
      await listenOnce(server, '0.0.0.0', at.port);
    } catch (e2) {
      throw fail('0.0.0.0', e2 as NodeJS.ErrnoException);
    }
  }
}

/**
 * Serves `/metrics` on the metrics address and `/healthz`, `/status` on the
 * health address (one server when both name the same non-zero port). Logs
 * each bound URL so an ephemeral port (0) can be found.
 */
export async function startHttp(options: HttpOptions): Promise<HttpServers> {
  const { logger } = options;
  const table = routes(options);
  const servers: Server[] = [];
  const close = async () => {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  };

  try {
    const metricsOn = options.metrics.enabled !== false;
    const healthOn = options.health.enabled !== false;
    if (!metricsOn || !healthOn) {
      const urls: HttpServers['urls'] = { metrics: '', health: '' };
      for (const [endpoint, on, at, table_] of [
        ['metrics', metricsOn, options.metrics, table.metrics],
        ['health', healthOn, options.health, table.health],
      ] as const) {
        if (!on) {
          logger.info('endpoint off', { endpoint });
          continue;
        }
        const server = createServer(handler(table_, logger));
        servers.push(server);
        await listen(server, at, endpoint);
        urls[endpoint] = urlOf(server);
        logger.info('listening', { endpoint, url: urls[endpoint] });
      }
      return { urls, close };
    }
    const shared = options.metrics.port !== 0 && options.metrics.port === options.health.port && options.metrics.address === options.health.address;
    if (shared) {
      const server = createServer(handler({ ...table.metrics, ...table.health }, logger));
      servers.push(server);
      await listen(server, options.health, 'health and metrics');
      const url = urlOf(server);
      logger.info('listening', { endpoint: 'metrics', url });
      logger.info('listening', { endpoint: 'health', url });
      return { urls: { metrics: url, health: url }, close };
    }
    const metrics = createServer(handler(table.metrics, logger));
    servers.push(metrics);
    await listen(metrics, options.metrics, 'metrics');
    const health = createServer(handler(table.health, logger));
    servers.push(health);
    await listen(health, options.health, 'health');
    const urls = { metrics: urlOf(metrics), health: urlOf(health) };
    logger.info('listening', { endpoint: 'metrics', url: urls.metrics });
    logger.info('listening', { endpoint: 'health', url: urls.health });
    return { urls, close };
  } catch (err) {
    await close();
    throw err;
  }
}
