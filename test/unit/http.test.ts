import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { MemoryLogger } from '@krouter/sdk/testing';
import { startHttp, type HttpOptions, type HttpServers } from '../../core/http.ts';
import { Health } from '../../core/services/health.ts';
import { Metrics } from '../../core/services/metrics.ts';

function options(overrides: Partial<HttpOptions> = {}): HttpOptions & { logger: MemoryLogger; health: HttpOptions['health'] } {
  const metrics = new Metrics(false);
  metrics.counter({ name: 'http_test_total', help: 'a test counter' }).inc(undefined, 3);
  const health = new Health();
  return {
    metrics: { address: '127.0.0.1', port: 0 },
    health: { address: '127.0.0.1', port: 0 },
    logger: new MemoryLogger(),
    renderMetrics: () => metrics.render(),
    healthStatus: () => health.status(),
    status: async () => ({ node: 'n1', families: ['ipv4', 'ipv6'], plugins: { a: { peers: 2 } } }),
    ...overrides,
  } as HttpOptions & { logger: MemoryLogger };
}

describe('HTTP endpoints', () => {
  let servers: HttpServers | undefined;
  afterEach(async () => {
    await servers?.close();
    servers = undefined;
  });

  it('serves /metrics on the metrics port and logs the bound URLs', async () => {
    const opts = options();
    servers = await startHttp(opts);
    const res = await fetch(`${servers.urls.metrics}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(await res.text(), /^krouter_http_test_total 3$/m);
    const listening = opts.logger.find('listening');
    assert.deepEqual(
      listening.map((l) => [l.fields.endpoint, l.fields.url]),
      [
        ['metrics', servers.urls.metrics],
        ['health', servers.urls.health],
      ],
    );
    assert.match(servers.urls.health, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(servers.urls.health, servers.urls.metrics);
    assert.equal((await fetch(`${servers.urls.health}/metrics`)).status, 404, 'metrics are not on the health port');
  });

  it('metrics off (kube-router --metrics-port=0): no metrics listener; a custom metrics path (--metrics-path)', async () => {
    const off = options({ metrics: { address: '127.0.0.1', port: 0, enabled: false } });
    servers = await startHttp(off);
    assert.equal(servers.urls.metrics, '');
    assert.equal((await fetch(`${servers.urls.health}/healthz`)).status, 200);
    assert.deepEqual(off.logger.find('endpoint off').map((l) => l.fields.endpoint), ['metrics']);
    await servers.close();
    servers = await startHttp(options({ metrics: { address: '127.0.0.1', port: 0, path: '/prom' } }));
    assert.equal((await fetch(`${servers.urls.metrics}/prom`)).status, 200);
    assert.equal((await fetch(`${servers.urls.metrics}/metrics`)).status, 404);
  });

  it('answers /healthz 200 ok, and 503 with only the unhealthy components', async () => {
    const health = new Health();
    health.register('plugin/a', 60_000);
    health.register('plugin/b', 60_000);
    servers = await startHttp(options({ healthStatus: () => health.status() }));
    let res = await fetch(`${servers.urls.health}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');

    health.report('plugin/b', { healthy: false, detail: 'gobgpd down' });
    res = await fetch(`${servers.urls.health}/healthz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { healthy: boolean; unhealthy: Record<string, { detail: string }> };
    assert.equal(body.healthy, false);
    assert.deepEqual(Object.keys(body.unhealthy), ['plugin/b']);
    assert.equal(body.unhealthy['plugin/b']!.detail, 'gobgpd down');
  });

  it('serves /status as JSON and 404/405 for anything else', async () => {
    servers = await startHttp(options());
    const res = await fetch(`${servers.urls.health}/status`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { node: 'n1', families: ['ipv4', 'ipv6'], plugins: { a: { peers: 2 } } });
    assert.equal((await fetch(`${servers.urls.health}/nope`)).status, 404);
    assert.equal((await fetch(`${servers.urls.health}/status`, { method: 'POST' })).status, 405);
  });

  it('answers 500 naming the error when a status handler fails', async () => {
    servers = await startHttp(options({ status: async () => Promise.reject(new Error('status exploded')) }));
    const res = await fetch(`${servers.urls.health}/status`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'status exploded\n');
  });

  it('serves everything from one server when both endpoints name the same port', async () => {
    const port = await freePort();
    servers = await startHttp(options({ metrics: { address: '127.0.0.1', port }, health: { address: '127.0.0.1', port } }));
    assert.equal(servers.urls.health, `http://127.0.0.1:${port}`);
    assert.equal((await fetch(`${servers.urls.health}/metrics`)).status, 200);
    assert.equal((await fetch(`${servers.urls.health}/healthz`)).status, 200);
  });

  it('listens on IPv6 loopback with a bracketed URL', async () => {
    servers = await startHttp(options({ health: { address: '::1', port: 0 } }));
    assert.match(servers.urls.health, /^http:\/\/\[::1\]:\d+$/);
    assert.equal((await fetch(`${servers.urls.health}/healthz`)).status, 200);
  });

  it('listens on exactly the configured addresses: metrics on one, health on another, neither on the other or any other', async () => {
    servers = await startHttp(options({ metrics: { address: '127.0.0.1', port: 0 }, health: { address: '127.0.0.2', port: 0 } }));
    const metricsPort = new URL(servers.urls.metrics).port;
    const healthPort = new URL(servers.urls.health).port;
    assert.equal(servers.urls.metrics, `http://127.0.0.1:${metricsPort}`);
    assert.equal(servers.urls.health, `http://127.0.0.2:${healthPort}`);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.2:${healthPort}/healthz`)).status, 200);
    // The same ports on other loopback addresses: nothing listens there.
    await assert.rejects(fetch(`http://127.0.0.3:${metricsPort}/metrics`), (e: Error) => /ECONNREFUSED/.test(String((e.cause as Error)?.message ?? e)));
    await assert.rejects(fetch(`http://127.0.0.1:${healthPort}/healthz`), (e: Error) => /ECONNREFUSED/.test(String((e.cause as Error)?.message ?? e)));
  });

  it('fails naming the endpoint and address when the port is taken', async () => {
    const first = await startHttp(options());
    try {
      const port = Number(new URL(first.urls.health).port);
      await assert.rejects(
        startHttp(options({ health: { address: '127.0.0.1', port } })),
        new RegExp(`^Error: health endpoint: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`),
      );
    } finally {
      await first.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
