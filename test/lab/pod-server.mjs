#!/usr/bin/env node
/**
 * The lab's pod test server, run inside a pod's network namespace:
 *   pod-server.mjs --name POD [--tcp PORT]... [--udp PORT]... [--control SOCKET]
 *                  [--parent-pid PID] [--echo-source] [--bind ADDR]...
 * Every TCP connection and UDP datagram is answered with the pod's name (and,
 * with --echo-source, the client's address as this namespace sees it). The
 * control socket (a unix socket; the filesystem is shared across namespaces)
 * takes newline-delimited JSON requests and runs probes FROM this namespace:
 *   {"id": 1, "ping": true}                                  -> {"id":1,"ok":true,"name":POD}
 *   {"id": 2, "probe": {"host","port","proto":"tcp"|"udp","timeoutMs","send"?,"localPort"? (udp)}}
 *                                                            -> {"id":2,"ok":true,"reply":"...","source":"..."}
 *   {"id": 3, "probes": [probe, ...]}                        -> {"id":3,"results":[...]}
 * Plain JavaScript (no TypeScript loader) so it starts fast: one runs per pod.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';

function parseArgs(argv) {
  const out = { name: '', tcp: [], udp: [], control: '', parentPid: 0, echoSource: false, bind: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const port = () => {
      const v = value();
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new Error(`${a}: port must be 1..65535, got "${v}"`);
      return n;
    };
    if (a === '--name') out.name = value();
    else if (a === '--tcp') out.tcp.push(port());
    else if (a === '--udp') out.udp.push(port());
    else if (a === '--control') out.control = value();
    else if (a === '--parent-pid') out.parentPid = Number(value());
    else if (a === '--echo-source') out.echoSource = true;
    // Specific addresses instead of the wildcard: a UDP reply from a wildcard
    // socket leaves from the route's preferred source, not the address the
    // request went to, which breaks on hosts with several addresses.
    else if (a === '--bind') out.bind.push(value());
    else throw new Error(`unknown argument "${a}"`);
  }
  if (!out.name) throw new Error('--name is required');
  return out;
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`pod-server: ${err.message}\n`);
  process.exit(2);
}

const unmap = (addr) => (addr && addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr);
const answer = (remote) => (args.echoSource ? `${args.name} ${unmap(remote)}\n` : `${args.name}\n`);
const closers = [];

/** Listens on `::` (both families) and falls back to 0.0.0.0 where IPv6 is off. */
function listenTcp(port, only) {
  return new Promise((resolve, reject) => {
    const tryHost = (host) => {
      const server = net.createServer((sock) => {
        sock.on('error', () => undefined);
        sock.end(answer(sock.remoteAddress));
      });
      server.once('error', (err) => {
        if (!only && host === '::' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) tryHost('0.0.0.0');
        else reject(new Error(`tcp ${port}: ${err.message}`));
      });
      server.listen({ port, host, ipv6Only: false }, () => {
        closers.push(() => server.close());
        resolve();
      });
    };
    tryHost(only ?? '::');
  });
}

function listenUdp(port, only) {
  return new Promise((resolve, reject) => {
    const tryType = (type) => {
      const sock = dgram.createSocket({ type, ipv6Only: false });
      sock.on('message', (_msg, rinfo) => sock.send(answer(rinfo.address), rinfo.port, rinfo.address));
      sock.once('error', (err) => {
        sock.close();
        if (!only && type === 'udp6' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) tryType('udp4');
        else reject(new Error(`udp ${port}: ${err.message}`));
      });
      sock.bind(port, only ?? (type === 'udp6' ? '::' : '0.0.0.0'), () => {
        sock.removeAllListeners('error');
        sock.on('error', () => undefined);
        closers.push(() => sock.close());
        resolve();
      });
    };
    tryType(only && net.isIPv4(only) ? 'udp4' : 'udp6');
  });
}

