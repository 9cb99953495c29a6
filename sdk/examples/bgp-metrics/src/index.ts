/**
 * bgp-metrics: an example third-party krouter plugin.
 *
 * Exports, as Prometheus gauges on the agent's /metrics:
 *   krouter_bgp_metrics_bgp_running                      1 while BGP runs
 *   krouter_bgp_metrics_peer_established{peer,peer_asn}  1 = session established
 *   krouter_bgp_metrics_peer_accepted_routes{peer,peer_asn,family}
 *   krouter_bgp_metrics_rib_routes{family}               prefixes in the global RIB
 * and logs every peer state change.
 *
 * It only reads BGP. On a node where no other plugin runs BGP, `startBgp`
 * in its config starts a listener-less BGP instance, so the plugin is useful
 * on its own (e.g. to watch paths injected with the gobgp CLI).
 */
import {
  AddressFamilies,
  Gobgp,
  createReconciler,
  definePlugin,
  type BgpPeerStateName,
  type Gauge,
} from '@krouter/sdk';
import { z } from 'zod';
import { peerTransitions, renderMetrics, type BgpSnapshot, type Sample } from './model.ts';

const configSchema = z
  .object({
    /** How often the metrics are refreshed (peer changes also refresh them). */
    intervalSeconds: z.number().int().min(1).max(3600).default(15),
    /** Start BGP with this global config; leave unset when another plugin (the router) runs BGP. */
    startBgp: z
      .object({
        asn: z.number().int().min(1).max(4_294_967_295),
        routerId: z.ipv4(),
        /** -1 (default) opens no TCP listener. */
        listenPort: z.number().int().min(-1).max(65_535).default(-1),
      })
      .strict()
      .optional(),
  })
  .strict()
  // No section at all means all defaults.
  .prefault({});

export type BgpMetricsConfig = z.infer<typeof configSchema>;

export default definePlugin({
  name: 'bgp-metrics',
  apiVersion: 1,
  description: 'BGP peer states and per-family RIB sizes as Prometheus metrics',
  configSchema,
  requires: { bgp: Gobgp, families: AddressFamilies },

  async start(ctx, { bgp, families }) {
    const { config, logger, metrics } = ctx;
    const gauge = (name: string, help: string, labelNames: string[] = []) =>
      metrics.gauge({ name: `bgp_metrics_${name}`, help, labelNames });
    const running = gauge('bgp_running', 'BGP is running (1) or not (0)');
    const established = gauge('peer_established', 'BGP session state, 1 = established', ['peer', 'peer_asn']);
    const accepted = gauge('peer_accepted_routes', 'Routes accepted from a peer, per family', ['peer', 'peer_asn', 'family']);
    const ribRoutes = gauge('rib_routes', 'Prefixes in the global RIB, per family', ['family']);

    if (config.startBgp) {
      // The whole desired state: a speaker without peers or paths of its own.
      await bgp.apply({ global: { ...config.startBgp, families: [...families.enabled] }, peers: [], paths: [] });
      logger.info('started BGP', { asn: config.startBgp.asn, routerId: config.startBgp.routerId });
    }

    let lastStates = new Map<string, BgpPeerStateName>();
    let last: BgpSnapshot = { running: false, peers: [], ribRoutes: {} };

    // read -> model -> write: the reads go through the Gobgp service,
    // renderMetrics is pure, and writing gauges is the whole "apply".
    const read = async (): Promise<BgpSnapshot> => {
      if (!bgp.ready) return { running: false, peers: [], ribRoutes: {} };
      const peers = await bgp.listPeers();
      const rib: BgpSnapshot['ribRoutes'] = {};
      for (const family of families.enabled) {
        // One prefix can have several paths; count prefixes.
        rib[family] = new Set((await bgp.listPaths(family, 'global')).map((r) => r.prefix)).size;
      }
      return { running: true, peers, ribRoutes: rib };
    };

    const write = (target: Gauge, samples: Sample[]) => {
      // Reset first so peers that went away lose their series.
      target.reset();
      for (const s of samples) target.set(s.labels, s.value);
    };

    const reconciler = createReconciler({
      name: 'bgp-metrics',
      logger,
      metrics,
      health: ctx.health,
      signal: ctx.signal,
      resyncIntervalMs: config.intervalSeconds * 1000,
      minIntervalMs: 500,
      sync: async () => {
        const snapshot = await read();
        const rendered = renderMetrics(snapshot);
        running.set(rendered.running);
        write(established, rendered.peerEstablished);
        write(accepted, rendered.peerReceivedRoutes);
        write(ribRoutes, rendered.ribRoutes);
        for (const t of peerTransitions(lastStates, snapshot.peers)) {
          logger.info('BGP peer state changed', { peer: t.address, from: t.from, to: t.to });
        }
        lastStates = new Map(snapshot.peers.map((p) => [p.address, p.state]));
        last = snapshot;
      },
    });

    // Events only schedule a sync; the sync reads everything again.
    const unwatch = bgp.watch((event) => reconciler.trigger(event.type));
    await reconciler.start();
    logger.info('exporting BGP metrics', { intervalSeconds: config.intervalSeconds, families: families.enabled });

    return {
      async stop() {
        unwatch();
        await reconciler.stop();
      },
      status() {
        return {
          bgpRunning: last.running,
          peers: last.peers.map((p) => ({ address: p.address, asn: p.asn, state: p.state })),
          ribRoutes: last.ribRoutes,
          lastError: reconciler.lastError?.message,
        };
      },
    };
  },
});
