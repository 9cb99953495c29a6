/**
 * Listening sockets inside another network namespace for a process that
 * stays in the root one. Node cannot switch namespaces per socket, so a
 * short-lived child started with `ip netns exec` binds them and hands the
 * listening handles back over its IPC channel (the way Node's cluster module
 * shares servers); the sockets stay in the namespace they were made in, and
 * the child exits.
 *
 * Run as a script (by listenInNetns): `netns-listen.ts PORT ADDR...`.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

/** Servers listening on each of `addresses` at `port` in namespace `netns`, ready for 'connection' handlers. */
export function listenInNetns(netns: string, addresses: readonly string[], port: number): Promise<net.Server[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, SELF, String(port), ...addresses], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const servers: net.Server[] = [];
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('message', (msg, handle) => {
      if (msg === 'server' && handle instanceof net.Server) servers.push(handle);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && servers.length === addresses.length) resolve(servers);
      else {
        for (const s of servers) s.close();
        reject(new Error(`listening on ${addresses.join(', ')} port ${port} in ${netns}: ${err.trim() || `exit ${code}`}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const [port, ...addresses] = process.argv.slice(2);
  const servers: net.Server[] = [];
  for (const host of addresses) {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: Number(port), ipv6Only: host.includes(':') }, resolve);
    });
    await new Promise<void>((resolve, reject) => process.send!('server', server, (e: Error | null) => (e ? reject(e) : resolve())));
    // The parent holds its own copy of the socket now; this one would keep the child alive.
    servers.push(server);
  }
  for (const s of servers) s.close();
  process.disconnect?.();
}

if (process.argv[1] === SELF) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
