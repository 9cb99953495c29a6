/**
 * gobgpd's event stream: best-path changes and peer states, fanned out to
 * the service's listeners. The stream is re-subscribed when it breaks while
 * gobgpd stays up; a gobgpd restart starts a new one from the replay.
 */
import type { BgpEvent, BgpPeerState, Gauge, Logger } from '@krouter/sdk';
import type { GobgpApi, WatchHandle } from './client.ts';
import { decodePeerState } from './encode.ts';
import { decodeWatchTableEvent } from './wire.ts';
import type { BgpRoute } from '@krouter/sdk';

/** A WatchEvent message: the routes of a table event, or any other event decoded generically. */
type WatchItem = { routes: BgpRoute[]; other?: undefined } | { routes?: undefined; other: Record<string, any> };

export const PEER_STATE_VALUES: Record<BgpPeerState['state'], number> = {
  unknown: 0,
  idle: 1,
  connect: 2,
  active: 3,
  opensent: 4,
  openconfirm: 5,
  established: 6,
};

export class BgpWatch {
  private readonly listeners = new Set<(event: BgpEvent) => void>();
  private handle?: WatchHandle;
  private generation = 0;
  private retry?: NodeJS.Timeout;
  private bestPaths = true;

  constructor(
    private readonly client: GobgpApi,
    private readonly log: Logger,
    private readonly peerStateGauge: Gauge,
    /** Whether a broken stream should be re-subscribed now (gobgpd up, service open). */
    private readonly live: () => boolean,
  ) {}

  subscribe(listener: (event: BgpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  clear(): void {
    this.listeners.clear();
  }

  emit(event: BgpEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (e) {
        this.log.error('bgp event listener threw', { error: (e as Error).message, event: event.type });
      }
    }
  }

  stop(): void {
    this.generation++;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.handle?.cancel();
    this.handle = undefined;
  }

  /**
   * Subscribes to peer-state changes and, unless best paths come another way
   * (the BMP feed: `bestPaths: false`), to best-path changes; `init` replays
   * the current best paths.
   */
  start(opts: { bestPaths: boolean } = { bestPaths: this.bestPaths }): void {
    this.stop();
    this.bestPaths = opts.bestPaths;
    const generation = this.generation;
    this.handle = this.client.stream<WatchItem>(
      'WatchEvent',
      this.bestPaths ? { peer: {}, table: { filters: [{ type: 'BEST', init: true }] } } : { peer: {} },
      (ev) => {
        if (generation === this.generation) this.onEvent(ev);
      },
      (err) => {
        if (generation !== this.generation) return;
        this.handle = undefined;
        if (err) this.log.warn('bgp watch stream ended', { error: err.message });
        // gobgpd still up (e.g. the stream alone broke): subscribe again. If gobgpd is
        // gone, the supervisor's restart replays and subscribes anew.
        this.retry = setTimeout(() => {
          if (generation === this.generation && this.live()) {
            this.start();
            // Withdrawals during the gap are lost; the new stream replays only current best paths.
            if (this.bestPaths) this.emit({ type: 'watch-restarted' });
          }
        }, 1000);
      },
      // Table events (nearly all the traffic) are read straight off the wire; peer events generically.
      (bytes, generic) => {
        const routes = decodeWatchTableEvent(bytes);
        return routes ? { routes } : { other: generic(bytes) as Record<string, any> };
      },
    );
  }

  private onEvent(ev: WatchItem): void {
    if (ev.routes) {
      for (const route of ev.routes) this.emit(route.withdrawal ? { type: 'withdraw', route } : { type: 'best', route });
      return;
    }
    const peerEvent = ev.other?.peer;
    if (!peerEvent) return;
    if (peerEvent.type !== 'STATE' && peerEvent.type !== 'INIT') return;
    const peer = decodePeerState(peerEvent.peer ?? {});
    if (!peer.address) return;
    this.peerStateGauge.set({ peer: peer.address }, PEER_STATE_VALUES[peer.state]);
    this.emit({ type: 'peer', peer });
  }
}
