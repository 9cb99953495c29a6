/**
 * `agnhost netexec [--http-port N] [--udp-port N] [--delay-shutdown S] [--http-override PATH]`:
 * the HTTP server Services tests probe and dial through. Endpoints: `/`
 * (NOW: time), `/hostname` and `/hostName`, `/clientip` (the client's
 * HOST:PORT as the pod sees it), `/echo?msg=&code=`, `/serverport`,
 * `/header?key=`, `/envvar?var=`, `/healthz`, `/readyz`, `/exit?code=`,
 * `/shutdown`, `/redirect?location=&code=`, `/shell?shellCommand=` (run by
 * /bin/sh, output as JSON), and `/dial?request=&protocol=http|udp&host=&port=&tries=`
 * (the request sent that many times from this pod, answers as JSON
 * `{"responses":[...]}` / `{"errors":[...]}`). The UDP port answers
 * `hostname`, `echo X`, `clientip`, `serverport` and `envvar NAME`.
 * TLS (--tls-cert-file), SCTP and /upload are not provided.
 */
import { exec } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import os from 'node:os';
import { joinHostPort, parseFlags, podHostname, type FlagSpec } from './flags.ts';

export const FLAGS: FlagSpec = {
  'http-port': { kind: 'int', default: 8080 },
  'udp-port': { kind: 'int', default: 8081 },
  'sctp-port': { kind: 'int', default: -1 },
  'tls-cert-file': { kind: 'string', default: '' },
  'tls-private-key-file': { kind: 'string', default: '' },
  'http-override': { kind: 'string', default: '' },
  'udp-listen-addresses': { kind: 'string', default: '' },
  'delay-shutdown': { kind: 'int', default: 0 },
};

export interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
  /** Exit the process with this code once the reply is sent. */
  exit?: number;
}

export interface Context {
  hostname: string;
  httpPort: number;
  env: Record<string, string | undefined>;
  terminating: boolean;
  /** One dial of `/dial` (its answer, or an Error). */
  dial(protocol: 'http' | 'udp', host: string, port: number, request: string): Promise<string>;
  shell(cmd: string): Promise<{ output: string; error?: string }>;
}

/** The answer to one UDP request (pure); undefined: no answer. */
export function udpAnswer(text: string, ctx: Pick<Context, 'hostname' | 'env'>, client: string, udpPort: number): string | undefined {
  const raw = text.trim();
  const lower = raw.toLowerCase();
  if (lower === 'hostname') return ctx.hostname;
  if (lower.startsWith('envvar ')) return ctx.env[raw.slice(7).trim()] ?? '';
  if (lower.startsWith('echo ')) return lower.slice(5);
  if (lower === 'clientip') return client;
  if (lower === 'serverport') return String(udpPort);
  return undefined;
}

/** The answer to one HTTP request (pure but for /dial and /shell, which go through ctx). */
export async function httpAnswer(method: string, rawUrl: string, headers: Record<string, string | string[] | undefined>, client: string, ctx: Context): Promise<Reply> {
  const url = new URL(rawUrl, 'http://netexec');
  const q = url.searchParams;
  const ok = (body: string): Reply => ({ status: 200, body });
  switch (url.pathname) {
    case '/':
      return ok(`NOW: ${new Date().toISOString()}`);
    case '/hostname':
    case '/hostName':
      return ok(ctx.hostname);
    case '/clientip':
      return ok(client);
    case '/serverport':
      return ok(String(ctx.httpPort));
    case '/echo': {
      const code = q.get('code');
      if (code && !/^\d+$/.test(code)) return ok(`argument 'code' must be an integer or empty, got ${JSON.stringify(code)}\n`);
      return { status: code ? Number(code) : 200, body: q.get('msg') ?? '' };
    }
    case '/header': {
      const key = q.get('key');
      if (key) {
        const v = headers[key.toLowerCase()];
        return ok(Array.isArray(v) ? v[0]! : (v ?? ''));
      }
      return ok(JSON.stringify(headers));
    }
    case '/envvar': {
      const name = q.get('var');
      if (!name) return { status: 400, body: "'var' query parameter is required\n" };
      const v = ctx.env[name];
      return v === undefined ? { status: 500, body: `env var ${JSON.stringify(name)} is not set\n` } : ok(v);
    }
    case '/healthz':
      return ok('');
    case '/readyz':
      return ctx.terminating ? { status: 503, body: 'shutting down' } : ok('ok');
    case '/shutdown':
      return { status: 200, body: '', exit: 0 };
    case '/exit': {
      const code = q.get('code') ?? '0';
      if (!/^\d+$/.test(code)) return ok(`argument 'code' must be an integer [0-127] or empty, got ${JSON.stringify(code)}\n`);
      return { status: 200, body: '', exit: Number(code) };
    }
    case '/redirect': {
      const code = q.get('code');
      return { status: code ? Number(code) : 302, body: '', headers: { Location: q.get('location') ?? '/' } };
    }
    case '/shell': {
      const out = await ctx.shell(q.get('shellCommand') || q.get('cmd') || '');
      const result: Record<string, string> = {};
      if (out.output) result.output = out.output;
      if (out.error) result.error = out.error;
      return ok(JSON.stringify(result));
    }
    case '/dial':
      return dialAnswer(q, ctx);
    default:
      return { status: 404, body: '404 page not found\n' };
  }
}

