import {
  AddressFamilies,
  Gobgp,
  Informers,
  Netlink,
  KROUTER_ROUTE_PROTOCOL,
  createReconciler,
  definePlugin,
  driftRepairs,
  SDK_API_VERSION,
} from '@krouter/sdk';
import { routerConfigSchema, type RouterConfig } from './config.ts';
import { acceptedPerFamily, routerStatus } from './status.ts';
import { coalesced } from './coalesced.ts';
import { KernelRouteSync, type RouteSyncReason } from './kernel-routes.ts';
import { RouterSync } from './sync.ts';

/** Why the speaker reconciler runs (besides the built-in reasons). */
type SpeakerSyncReason = 'node' | 'service' | 'endpointslice' | 'bgp-peer' | 'gobgpd-restarted';

/**
 * The router: a BGP speaker per node that advertises this node's pod CIDRs
 * (and optionally service VIPs) in every enabled family, peers with the other
 * nodes and external routers, and installs the routes it learns.
 */
export default definePlugin({
  name: 'router',
  apiVersion: SDK_API_VERSION,
  description: 'Pod routes over BGP for IPv4, IPv6 and dual-stack',
  configSchema: routerConfigSchema,
  requires: { families: AddressFamilies, bgp: Gobgp, netlink: Netlink, informers: Informers },

  async start(ctx, deps) {
    const config = ctx.config as RouterConfig;
    const { logger, metrics } = ctx;
    const errorsTotal = metrics.counter({ name: 'router_errors_total', help: 'Router input errors (bad peers, annotations, CIDRs)' });
    const peerUp = metrics.gauge({ name: 'router_bgp_peer_established', help: '1 when the BGP session is established', labelNames: ['peer', 'asn'] });
    const advertised = metrics.gauge({ name: 'router_paths_advertised', help: 'Paths this node originates', labelNames: ['family'] });
    const installed = metrics.gauge({ name: 'router_routes_installed', help: 'Learned routes installed in the kernel', labelNames: ['family'] });
    const received = metrics.gauge({ name: 'router_routes_received', help: 'Routes accepted from peers', labelNames: ['family'] });

    // The event goes on the Node the error is about: another node's bad ASN annotation is that node's.
    const router = new RouterSync(config, deps, logger, (message, node) => {
      errorsTotal.inc();
      if (node === ctx.nodeName) logger.error(message);
      else logger.error(message, { node });
      const uid = deps.informers.nodes.get(node)?.metadata?.uid;
      void deps.informers.api.recordEvent({ kind: 'Node', name: node, ...(uid ? { uid } : {}) }, 'Warning', 'RouterConfigError', message);
    });
    const kernel = new KernelRouteSync(config, deps, logger, (message) => router.report(message), driftRepairs(metrics, 'router'));
    // The received-routes gauge needs gobgpd's peer list, which gobgpd answers slowly in the middle
    // of a burst (tens of ms): read in the background, so the next batch of routes does not wait,
    // and at most once a second, so a burst's dozens of syncs do not each cost gobgpd and us a read.
    const refreshReceived = coalesced(
      async () => {
        const accepted = acceptedPerFamily(await deps.bgp.listPeers());
        for (const family of deps.families.enabled) received.set({ family }, accepted[family]);
      },
      (err) => logger.debug('reading peers for the received-routes metric failed', { error: (err as Error).message }),
      { spacingMs: 1000 },
    );

    await deps.informers.waitForSync();
    const common = { logger, metrics, health: ctx.health, signal: ctx.signal, resyncIntervalMs: config.resyncSeconds * 1000 };
    // Speaker, peers and originated paths: follow the cluster (nodes, services).
    const speaker = createReconciler<SpeakerSyncReason>({
      ...common,
      name: 'router',
      debounceMs: 50,
      minIntervalMs: 200,
      sync: async () => {
        const report = await router.sync();
        if (router.started) routes.trigger('speaker');
        for (const family of deps.families.enabled) {
          advertised.set({ family }, report.paths.filter((p) => deps.families.familyOf(p.prefix) === family).length);
        }
      },
    });
    // Kernel routes: follow what peers teach us, batched. Short waits and no minimum interval: a
    // burst of paths becomes syncs back to back, each taking what came during the one before, that
    // install while the rest still arrives (a 30 ms minimum left the routes of a 1,000-route burst
    // waiting idle for up to 30 ms between syncs).
    const routes = createReconciler<RouteSyncReason>({
      ...common,
      resyncIntervalMs: config.kernelRoutesResyncSeconds * 1000,
      name: 'router-routes',
      debounceMs: 2,
      minIntervalMs: 0,
      sync: async (reasons) => {
        // Nothing to read before the speaker runs; its first sync triggers this one.
        if (!config.installRoutes || !router.started) return;
        const families = deps.families.enabled;
        const own = deps.families.localNode().podCIDRs;
        await kernel.sync(families, own, reasons);
        for (const family of families) installed.set({ family }, kernel.installedCount(family));
        refreshReceived();
      },
    });

    const unsubscribe = [
      deps.informers.nodes.onChange(() => {
        speaker.trigger('node');
        routes.trigger('node'); // our own pod CIDRs may have changed
      }),
      deps.informers.services.onChange(() => speaker.trigger('service')),
      deps.informers.endpointSlices.onChange(() => speaker.trigger('endpointslice')),
      deps.bgp.watch((event) => {
        kernel.onBgpEvent(event);
        if (event.type === 'peer') {
          peerUp.set({ peer: event.peer.address, asn: String(event.peer.asn) }, event.peer.state === 'established' ? 1 : 0);
          if (event.peer.state === 'established') logger.info('BGP peer established', { peer: event.peer.address, asn: event.peer.asn });
          speaker.trigger('bgp-peer');
          routes.trigger('bgp-peer');
        } else if (event.type === 'restarted') {
          speaker.trigger('gobgpd-restarted');
          routes.trigger('gobgpd-restarted');
        } else if (event.type === 'watch-restarted') {
          routes.trigger('bgp-watch-restarted');
        } else {
          routes.trigger('bgp-path');
        }
      }),
    ];
    await speaker.start();
    await routes.start();

    return {
      async stop() {
        unsubscribe.forEach((u) => u());
        await routes.stop();
        await speaker.stop();
        await refreshReceived.idle();
        // Routes and gobgpd state are left for the next start to adopt (graceful restart).
      },
      async status() {
        const peers = await deps.bgp.listPeers().catch(() => []);
        return routerStatus({
          asn: router.last.global?.asn,
          routerId: router.last.global?.routerId,
          families: deps.families.enabled,
          familyOf: (prefix) => deps.families.familyOf(prefix),
          peers,
          paths: router.last.paths,
          installed: kernel.installed(),
          errors: router.last.errors,
          nowSeconds: Date.now() / 1000,
        });
      },
    };
  },

  async cleanup(_ctx, deps) {
    await cleanupRoutes(deps);
  },
});

/** Removes every route carrying krouter's protocol, in every enabled family. */
async function cleanupRoutes(deps: { families: AddressFamilies; netlink: Netlink }) {
  for (const family of deps.families.enabled) {
    const routes = await deps.netlink.listRoutes({ family, protocol: KROUTER_ROUTE_PROTOCOL });
    await deps.netlink.apply(routes.map((route) => ({ op: 'route.delete' as const, route })));
  }
}
