/**
 * The lab kubelet's API server (the kubelet's port 10250): HTTPS on the
 * node's InternalIPs inside the node's network namespace, where the API
 * server dials it for `kubectl exec`. Clients must present a certificate of
 * the lab CA, and only the users in `allowedUsers` (the API server's
 * kubelet-client identity) are served: a kubelet's exec is root on the node.
 *
 * Served: exec, over WebSocket (the node declares ExtendWebSocketsToKubelet,
 * so the API server proxies kubectl's WebSocket as it is), and container
 * logs (logs.ts); other paths answer 404.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { chooseProtocol, parseExecRequest, type ExecRequest } from './exec-protocol.ts';
import { runExecSession } from './exec-session.ts';
import { parseLogsRequest, selectLog, type LogsRequest } from './logs.ts';
import { listenInNetns } from './netns-listen.ts';

export interface KubeletServerOptions {
  netns: string;
  addresses: string[];
  port: number;
  tls: { cert: Buffer; key: Buffer; ca: Buffer };
  allowedUsers: string[];
  /** A running container's log file (for containerLogs), or undefined. */
  logFile(req: LogsRequest): string | undefined;
  /** The command line of an exec in a running container, or why there is none (HTTP status and message). */
  resolveExec(req: ExecRequest): Promise<{ argv: string[] } | { status: number; message: string }>;
  log: (line: string) => void;
}

export interface KubeletServer {
  close(): Promise<void>;
}

/** The user a verified client certificate names (its CN), as the API server's authenticator reads it. */
function clientUser(socket: net.Socket): string | undefined {
  const tls = socket as TLSSocket;
  if (!tls.authorized) return undefined;
  return tls.getPeerCertificate()?.subject?.CN as string | undefined;
}

/** An HTTP answer on a socket that asked for an upgrade (no response object exists for it). */
function refuse(socket: net.Socket, status: number, message: string): void {
  const body = `${message}\n`;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export async function startKubeletServer(opts: KubeletServerOptions): Promise<KubeletServer> {
  const { log } = opts;
  const server = https.createServer({ ...opts.tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const user = clientUser(req.socket);
    const answer = (status: number, body: string | Buffer) => {
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(body);
    };
    if (!user || !opts.allowedUsers.includes(user)) return answer(403, `user ${user ?? '(none)'} may not use the kubelet API\n`);
    const logs = req.method === 'GET' ? parseLogsRequest(req.url ?? '/') : 'not GET';
    if (typeof logs === 'string') return answer(404, `the lab kubelet serves exec (WebSocket) and containerLogs only: ${req.method} ${req.url}\n`);
    const file = opts.logFile(logs);
    if (!file) return answer(404, `container ${logs.container} of pod ${logs.namespace}/${logs.pod} is not running here\n`);
    readFile(file).then(
      (text) => answer(200, selectLog(text, logs)),
      (e: Error) => answer(500, `${e.message}\n`),
    );
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => chooseProtocol(offered) ?? false,
  });

  server.on('upgrade', (req, socket: net.Socket, head) => {
    // A client gone mid-handshake must not take the lab daemon down with an unhandled socket error.
    socket.on('error', (e) => log(`kubelet API: ${e.message}`));
    void (async () => {
      const user = clientUser(socket);
      if (!user || !opts.allowedUsers.includes(user)) return refuse(socket, 403, `user ${user ?? '(none)'} may not use the kubelet API`);
      const exec = parseExecRequest(req.url ?? '/');
      if (typeof exec === 'string') return refuse(socket, exec.startsWith('not an exec') ? 404 : 400, exec);
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').filter((p) => p.trim());
      if (offered.length > 0 && !chooseProtocol(offered)) return refuse(socket, 400, `requested protocol(s) are not supported: ${offered.join(', ')}`);
      const target = await opts.resolveExec(exec);
      if (!('argv' in target)) return refuse(socket, target.status, target.message);
      wss.handleUpgrade(req, socket, head, (ws) => {
        log(`exec ${exec.namespace}/${exec.pod}/${exec.container} by ${user} (${ws.protocol || 'channel.k8s.io'}): ${JSON.stringify(exec.command)}`);
        runExecSession(ws, exec, target.argv, log);
      });
    })().catch((e: Error) => {
      log(`kubelet API: ${e.message}`);
      refuse(socket, 500, e.message);
    });
  });
  server.on('tlsClientError', (e) => log(`kubelet API: TLS: ${e.message}`));

  const listeners = await listenInNetns(opts.netns, opts.addresses, opts.port);
  for (const l of listeners) l.on('connection', (socket) => server.emit('connection', socket));
  return {
    async close() {
      for (const l of listeners) l.close();
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      server.close();
    },
  };
}
