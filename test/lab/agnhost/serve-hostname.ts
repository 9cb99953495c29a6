/**
 * `agnhost serve-hostname [--tcp] [--udp] [--http=BOOL] [--close] [--port N]`:
 * answers every TCP connection, UDP datagram or HTTP request on the port
 * with the pod's hostname (TCP: then closes). HTTP is on by default and
 * cannot be combined with TCP or UDP (agnhost refuses). The NetworkPolicy
 * tests run one such container per port and protocol in each pod.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { parseFlags, podHostname, type FlagSpec } from './flags.ts';
import { untilTerminated } from './signals.ts';

export const FLAGS: FlagSpec = {
  tcp: { kind: 'bool', default: false },
  udp: { kind: 'bool', default: false },
  http: { kind: 'bool', default: true },
  close: { kind: 'bool', default: false },
  port: { kind: 'int', default: 9376 },
};

export interface Plan {
  tcp: boolean;
  udp: boolean;
  http: boolean;
  close: boolean;
  port: number;
}

/** What to serve, or why agnhost would refuse. */
export function plan(argv: string[]): Plan | string {
  let p;
  try {
    p = parseFlags(argv, FLAGS).flags as unknown as Plan;
  } catch (e) {
    return (e as Error).message;
  }
  if (p.http && (p.tcp || p.udp)) return "Can't server TCP/UDP mode and HTTP mode at the same time";
  return p;
}

export async function run(argv: string[]): Promise<number> {
  const p = plan(argv);
  if (typeof p === 'string') {
    process.stderr.write(`${p}\n`);
    return 1;
  }
  const hostname = podHostname(process.env, os.hostname());
  // Listening on the unspecified IPv6 address takes both families, as Go's ":PORT" does.
  if (p.tcp) {
    net
      .createServer((c) => {
        // A client that only checks the port (agnhost connect) resets the connection: not the server's failure.
        c.on('error', () => undefined);
        c.end(hostname);
      })
      .on('error', fatal)
      .listen(p.port, '::');
  }
  if (p.udp) {
    const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    sock.on('message', (_msg, from) => sock.send(hostname, from.port, from.address, () => undefined));
    sock.on('error', fatal);
    sock.bind(p.port, '::');
  }
  if (p.http) {
    http
      .createServer((_req, res) => {
        if (p.close) res.setHeader('Connection', 'close');
        res.end(hostname);
      })
      .on('error', fatal)
      .listen(p.port, '::');
  }
  process.stdout.write(`Serving on port ${p.port}.\n`);
  await untilTerminated();
  return 0;
}

function fatal(e: Error): void {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
