/**
 * One valid use of every kube-router 2.x flag (and krouter's --cluster-cidr)
 * and the config overlay it gives; shared by the flag parser's and the
 * CLI's tests.
 */
import type { RawObject } from '../../core/config/flags.ts';

export const router = (o: RawObject) => ({ plugins: { router: o } });
export const proxy = (o: RawObject) => ({ plugins: { 'service-proxy': o } });
export const cni = (o: RawObject) => ({ plugins: { cni: o } });
export const firewall = (o: RawObject) => ({ plugins: { firewall: o } });
export const lb = (o: RawObject) => ({ plugins: { loadbalancer: o } });

/**
 * The table: one valid use of every flag and the overlay it gives. A flag with no
 * effect gives an empty overlay and its warning.
 */
export const FLAG_TABLE: Record<string, { args: string[]; overlay: RawObject }> = {
  'advertise-cluster-ip': { args: ['--advertise-cluster-ip'], overlay: router({ advertiseClusterIP: true }) },
  'advertise-external-ip': { args: ['--advertise-external-ip=true'], overlay: router({ advertiseExternalIP: true }) },
  'advertise-loadbalancer-ip': { args: ['--advertise-loadbalancer-ip=true'], overlay: router({ advertiseLoadBalancerIP: true }) },
  'advertise-pod-cidr': { args: ['--advertise-pod-cidr=false'], overlay: router({ advertisePodCidr: false }) },
  'auto-mtu': { args: ['--auto-mtu=false'], overlay: cni({ mtu: 1500 }) },
  'bfd-desired-min-tx-interval': { args: ['--bfd-desired-min-tx-interval=300'], overlay: {} },
  'bfd-detection-multiplier': { args: ['--bfd-detection-multiplier', '5'], overlay: {} },
  'bfd-port': { args: ['--bfd-port=3784'], overlay: {} },
  'bfd-required-min-rx-interval': { args: ['--bfd-required-min-rx-interval=300'], overlay: {} },
  'bgp-graceful-restart': { args: ['--bgp-graceful-restart'], overlay: router({ gracefulRestart: { enabled: true } }) },
  'bgp-graceful-restart-deferral-time': { args: ['--bgp-graceful-restart-deferral-time=10m0s'], overlay: router({ gracefulRestart: { deferralTime: 600 } }) },
  'bgp-graceful-restart-time': { args: ['--bgp-graceful-restart-time', '2m'], overlay: router({ gracefulRestart: { restartTime: 120 } }) },
  'bgp-holdtime': { args: ['--bgp-holdtime=30s'], overlay: router({ holdTime: 30 }) },
  'bgp-port': { args: ['--bgp-port=1790'], overlay: router({ bgpPort: 1790 }) },
  'cache-sync-timeout': { args: ['--cache-sync-timeout=2m30s'], overlay: { kubernetes: { cacheSyncTimeoutSeconds: 150 } } },
  'cleanup-config': { args: ['--cleanup-config=false'], overlay: {} },
  'cluster-asn': { args: ['--cluster-asn=64512'], overlay: router({ clusterAsn: 64512 }) },
  'disable-source-dest-check': { args: ['--disable-source-dest-check=false'], overlay: {} },
  'enable-bfd': { args: ['--enable-bfd'], overlay: {} },
  'enable-cni': { args: ['--enable-cni=true'], overlay: cni({ enabled: true }) },
  'enable-ibgp': { args: ['--enable-ibgp=false'], overlay: router({ ibgp: false }) },
  'enable-ipv4': { args: ['--enable-ipv4=true'], overlay: { families: 'ipv4' } },
  'enable-ipv6': { args: ['--enable-ipv6'], overlay: { families: 'dual' } },
  'enable-overlay': { args: ['--enable-overlay=false'], overlay: {} },
  'enable-pod-egress': { args: ['--enable-pod-egress=false'], overlay: cni({ masquerade: false }) },
  'enable-pprof': { args: ['--enable-pprof'], overlay: {} },
  'excluded-cidrs': { args: ['--excluded-cidrs=10.0.0.0/8,fd00:abc::/64'], overlay: {} },
  'gobgp-admin-address': { args: ['--gobgp-admin-address=127.0.0.1'], overlay: {} },
  'gobgp-admin-port': { args: ['--gobgp-admin-port=50051'], overlay: {} },
  'hairpin-mode': { args: ['--hairpin-mode'], overlay: proxy({ hairpinMode: true }) },
  'health-addr': { args: ['--health-addr=10.0.0.5'], overlay: { health: { address: '10.0.0.5' } } },
  'health-port': { args: ['--health-port=20245'], overlay: { health: { enabled: true, port: 20245 } } },
  help: { args: ['--help=false'], overlay: {} },
  'hostname-override': { args: ['--hostname-override=node-7'], overlay: { nodeName: 'node-7' } },
  'injected-routes-sync-period': { args: ['--injected-routes-sync-period=90s'], overlay: router({ kernelRoutesResyncSeconds: 90 }) },
  'iptables-sync-period': { args: ['--iptables-sync-period=1m0s'], overlay: firewall({ resyncSeconds: 60 }) },
  'ipvs-graceful-period': { args: ['--ipvs-graceful-period=30s'], overlay: {} },
  'ipvs-graceful-termination': { args: ['--ipvs-graceful-termination'], overlay: {} },
  'ipvs-permit-all': { args: ['--ipvs-permit-all=false'], overlay: {} },
  'ipvs-sync-period': { args: ['--ipvs-sync-period=2m'], overlay: proxy({ resyncSeconds: 120 }) },
  kubeconfig: { args: ['--kubeconfig', '/var/lib/kube-router/kubeconfig'], overlay: { kubernetes: { kubeconfig: '/var/lib/kube-router/kubeconfig' } } },
  'loadbalancer-default-class': { args: ['--loadbalancer-default-class=false'], overlay: lb({ defaultClass: false }) },
  'loadbalancer-ip-range': {
    args: ['--loadbalancer-ip-range=198.51.100.0/24', '--loadbalancer-ip-range', '2001:db8:1::/64'],
    overlay: { plugins: { loadbalancer: { ipRanges: ['198.51.100.0/24', '2001:db8:1::/64'] }, 'service-proxy': { loadBalancerIPRanges: ['198.51.100.0/24', '2001:db8:1::/64'] } } },
  },
  'loadbalancer-sync-period': { args: ['--loadbalancer-sync-period=5m0s'], overlay: lb({ syncPeriod: '5m0s' }) },
  'masquerade-all': { args: ['--masquerade-all'], overlay: proxy({ masqueradeAll: true }) },
  master: { args: ['--master=https://10.0.0.1:6443'], overlay: { kubernetes: { master: 'https://10.0.0.1:6443' } } },
  'metrics-addr': { args: ['--metrics-addr=::1'], overlay: { metrics: { address: '::1' } } },
  'metrics-path': { args: ['--metrics-path=/prom'], overlay: { metrics: { path: '/prom' } } },
  'metrics-port': { args: ['--metrics-port=8080'], overlay: { metrics: { enabled: true, port: 8080 } } },
  'netpol-default-deny': { args: ['--netpol-default-deny'], overlay: firewall({ defaultDeny: true }) },
  'nodeport-bindon-all-ip': { args: ['--nodeport-bindon-all-ip'], overlay: proxy({ nodePortAddresses: ['0.0.0.0/0', '::/0'] }) },
  'nodes-full-mesh': { args: ['--nodes-full-mesh=false'], overlay: router({ nodesFullMesh: false }) },
  'overlay-encap': { args: ['--overlay-encap=fou'], overlay: {} },
  'overlay-encap-port': { args: ['--overlay-encap-port=5555'], overlay: {} },
  'overlay-type': { args: ['--overlay-type=full'], overlay: {} },
  'override-nexthop': { args: ['--override-nexthop'], overlay: router({ overrideNexthop: true }) },
  'peer-router-asns': { args: ['--peer-router-ips=192.0.2.1', '--peer-router-asns=64513'], overlay: router({ peerRouters: [{ address: '192.0.2.1', asn: 64513 }] }) },
  'peer-router-ips': {
    args: ['--peer-router-ips=192.0.2.1,2001:db8::1', '--peer-router-asns=64513,64514'],
    overlay: router({ peerRouters: [{ address: '192.0.2.1', asn: 64513 }, { address: '2001:db8::1', asn: 64514 }] }),
  },
  'peer-router-multihop-ttl': { args: ['--peer-router-multihop-ttl=4'], overlay: router({ peerMultihopTtl: 4 }) },
  'peer-router-passwords': {
    args: ['--peer-router-ips=192.0.2.1', '--peer-router-asns=64513', '--peer-router-passwords=c2VjcmV0'],
    overlay: router({ peerRouters: [{ address: '192.0.2.1', asn: 64513, password: 'c2VjcmV0' }] }),
  },
  'peer-router-passwords-file': { args: ['--peer-router-passwords-file=/etc/kube-router/passwords'], overlay: router({ peerRouterPasswordsFile: '/etc/kube-router/passwords' }) },
  'peer-router-ports': {
    args: ['--peer-router-ips=192.0.2.1', '--peer-router-asns=64513', '--peer-router-ports=1790'],
    overlay: router({ peerRouters: [{ address: '192.0.2.1', asn: 64513, port: 1790 }] }),
  },
  'router-id': { args: ['--router-id=generate'], overlay: router({ routerId: 'generate' }) },
  'routes-sync-period': { args: ['--routes-sync-period=1m'], overlay: router({ resyncSeconds: 60 }) },
  'run-firewall': { args: ['--run-firewall=false'], overlay: firewall({ enabled: false }) },
  'run-loadbalancer': { args: ['--run-loadbalancer'], overlay: lb({ enabled: true }) },
  'run-router': { args: ['--run-router=true'], overlay: router({ enabled: true }) },
  'run-service-proxy': { args: ['--run-service-proxy=false'], overlay: proxy({ enabled: false }) },
  'runtime-endpoint': { args: ['--runtime-endpoint=unix:///run/containerd/containerd.sock'], overlay: {} },
  'service-cluster-ip-range': {
    args: ['--service-cluster-ip-range=10.96.0.0/12', '--service-cluster-ip-range=fd00:20::/108'],
    overlay: { plugins: { 'service-proxy': { serviceClusterIPRanges: ['10.96.0.0/12', 'fd00:20::/108'] }, router: { serviceClusterIPRanges: ['10.96.0.0/12', 'fd00:20::/108'] } } },
  },
  'service-external-ip-range': {
    args: ['--service-external-ip-range=203.0.113.0/24'],
    overlay: { plugins: { 'service-proxy': { externalIPRanges: ['203.0.113.0/24'] }, router: { serviceExternalIPRanges: ['203.0.113.0/24'] } } },
  },
  'service-node-port-range': { args: ['--service-node-port-range=30000:31000'], overlay: proxy({ nodePortRange: '30000-31000' }) },
  'service-tcp-timeout': { args: ['--service-tcp-timeout=1h'], overlay: proxy({ conntrackTimeouts: { tcp: 3600 } }) },
  'service-tcpfin-timeout': { args: ['--service-tcpfin-timeout=30s'], overlay: proxy({ conntrackTimeouts: { tcpFin: 30 } }) },
  'service-udp-timeout': { args: ['--service-udp-timeout=1m30s'], overlay: proxy({ conntrackTimeouts: { udp: 90 } }) },
  'strict-external-ip-validation': { args: ['--strict-external-ip-validation=false'], overlay: proxy({ strictExternalIPValidation: false }) },
  'use-nftables-for-netpol': { args: ['--use-nftables-for-netpol'], overlay: {} },
  v: { args: ['-v', '2'], overlay: { log: { level: 2 } } },
  version: { args: ['--version=false'], overlay: {} },
  'cluster-cidr': { args: ['--cluster-cidr=10.244.0.0/16'], overlay: proxy({ clusterCIDRs: ['10.244.0.0/16'] }) },
};

/** The flags kube-router's loadbalancer plugin reads: only `plugins.loadbalancer`, whose plugin is not built in here yet. */
export const LOADBALANCER_ONLY_FLAGS = ['run-loadbalancer', 'loadbalancer-ip-range', 'loadbalancer-default-class', 'loadbalancer-sync-period'];

