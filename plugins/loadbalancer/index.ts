import { AddressFamilies, Informers, SDK_API_VERSION, definePlugin } from '@krouter/sdk';
import { startLoadBalancer } from './agent.ts';
import { loadBalancerConfigSchema, type LoadBalancerConfig } from './config.ts';

/**
 * The `loadbalancer` plugin (kube-router's --run-loadbalancer): addresses for
 * Services of type LoadBalancer from configured ranges of every enabled
 * family, written to status.loadBalancer.ingress by one agent of the cluster
 * at a time (a coordination.k8s.io Lease). The router advertises them
 * (advertiseLoadBalancerIP) and the service proxy serves them.
 */
export default definePlugin<LoadBalancerConfig, { families: typeof AddressFamilies; informers: typeof Informers }>({
  name: 'loadbalancer',
  apiVersion: SDK_API_VERSION,
  description: 'LoadBalancer Service addresses from configured ranges, for IPv4, IPv6 and dual-stack',
  configSchema: loadBalancerConfigSchema,
  requires: { families: AddressFamilies, informers: Informers },
  start: (ctx, deps) => startLoadBalancer(ctx, deps),
});
