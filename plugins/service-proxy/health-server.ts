import { createServer, type Server } from 'node:http';
import { unspecifiedAddress, type Family, type Logger } from '@krouter/sdk';

/** What one healthCheckNodePort answers for. */
export interface HealthCheckTarget {
  namespace: string;
  name: string;
  /** This node's ready endpoints of the service. */
  localEndpoints: number;
}

/** The JSON kube-proxy answers, so load balancers built for it read ours. */
export function healthAnswer(t: HealthCheckTarget): { status: 200 | 503; body: string } {
  return {
    status: t.localEndpoints > 0 ? 200 : 503,
    body: JSON.stringify({ service: { namespace: t.namespace, name: t.name }, localEndpoints: t.localEndpoints, serviceProxyHealthy: true }),
  };
}

/**
 * The HTTP servers behind healthCheckNodePorts of externalTrafficPolicy:
 * Local services: one listener per port and enabled family, on every
 * address of that family. A load balancer sends traffic only to nodes that
 * answer 200, i.e. that have a local endpoint.
 */
export class HealthCheckServers {
  private readonly targets = new Map<number, HealthCheckTarget>();
  private readonly servers = new Map<number, Server[]>();

  constructor(
    private readonly families: readonly Family[],
    private readonly logger: Logger,
  ) {}

  /** Listening ports. */
  ports(): number[] {
    return [...this.servers.keys()].sort((a, b) => a - b);
  }

  /** Opens the ports that are new, closes the ones no longer wanted; counts change in place. */
  async sync(desired: ReadonlyMap<number, HealthCheckTarget>): Promise<void> {
    this.targets.clear();
    for (const [port, t] of desired) this.targets.set(port, t);
    for (const port of [...this.servers.keys()]) if (!desired.has(port)) await this.closePort(port);
    for (const port of desired.keys()) if (!this.servers.has(port)) await this.openPort(port);
  }

  private async openPort(port: number): Promise<void> {
    const opened: Server[] = [];
    for (const family of this.families) {
      const server = createServer((req, res) => {
        const t = this.targets.get(port);
        if (!t) {
          res.writeHead(404).end();
          return;
        }
        const a = healthAnswer(t);
        res.writeHead(a.status, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' }).end(a.body);
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          // ipv6Only: each family gets its own listener, so IPv4-only and IPv6-only hosts work alike.
          server.listen({ port, host: unspecifiedAddress(family), ipv6Only: true }, () => resolve());
        });
        opened.push(server);
      } catch (err) {
        this.logger.warn('health check node port not opened; retrying on the next sync', { port, family, error: (err as Error).message });
        server.close();
      }
    }
    if (opened.length) this.servers.set(port, opened);
  }

  private async closePort(port: number): Promise<void> {
    const list = this.servers.get(port) ?? [];
    this.servers.delete(port);
    await Promise.all(list.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  async close(): Promise<void> {
    for (const port of [...this.servers.keys()]) await this.closePort(port);
    this.targets.clear();
  }
}