function probeTcp({ host, port, timeoutMs = 1000, send }) {
  return new Promise((resolve) => {
    let reply = '';
    let source = '';
    let done = false;
    const finish = (res) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(res);
    };
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => finish(reply ? { ok: true, reply, source } : { ok: false, error: source ? 'connected, no reply before timeout' : 'timeout' }), timeoutMs);
    sock.on('connect', () => {
      source = unmap(sock.localAddress);
      if (send) sock.write(send);
    });
    sock.on('data', (d) => (reply += d.toString()));
    sock.on('end', () => finish(reply ? { ok: true, reply, source } : { ok: false, error: 'closed without reply' }));
    sock.on('error', (err) => finish({ ok: false, error: err.code || err.message }));
  });
}

/** `localPort` keeps the source port, so that successive probes are one UDP flow (one conntrack entry). */
function probeUdp({ host, port, timeoutMs = 1000, send, localPort }) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (res) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      resolve(res);
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), timeoutMs);
    sock.on('message', (msg) => finish({ ok: true, reply: msg.toString(), source: unmap(sock.address().address) }));
    sock.on('error', (err) => finish({ ok: false, error: err.code || err.message }));
    // Connected, so the kernel picks (and reports) the source address and ICMP errors surface.
    const connect = () => sock.connect(port, host, () => sock.send(send ?? 'probe', (err) => err && finish({ ok: false, error: err.code || err.message })));
    if (Number.isInteger(localPort)) sock.bind(localPort, connect);
    else connect();
  });
}

function probe(p) {
  if (!p || typeof p.host !== 'string' || !Number.isInteger(p.port)) return Promise.resolve({ ok: false, error: 'probe needs host (string) and port (integer)' });
  if (p.proto === 'udp') return probeUdp(p);
  if (p.proto === 'tcp' || p.proto === undefined) return probeTcp(p);
  return Promise.resolve({ ok: false, error: `unknown proto ${JSON.stringify(p.proto)}` });
}

async function handle(req) {
  if (req.ping) return { ok: true, name: args.name };
  if (req.probe) return probe(req.probe);
  if (Array.isArray(req.probes)) return { results: await Promise.all(req.probes.map(probe)) };
  return { ok: false, error: 'request needs ping, probe or probes' };
}

function serveControl(path) {
  return new Promise((resolve, reject) => {
    try {
      fs.unlinkSync(path);
    } catch {
      /* none left over */
    }
    // Half-open: a client may send its requests and shut its side at once.
    const server = net.createServer({ allowHalfOpen: true }, (conn) => {
      let buf = '';
      let pending = 0;
      let ended = false;
      conn.on('error', () => undefined);
      conn.on('end', () => {
        ended = true;
        if (pending === 0) conn.end();
      });
      conn.on('data', (d) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.trim()) continue;
          let req;
          try {
            req = JSON.parse(line);
          } catch {
            conn.write(`${JSON.stringify({ ok: false, error: 'bad JSON' })}\n`);
            continue;
          }
          pending++;
          handle(req).then((res) => {
            conn.write(`${JSON.stringify({ id: req.id, ...res })}\n`);
            if (--pending === 0 && ended) conn.end();
          });
        }
      });
    });
    server.once('error', reject);
    server.listen(path, () => {
      closers.push(() => {
        server.close();
        try {
          fs.unlinkSync(path);
        } catch {
          /* gone */
        }
      });
      resolve();
    });
  });
}

function shutdown(code) {
  for (const c of closers) {
    try {
      c();
    } catch {
      /* closing anyway */
    }
  }
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

try {
  const hosts = args.bind.length ? args.bind : [undefined];
  await Promise.all(hosts.flatMap((h) => [...args.tcp.map((p) => listenTcp(p, h)), ...args.udp.map((p) => listenUdp(p, h))]));
  if (args.control) await serveControl(args.control);
} catch (err) {
  process.stderr.write(`pod-server ${args.name}: ${err.message}\n`);
  shutdown(1);
}
if (args.parentPid > 0) {
  // Leaves with the process that started it (e.g. a check that crashed).
  setInterval(() => {
    try {
      process.kill(args.parentPid, 0);
    } catch {
      shutdown(0);
    }
  }, 1000).unref();
}
process.stdout.write(`ready ${args.name}\n`);
