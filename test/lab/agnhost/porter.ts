/**
 * `agnhost porter [--json-response]`: serves on the ports its environment
 * names, answering with the variable's value: SERVE_PORT_N and
 * SERVE_TCP_PORT_N over HTTP, SERVE_UDP_PORT_N as a datagram reply,
 * SERVE_TLS_PORT_N over HTTPS with the certificate in CERT_FILE / KEY_FILE
 * (agnhost's built-in localhost certificate is not reproduced: without
 * those two variables a TLS port is not served). SCTP ports are not served.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseFlags, type FlagSpec } from './flags.ts';
import { untilTerminated } from './signals.ts';

export const FLAGS: FlagSpec = { 'json-response': { kind: 'bool', default: false } };

export interface PortSpec {
  kind: 'http' | 'udp' | 'tls' | 'sctp';
  port: number;
  value: string;
}

const PREFIXES: Array<[string, PortSpec['kind']]> = [
  ['SERVE_PORT_', 'http'],
  ['SERVE_TCP_PORT_', 'http'],
  ['SERVE_UDP_PORT_', 'udp'],
  ['SERVE_TLS_PORT_', 'tls'],
  ['SERVE_SCTP_PORT_', 'sctp'],
];

/** The ports an environment asks for (pure). */
export function portsFromEnv(env: Record<string, string | undefined>): PortSpec[] {
  const out: PortSpec[] = [];
  for (const [key, value] of Object.entries(env)) {
    for (const [prefix, kind] of PREFIXES) {
      if (!key.startsWith(prefix) || value === undefined) continue;
      const port = Number(key.slice(prefix.length));
      if (Number.isInteger(port) && port > 0 && port < 65536) out.push({ kind, port, value });
    }
  }
  return out;
}

/** The HTTP body for a request: the value, or with --json-response {"Method","Body"}. */
export function httpBody(value: string, method: string, json: boolean): string {
  return json ? JSON.stringify({ Method: method, Body: value }) : value;
}

export async function run(argv: string[]): Promise<number> {
  const json = parseFlags(argv, FLAGS).flags['json-response'] === true;
  const handler = (value: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (json) res.setHeader('Content-Type', 'application/json');
    res.end(httpBody(value, req.method ?? 'GET', json));
  };
  const log = (e: Error) => process.stderr.write(`${e.message}\n`);
  for (const p of portsFromEnv(process.env)) {
    if (p.kind === 'http') http.createServer(handler(p.value)).on('error', log).listen(p.port, '::');
    else if (p.kind === 'udp') {
      const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
      sock.on('message', (_m, from) => sock.send(p.value, from.port, from.address, () => undefined));
      sock.on('error', log);
      sock.bind(p.port, '::');
    } else if (p.kind === 'tls') {
      const cert = process.env.CERT_FILE;
      const key = process.env.KEY_FILE;
      if (!cert || !key) {
        process.stderr.write(`port ${p.port}: TLS needs CERT_FILE and KEY_FILE in the lab\n`);
        continue;
      }
      https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, handler(p.value)).on('error', log).listen(p.port, '::');
    } else process.stderr.write(`port ${p.port}: SCTP is not provided by the lab\n`);
  }
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await untilTerminated();
  clearInterval(keepAlive);
  return 0;
}
