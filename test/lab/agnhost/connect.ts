/**
 * `agnhost connect HOST:PORT [--timeout D] [--protocol tcp|udp|sctp] [--udp-data S]`:
 * one connection attempt, exit 0 on success; on failure exit 1 with the
 * reason's fixed prefix on stderr, which tests match: UNKNOWN (bad
 * arguments), DNS, TIMEOUT, REFUSED, OTHER. UDP succeeds only when the
 * server answers the datagram (`hostname\n` by default); a refusal is the
 * ICMP port unreachable a connected UDP socket reports.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { parseFlags, splitHostPort, type FlagSpec } from './flags.ts';

export const FLAGS: FlagSpec = {
  timeout: { kind: 'duration', default: 0 },
  protocol: { kind: 'string', default: 'tcp' },
  'udp-data': { kind: 'string', default: 'hostname' },
  'sctp-data': { kind: 'string', default: 'hostname' },
};

/** An outcome: exit code and the line for stderr. */
export interface Outcome {
  code: number;
  stderr?: string;
}

/** How a failed TCP connect is reported (pure: the error code decides). */
export function tcpFailure(err: NodeJS.ErrnoException | 'timeout'): Outcome {
  if (err === 'timeout') return { code: 1, stderr: 'TIMEOUT' };
  if (err.code === 'ECONNREFUSED') return { code: 1, stderr: 'REFUSED' };
  return { code: 1, stderr: `OTHER: ${err.message}` };
}

/** How a failed UDP exchange is reported. */
export function udpFailure(err: NodeJS.ErrnoException | 'timeout'): Outcome {
  if (err === 'timeout') return { code: 1, stderr: 'TIMEOUT: i/o timeout' };
  if (err.code === 'ECONNREFUSED') return { code: 1, stderr: `REFUSED: ${err.message}` };
  return { code: 1, stderr: `UNKNOWN: ${err.message}` };
}

async function resolve(host: string): Promise<{ address: string; family: number }> {
  if (net.isIP(host)) return { address: host, family: net.isIP(host) };
  return lookup(host);
}

function connectTCP(address: string, port: number, timeoutMs: number): Promise<Outcome> {
  return new Promise((done) => {
    const socket = net.connect({ host: address, port });
    const timer = timeoutMs > 0 ? setTimeout(() => finish(tcpFailure('timeout')), timeoutMs) : undefined;
    function finish(o: Outcome) {
      clearTimeout(timer);
      socket.destroy();
      done(o);
    }
    socket.once('connect', () => finish({ code: 0 }));
    socket.once('error', (e) => finish(tcpFailure(e)));
  });
}

function connectUDP(address: string, family: number, port: number, timeoutMs: number, data: string): Promise<Outcome> {
  return new Promise((done) => {
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    const timer = timeoutMs > 0 ? setTimeout(() => finish(udpFailure('timeout')), timeoutMs) : undefined;
    function finish(o: Outcome) {
      clearTimeout(timer);
      socket.close();
      done(o);
    }
    socket.once('error', (e) => finish(udpFailure(e)));
    socket.once('message', (msg) => finish(msg.length > 0 ? { code: 0 } : { code: 1, stderr: 'OTHER: No data received from the server. Cannot guarantee the server received the request.' }));
    // Connected, so the kernel hands the ICMP port unreachable back as ECONNREFUSED.
    socket.connect(port, address, () => socket.send(`${data}\n`));
  });
}

export async function connect(argv: string[]): Promise<Outcome> {
  let parsed;
  try {
    parsed = parseFlags(argv, FLAGS);
  } catch (e) {
    return { code: 1, stderr: `Error: ${(e as Error).message}` };
  }
  if (parsed.args.length !== 1) return { code: 1, stderr: `Error: accepts 1 arg(s), received ${parsed.args.length}` };
  const { timeout, protocol } = parsed.flags as { timeout: number; protocol: string };
  let dest;
  try {
    dest = splitHostPort(parsed.args[0]!);
  } catch (e) {
    return { code: 1, stderr: `UNKNOWN: ${(e as Error).message}` };
  }
  let addr;
  try {
    addr = await resolve(dest.host);
  } catch (e) {
    return { code: 1, stderr: `DNS: ${(e as Error).message}` };
  }
  switch (protocol) {
    case '':
    case 'tcp':
      return connectTCP(addr.address, dest.port, timeout);
    case 'udp':
      return connectUDP(addr.address, addr.family, dest.port, timeout, String(parsed.flags['udp-data']));
    case 'sctp':
      return { code: 1, stderr: 'OTHER: SCTP is not provided by the lab' };
    default:
      return { code: 1, stderr: `Unsupported protocol\n${protocol}` };
  }
}

export async function run(argv: string[]): Promise<number> {
  const o = await connect(argv);
  if (o.stderr) process.stderr.write(`${o.stderr}\n`);
  return o.code;
}
