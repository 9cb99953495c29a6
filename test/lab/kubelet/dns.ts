/**
 * A pod's /etc/resolv.conf, as a kubelet writes it from the pod's
 * `dnsPolicy` and `dnsConfig` (pkg/kubelet/network/dns): ClusterFirst names
 * the cluster DNS and searches the pod's namespace, then `svc`, then the
 * cluster domain, with ndots:5; a hostNetwork pod with ClusterFirst gets the
 * node's resolver (ClusterFirstWithHostNet asks for the cluster's); None takes
 * `dnsConfig` alone. Pure.
 */

export interface PodDnsLike {
  metadata?: { namespace?: string };
  spec?: {
    hostNetwork?: boolean;
    dnsPolicy?: string;
    dnsConfig?: { nameservers?: string[]; searches?: string[]; options?: Array<{ name?: string; value?: string }> };
  };
}

export interface ClusterDns {
  nameserver: string;
  domain: string;
}

// resolv.conf's own limits, which the kubelet applies too.
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

const unique = (xs: string[]) => [...new Set(xs.filter(Boolean))];

/**
 * The resolv.conf text, or undefined when the pod uses the node's own
 * (dnsPolicy Default, or ClusterFirst on the host network).
 */
export function podResolvConf(pod: PodDnsLike, cluster: ClusterDns): string | undefined {
  const spec = pod.spec ?? {};
  let policy = spec.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && spec.hostNetwork) policy = 'Default';
  if (policy === 'Default') return undefined;
  const base =
    policy === 'None'
      ? { nameservers: [] as string[], searches: [] as string[], options: new Map<string, string | undefined>() }
      : {
          nameservers: [cluster.nameserver],
          searches: [`${pod.metadata?.namespace ?? 'default'}.svc.${cluster.domain}`, `svc.${cluster.domain}`, cluster.domain],
          options: new Map<string, string | undefined>([['ndots', '5']]),
        };
  const extra = spec.dnsConfig ?? {};
  const nameservers = unique([...base.nameservers, ...(extra.nameservers ?? [])]).slice(0, MAX_NAMESERVERS);
  const searches = unique([...base.searches, ...(extra.searches ?? [])]).slice(0, MAX_SEARCHES);
  for (const o of extra.options ?? []) if (o.name) base.options.set(o.name, o.value);
  const options = [...base.options].map(([name, value]) => (value === undefined ? name : `${name}:${value}`));
  return [
    ...(searches.length ? [`search ${searches.join(' ')}`] : []),
    ...nameservers.map((n) => `nameserver ${n}`),
    ...(options.length ? [`options ${options.join(' ')}`] : []),
    '',
  ].join('\n');
}
