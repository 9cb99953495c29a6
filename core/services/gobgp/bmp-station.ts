/**
 * The BMP station gobgpd's Loc-RIB feed connects to: a TCP listener on
 * loopback in the agent's network namespace (gobgpd runs in the same one).
 * Only a connection from the supervised gobgpd process is read; anything
 * else on the node that connects is closed unread, since routes it sent
 * would reach the kernel.
 *
 * Each connection starts with gobgpd's current best paths and goes on with
 * every change. A second connection from the same gobgpd (its feed broke
 * and it reconnected) may have missed withdrawals: `onResumed` says so.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '@krouter/sdk';
import { BMP_TYPE, BmpFramer, decodeRouteMonitoring, type BmpUpdate } from './bmp-decode.ts';

export interface BmpStationHandlers {
  /** PID of the gobgpd whose feed is accepted. */
  gobgpdPid(): number | undefined;
  onUpdate(update: BmpUpdate): void;
  /** A new feed from the same gobgpd after its previous one ended. */
  onResumed(): void;
}

export const BMP_HOST = '127.0.0.1';

/** Socket inode of the TCP connection from 127.0.0.1:`clientPort` to our `serverPort`, from /proc/self/net/tcp. */
function clientSocketInode(clientPort: number, serverPort: number): string | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(clientPort)}`;
  const remote = `0100007F:${hex(serverPort)}`;
  for (const line of readFileSync('/proc/self/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === local && cols[2] === remote) return cols[9];
  }
  return undefined;
}

/** Whether process `pid` holds the socket with this inode. */
function processHoldsSocket(pid: number, inode: string): boolean {
  const want = `socket:[${inode}]`;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return true;
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    /* gone */
  }
  return false;
}

export class BmpStation {
  private server?: net.Server;
  private current?: net.Socket;
  /** The gobgpd PID whose feed was read last (a reconnect from it may have missed withdrawals). */
  private lastFeedPid?: number;

  constructor(
    private readonly log: Logger,
    private readonly handlers: BmpStationHandlers,
  ) {}

  /** The listening port (0 before `listen`). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  async listen(): Promise<number> {
    if (this.server) return this.port;
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, BMP_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.warn('bmp station error', { error: e.message }));
    this.server = server;
    return this.port;
  }

  private accept(socket: net.Socket): void {
    const pid = this.handlers.gobgpdPid();
    const inode = socket.remotePort ? clientSocketInode(socket.remotePort, this.port) : undefined;
    if (!pid || !inode || !processHoldsSocket(pid, inode)) {
      this.log.warn('bmp connection refused: not from the supervised gobgpd', { from: `${socket.remoteAddress}:${socket.remotePort}`, gobgpdPid: pid });
      socket.destroy();
      return;
    }
    // gobgpd keeps one feed per station; a new one replaces the old.
    this.current?.destroy();
    this.current = socket;
    const resumed = this.lastFeedPid === pid;
    this.lastFeedPid = pid;
    if (resumed) {
      this.log.warn('bmp feed from gobgpd resumed; best paths are read again');
      this.handlers.onResumed();
    } else {
      this.log.debug('bmp feed from gobgpd', { pid });
    }
    const framer = new BmpFramer();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const m of framer.push(chunk)) {
          if (m.type === BMP_TYPE.routeMonitoring) this.handlers.onUpdate(decodeRouteMonitoring(m.body));
        }
      } catch (e) {
        // A feed we cannot read is dropped; gobgpd reconnects and starts over.
        this.log.error('bmp feed unreadable; dropping it', { error: (e as Error).message });
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.current === socket) this.current = undefined;
    });
  }

  async close(): Promise<void> {
    this.current?.destroy();
    this.current = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
