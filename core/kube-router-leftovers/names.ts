/**
 * What kube-router leaves in the kernel, by the names and marks its source
 * gives them (github.com/cloudnativelabs/kube-router, v2.11; file named per
 * item). Everything `krouter cleanup --kube-router` selects is decided here
 * and nowhere else; a name that is not here is not kube-router's.
 */

/**
 * User-defined iptables chains (filter, nat and mangle, both families):
 * pkg/controllers/netpol/network_policy_controller.go (KUBE-ROUTER-INPUT,
 * -FORWARD, -OUTPUT; KUBE-NWPLCY-<hash>, -DEFAULT, -COMMON, -TAIL;
 * KUBE-POD-FW-<hash>) and pkg/controllers/proxy/network_services_controller.go
 * (KUBE-ROUTER-SERVICES, KUBE-ROUTER-HAIRPIN). kube-proxy's and the
 * kubelet's chains (KUBE-SERVICES, KUBE-FIREWALL, KUBE-SVC-*, ...) are not.
 */
export const CHAIN_PREFIXES = ['KUBE-ROUTER-', 'KUBE-POD-FW-', 'KUBE-NWPLCY-'] as const;

/**
 * ipsets: kube-router-pod-subnets, kube-router-node-ips (routing),
 * kube-router-local-ips, kube-router-svip, kube-router-svip-prt (proxy),
 * kube-router-local-pods, KUBE-SRC-<hash>, KUBE-DST-<hash> (netpol); the
 * IPv6 set of each is the same name behind `inet6:` (pkg/utils/ipset.go).
 * kube-proxy's KUBE-CLUSTER-IP, KUBE-6-..., etc. are not.
 */
export const IPSET_PREFIXES = ['kube-router-', 'KUBE-SRC-', 'KUBE-DST-'] as const;
export const IPSET_IPV6_PREFIX = 'inet6:';

/** nftables tables of the nftables NetworkPolicy backend (pkg/controllers/netpol/npc_nftables.go). */
export const NFT_TABLES: ReadonlyArray<{ family: string; name: string }> = [
  { family: 'ip', name: 'kube-router-filter-ipv4' },
  { family: 'ip6', name: 'kube-router-filter-ipv6' },
];

/**
 * Links: the dummy holding service IPs and the DSR tunnel interfaces
 * (pkg/controllers/proxy/network_services_controller.go), and the overlay
 * tunnels to other nodes, "tun-" + 11 hex digits of a SHA-256 of the node IP
 * (pkg/tunnels/linux_tunnels.go, GenerateTunnelName). kube-bridge is not in
 * this list: krouter's cni plugin adopts it.
 */
export const LINK_NAMES: ReadonlySet<string> = new Set(['kube-dummy-if', 'kube-tunnel-if', 'kube-tunnel-v6']);
export const TUNNEL_LINK = /^tun-[0-9a-f]{11}$/;

/**
 * Routes kube-router injects for other nodes' pod CIDRs carry route protocol
 * 0x11 = 17 (pkg/routes/linux_routes.go, `ZebraOriginator = 0x11`; its
 * comment means zebra, which is 11, so iproute2 shows them as `proto 17`).
 */
export const ROUTE_PROTOCOL = 17;

/**
 * Its routing tables: 77 `kube-router` (policy routing of overlay traffic,
 * pkg/routes/pbr.go), 78 `kube-router-dsr` and 79 `external_ip` (DSR,
 * pkg/controllers/proxy/network_services_controller.go). Every route in them
 * and every rule that looks one of them up is kube-router's.
 */
export const ROUTE_TABLES: ReadonlySet<number> = new Set([77, 78, 79]);

/** Comments of the ACCEPT rules kube-router inserts at the top of FORWARD (pkg/controllers/routing/network_routes_controller.go). */
export const FORWARD_COMMENTS: ReadonlySet<string> = new Set([
  'allow outbound traffic from pods',
  'allow inbound traffic to pods',
  'allow outbound node port traffic on node interface with which node ip is associated',
]);

/** kube-router's bridge; in iptables rules it marks kube-router's DSR TCPMSS rules (krouter uses no iptables). */
export const BRIDGE = 'kube-bridge';

export const isOwnedChain = (name: string): boolean => CHAIN_PREFIXES.some((p) => name.startsWith(p));

export function isOwnedIpset(name: string): boolean {
  const bare = name.startsWith(IPSET_IPV6_PREFIX) ? name.slice(IPSET_IPV6_PREFIX.length) : name;
  return IPSET_PREFIXES.some((p) => bare.startsWith(p));
}

export const isOwnedLink = (name: string): boolean => LINK_NAMES.has(name) || TUNNEL_LINK.test(name);
