import assert from 'node:assert/strict';
import net from 'node:net';
import { BmpStation } from '../../core/services/gobgp/bmp-station.ts';
import type { BmpUpdate } from '../../core/services/gobgp/bmp-decode.ts';
import { MemoryLogger } from '@krouter/sdk/testing';

/** One BMP Route Monitoring message announcing 198.19.1.0/24 via 198.18.0.9 (Loc-RIB peer header). */
function announcement(): Buffer {
  const nlri = Buffer.from([24, 198, 19, 1]);
  const nextHop = Buffer.from([0x40, 3, 4, 198, 18, 0, 9]);
  const body = Buffer.concat([Buffer.from([0, 0, 0, nextHop.length]), nextHop]);
  const bgp = Buffer.concat([Buffer.alloc(16, 0xff), Buffer.from([0, 19 + body.length + nlri.length, 2]), body, nlri]);
  const perPeer = Buffer.alloc(42);
  perPeer[0] = 3;
  const head = Buffer.from([3, 0, 0, 0, 0, 0]);
  head.writeUInt32BE(6 + 42 + bgp.length, 1);
  return Buffer.concat([head, perPeer, bgp]);
}

function connectAndSend(port: number, data: Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(data);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

const until = async (what: string, check: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
};

describe('gobgp BMP station', () => {
  let station: BmpStation | undefined;
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await station?.close();
    station = undefined;
  });

  it('reads the feed of the supervised gobgpd process and says when its feed resumed', async () => {
    const updates: BmpUpdate[] = [];
    let resumed = 0;
    // The connecting process is this one: stand it in for gobgpd.
    station = new BmpStation(new MemoryLogger(), { gobgpdPid: () => process.pid, onUpdate: (u) => updates.push(u), onResumed: () => resumed++ });
    const port = await station.listen();
    sockets.push(await connectAndSend(port, announcement()));
    await until('the announcement was decoded', () => updates.length === 1);
    assert.deepEqual(updates[0]!.announced.map((a) => [a.prefix, a.nextHop]), [['198.19.1.0/24', '198.18.0.9']]);
    assert.equal(resumed, 0, 'a first feed is no resumption');

    sockets.push(await connectAndSend(port, announcement()));
    await until('the second feed was read', () => updates.length === 2);
    assert.equal(resumed, 1, 'a new feed from the same gobgpd may have missed withdrawals');
  });

  it('closes, unread, a connection from any other process', async () => {
    const updates: BmpUpdate[] = [];
    // A PID that holds no socket to us (init).
    const log = new MemoryLogger();
    station = new BmpStation(log, { gobgpdPid: () => 1, onUpdate: (u) => updates.push(u), onResumed: () => undefined });
    const port = await station.listen();
    const socket = await connectAndSend(port, announcement());
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    assert.deepEqual(updates, []);
    assert.equal(log.lines.filter((l) => l.level === 'warn' && /not from the supervised gobgpd/.test(l.message)).length, 1);
  });
});