async function dialAnswer(q: URLSearchParams, ctx: Context): Promise<Reply> {
  const request = q.get('request') ?? '';
  const triesText = q.get('tries');
  const tries = triesText ? Number(triesText) : 1;
  if (!Number.isInteger(tries)) return { status: 400, body: `tries parameter is invalid. ${triesText}\n` };
  if (!request) return { status: 400, body: 'request parameter not specified.\n' };
  const protocol = (q.get('protocol') ?? '').toLowerCase();
  if (!['', 'http', 'udp'].includes(protocol)) return { status: 400, body: `unsupported protocol. ${protocol}\n` };
  const host = q.get('host') ?? '';
  const port = Number(q.get('port'));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return { status: 400, body: 'host and/or port param are invalid.\n' };
  const responses: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < tries; i++) {
    try {
      responses.push(await ctx.dial(protocol === 'udp' ? 'udp' : 'http', host, port, request));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const out: Record<string, string[]> = {};
  if (responses.length > 0) out.responses = responses;
  if (errors.length > 0) out.errors = errors;
  return { status: 200, body: JSON.stringify(out) };
}

const urlHost = (h: string) => (h.includes(':') ? `[${h}]` : h);

/**
 * One HTTP GET http://HOST:PORT/REQUEST, 5 s at most, as agnhost's dialer:
 * on a connection of its own. A kept-alive connection would carry every try
 * to the endpoint the first one reached, and the specs count how many
 * endpoints a Service's tries reach.
 */
function dialHTTP(host: string, port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${urlHost(host)}:${port}/${request}`, { agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** One UDP request, 5 s for the answer. */
function dialUDP(host: string, port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => finish(new Error("reading from udp connection failed. err:'i/o timeout'")), 5000);
    function finish(r: string | Error) {
      clearTimeout(timer);
      sock.close();
      if (typeof r === 'string') resolve(r);
      else reject(r);
    }
    sock.on('error', (e) => finish(new Error(`reading from udp connection failed. err:'${e.message}'`)));
    sock.on('message', (m) => finish(m.toString()));
    sock.connect(port, host, () => sock.send(request));
  });
}

function shell(cmd: string): Promise<{ output: string; error?: string }> {
  return new Promise((resolve) =>
    exec(cmd, { shell: '/bin/sh' }, (err, stdout, stderr) => resolve({ output: stdout + stderr, ...(err ? { error: `exit status ${err.code ?? 1}` } : {}) })),
  );
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS).flags;
  const httpPort = Number(f['http-port']);
  const udpPort = Number(f['udp-port']);
  const ctx: Context = {
    hostname: podHostname(process.env, os.hostname()),
    httpPort,
    env: process.env,
    terminating: false,
    dial: (protocol, host, port, request) => (protocol === 'udp' ? dialUDP(host, port, request) : dialHTTP(host, port, request)),
    shell,
  };
  const override = String(f['http-override']);
  const server = http.createServer((req, res) => {
    const client = joinHostPort(req.socket.remoteAddress ?? '', req.socket.remotePort ?? 0);
    void httpAnswer(override ? 'GET' : (req.method ?? 'GET'), override || (req.url ?? '/'), req.headers, client, ctx).then(
      (r) => {
        res.writeHead(r.status, { 'Content-Type': 'text/plain; charset=utf-8', ...r.headers });
        res.end(r.body, () => {
          if (r.exit !== undefined) process.exit(r.exit);
        });
      },
      (e: Error) => {
        res.writeHead(500);
        res.end(`${e.message}\n`);
      },
    );
  });
  server.on('error', (e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
  server.listen(httpPort, '::');
  if (udpPort !== -1) {
    const addresses = String(f['udp-listen-addresses']).split(',').map((a) => a.trim()).filter(Boolean);
    for (const address of addresses.length ? addresses : ['::']) {
      const sock = dgram.createSocket({ type: address.includes('.') ? 'udp4' : 'udp6', ipv6Only: false });
      sock.on('message', (msg, from) => {
        const answer = udpAnswer(msg.toString(), ctx, joinHostPort(from.address, from.port), udpPort);
        // With a callback a failed answer is that datagram's loss, not the server's end.
        if (answer !== undefined) sock.send(answer, from.port, from.address, () => undefined);
      });
      sock.on('error', (e) => process.stderr.write(`UDP: ${e.message}\n`));
      sock.bind(udpPort, address);
    }
  }
  await new Promise<void>((resolve) => process.once('SIGTERM', resolve));
  ctx.terminating = true;
  const delay = Number(f['delay-shutdown']);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay * 1000));
  return 0;
}
