import { lazyBuiltin } from './prepare.ts';

/**
 * The built-in plugins, bundled into the executable. Each is an ordinary SDK
 * plugin (a `definePlugin` default export); they start in this order, before
 * external plugins, and stop in reverse. To add one, list its name and its
 * module here. A module is imported only when its plugin is enabled (its
 * code and config schema cost ~1 MB of memory otherwise); esbuild still
 * bundles it, and turns the import into a lazy require of the bundled module.
 */
export const builtins: readonly unknown[] = [
  lazyBuiltin('cni', () => import('../../plugins/cni/index.ts')),
  lazyBuiltin('router', () => import('../../plugins/router/index.ts')),
  lazyBuiltin('service-proxy', () => import('../../plugins/service-proxy/index.ts')),
  lazyBuiltin('firewall', () => import('../../plugins/firewall/index.ts')),
  lazyBuiltin('loadbalancer', () => import('../../plugins/loadbalancer/index.ts')),
];
