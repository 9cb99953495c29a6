/**
 * The declarative Gobgp service against a gobgpd API double: what it sends
 * for a desired state, a repeated one, a change, a gobgpd restart and an
 * adopted gobgpd.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BgpDesiredState, Logger } from '@krouter/sdk';
import { GobgpService } from '../../core/services/gobgp/index.ts';
import { Metrics } from '../../core/services/metrics.ts';
import { FakeGobgpd } from '../helpers/fake-gobgpd.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function desired(over: Partial<BgpDesiredState> = {}): BgpDesiredState {
  return {
    global: { asn: 64512, routerId: '198.18.0.11', families: ['ipv4', 'ipv6'] },
    peers: [
      { address: '198.18.0.12', asn: 64512, families: ['ipv4'] },
      { address: 'fd00:18::c', asn: 64512, families: ['ipv6'] },
    ],
    paths: [
      { prefix: '198.19.1.0/24', nextHop: '198.18.0.11' },
      { prefix: 'fd00:19:0:1::/64', nextHop: 'fd00:18::b' },
    ],
    policies: { import: { name: 'in', statements: [{ prefixes: [{ prefix: '0.0.0.0/0', maskLengthMax: 0 }], action: 'reject' }] } },
    ...over,
  };
}

describe('gobgp service (declarative, against a gobgpd double)', () => {
  let dir: string;
  let gobgpd: FakeGobgpd;
  const services: GobgpService[] = [];

  const service = () => {
    const s = new GobgpService({
      logger: silent,
      metrics: new Metrics(false),
      socketPath: path.join(dir, 'gobgp.sock'),
      client: gobgpd,
      supervisor: gobgpd.supervisor,
    });
    services.push(s);
    return s;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'krouter-gobgp-svc-'));
    gobgpd = new FakeGobgpd();
  });
  afterEach(() => {
    services.length = 0;
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the whole state once: paths before peers', async () => {
    const bgp = service();
    const result = await bgp.apply(desired());
    assert.deepEqual(result.rejected, []);
    assert.equal(bgp.ready, true);
    const sent = gobgpd.take();
    assert.equal(sent[0], 'StartBgp');
    assert.ok(sent.lastIndexOf('AddPath') < sent.indexOf('AddPeer'), `paths before peers: ${sent.join(' ')}`);
    assert.equal(sent.filter((c) => c === 'AddPath').length, 2);
    assert.equal(sent.filter((c) => c === 'AddPeer').length, 2);
    assert.equal(gobgpd.paths.size, 2);
  });

  it('sends nothing when the same desired state is applied again', async () => {
    const bgp = service();
    await bgp.apply(desired());
    gobgpd.take();
    await bgp.apply(desired());
    assert.deepEqual(gobgpd.take(), []);
  });

  it('sends one peer update when one peer changes', async () => {
    const bgp = service();
    await bgp.apply(desired());
    gobgpd.take();
    const d = desired();
    await bgp.apply({ ...d, peers: [{ ...d.peers[0]!, description: 'node node-2' }, d.peers[1]!] });
    const calls = gobgpd.calls;
    assert.deepEqual(gobgpd.take(), ['UpdatePeer']);
    assert.equal(calls[0]!.request.peer.conf.neighbor_address, '198.18.0.12');
  });

  it('sends one withdrawal for a removed path and one deletion for a removed peer', async () => {
    const bgp = service();
    await bgp.apply(desired());
    gobgpd.take();
    const d = desired();
    await bgp.apply({ ...d, paths: [d.paths[0]!], peers: [d.peers[0]!] });
    assert.deepEqual(gobgpd.take().sort(), ['DeletePath', 'DeletePeer']);
    assert.deepEqual([...gobgpd.paths.keys()], ['AFI_IP 198.19.1.0/24']);
  });

  it('replays the whole desired state after a gobgpd restart', async () => {
    const bgp = service();
    const events: string[] = [];
    bgp.watch((e) => events.push(e.type));
    await bgp.apply(desired());
    const first = gobgpd.take();
    await gobgpd.restart();
    assert.deepEqual(gobgpd.take(), first, 'the same RPCs as the first start');
    assert.equal(gobgpd.paths.size, 2);
    assert.equal(gobgpd.peers.size, 2);
    assert.equal(bgp.ready, true);
    assert.deepEqual(events, ['restarted', 'restarted']);
    // And the replay left the record exact: nothing more to send.
    await bgp.apply(desired());
    assert.deepEqual(gobgpd.take(), []);
  });

  it('rejects a path whose next hop cannot carry its prefix, and applies the rest', async () => {
    const bgp = service();
    const d = desired();
    const result = await bgp.apply({ ...d, paths: [...d.paths, { prefix: 'fd00:11::/64', nextHop: '198.18.0.11' }] });
    assert.equal(result.rejected.length, 1);
    assert.deepEqual({ ...result.rejected[0]!, message: undefined }, { object: 'path', key: 'fd00:11::/64', kind: 'invalid', message: undefined });
    assert.equal(gobgpd.paths.size, 2);
  });

  it('restarts BGP and replays everything when the global config changes', async () => {
    const bgp = service();
    await bgp.apply(desired());
    gobgpd.take();
    await bgp.apply(desired({ global: { asn: 64512, routerId: '198.18.0.99', families: ['ipv4', 'ipv6'] } }));
    const sent = gobgpd.take();
    assert.deepEqual(sent.slice(0, 2), ['StopBgp', 'StartBgp']);
    assert.equal(sent.filter((c) => c === 'AddPath').length, 2);
    assert.equal(sent.filter((c) => c === 'AddPeer').length, 2);
  });

  it('adopts a running gobgpd: sends nothing for what it already holds, removes leftovers', async () => {
    const first = service();
    const d = desired();
    await first.apply({ ...d, peers: [...d.peers, { address: '198.18.0.13', asn: 64512, families: ['ipv4'] }], paths: [...d.paths, { prefix: '198.19.9.0/24', nextHop: '198.18.0.11' }] });
    gobgpd.take();
    // The agent is gone; gobgpd and the record beside its socket stay.
    const second = service();
    await second.apply(desired());
    assert.deepEqual(gobgpd.take().sort(), ['DeletePath', 'DeletePeer']);
    assert.deepEqual([...gobgpd.peers.keys()].sort(), ['198.18.0.12', 'fd00:18::c']);
    assert.equal(gobgpd.paths.size, 2);
  });
});
