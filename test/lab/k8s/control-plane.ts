/**
 * The lab's control plane: etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler, as built by build.sh. The command lines are pure functions
 * of the lab spec (unit-tested); the lab's lifecycle starts them as recorded
 * processes in the root namespace.
 *
 * Where things listen: etcd on loopback only; the API server on the root
 * bridge address of the lab's primary family (the one address the root
 * namespace has in the lab), where nodes, agents and kubectl reach it; the
 * controller manager and the scheduler serve nothing (secure port 0).
 *
 * CoreDNS, the cluster DNS, runs beside them (built by dns/build.sh): on
 * port 53 of the same root bridge address, which the pods' resolv.conf names
 * (kubelet/dns.ts). It answers for the cluster domain only and forwards
 * nothing: a name outside the cluster gets no answer from the lab.
 */
import path from 'node:path';
import { familyOf } from '../../../sdk/src/families.ts';
import { ADMIN, APISERVER_KUBELET_CLIENT, CONTROLLER_MANAGER, SCHEDULER, pkiFiles, type Identity } from './pki.ts';

export const ETCD_CLIENT_PORT = 23790;
export const ETCD_PEER_PORT = 23800;

export interface ControlPlaneSpec {
  /** Directory of the built binaries (build.sh --dir). */
  binDir: string;
  /** Lab state directory: pki/, etcd/, kubeconfigs/. */
  stateDir: string;
  /** The API server's address (the root bridge's, primary family). */
  apiAddress: string;
  apiPort: number;
  /** Per enabled family, primary first. */
  serviceCIDRs: string[];
  podCIDRs: string[];
  /** Per pod CIDR above, the node CIDR mask size. */
  nodeMaskSizes: number[];
  /** Directory of the built CoreDNS (dns/build.sh --dir). */
  dnsBinDir: string;
}

/** The cluster's DNS domain (the kubelets' and CoreDNS'; upstream's e2e specs assume this one). */
export const CLUSTER_DOMAIN = 'cluster.local';
export const DNS_PORT = 53;

export interface ComponentCommand {
  name: 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'coredns';
  argv: string[];
}

const urlHost = (address: string) => (address.includes(':') ? `[${address}]` : address);

export function apiServerHttpsUrl(spec: Pick<ControlPlaneSpec, 'apiAddress' | 'apiPort'>): string {
  return `https://${urlHost(spec.apiAddress)}:${spec.apiPort}`;
}

export const controlPlanePaths = (stateDir: string) => ({
  pki: path.join(stateDir, 'pki'),
  etcdData: path.join(stateDir, 'etcd'),
  kubeconfigs: path.join(stateDir, 'kubeconfigs'),
  kubeconfig: (id: Pick<Identity, 'file'>) => path.join(stateDir, 'kubeconfigs', `${id.file}.kubeconfig`),
  corefile: path.join(stateDir, 'Corefile'),
});

/**
 * CoreDNS' configuration: the `kubernetes` plugin for the cluster domain and
 * the reverse zones of the service and pod ranges, as kubeadm configures it,
 * without `forward` (the lab resolves nothing outside itself). CoreDNS reads
 * the API as the lab's admin: a lab component, like kubectl.
 */
export function renderCorefile(spec: ControlPlaneSpec): string {
  const kubeconfig = controlPlanePaths(spec.stateDir).kubeconfig(ADMIN);
  return [
    `.:${DNS_PORT} {`,
    `    bind ${spec.apiAddress}`,
    '    errors',
    `    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {`,
    `        kubeconfig ${kubeconfig}`,
    '        pods insecure',
    '        fallthrough in-addr.arpa ip6.arpa',
    '        ttl 5',
    '    }',
    '    loadbalance',
    '}',
    '',
  ].join('\n');
}

export function corednsCommand(spec: ControlPlaneSpec): ComponentCommand {
  return { name: 'coredns', argv: [path.join(spec.dnsBinDir, 'coredns'), '-conf', controlPlanePaths(spec.stateDir).corefile] };
}

export function etcdCommand(spec: ControlPlaneSpec): ComponentCommand {
  const p = controlPlanePaths(spec.stateDir);
  const client = `http://127.0.0.1:${ETCD_CLIENT_PORT}`;
  const peer = `http://127.0.0.1:${ETCD_PEER_PORT}`;
  return {
    name: 'etcd',
    argv: [
      path.join(spec.binDir, 'etcd'),
      '--name=krouter-lab',
      `--data-dir=${p.etcdData}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=krouter-lab=${peer}`,
      '--initial-cluster-state=new',
      // A lab lives for minutes: no periodic fsync cost worth paying.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
  };
}

export function apiServerCommand(spec: ControlPlaneSpec): ComponentCommand {
  const f = pkiFiles(controlPlanePaths(spec.stateDir).pki);
  return {
    name: 'kube-apiserver',
    argv: [
      path.join(spec.binDir, 'kube-apiserver'),
      `--etcd-servers=http://127.0.0.1:${ETCD_CLIENT_PORT}`,
      `--bind-address=${spec.apiAddress}`,
      `--advertise-address=${spec.apiAddress}`,
      `--secure-port=${spec.apiPort}`,
      `--tls-cert-file=${f.serverCert}`,
      `--tls-private-key-file=${f.serverKey}`,
      `--client-ca-file=${f.caCert}`,
      `--service-cluster-ip-range=${spec.serviceCIDRs.join(',')}`,
      '--service-node-port-range=30000-32767',
      '--authorization-mode=Node,RBAC',
      // The defaults plus NodeRestriction, so the lab kubelets are held to a node's limits.
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      // exec/attach/port-forward go to the lab kubelets (kubelet/server.ts): mutual TLS with the lab CA, at
      // the node's InternalIP (its Hostname address names nothing resolvable).
      `--kubelet-client-certificate=${f.cert(APISERVER_KUBELET_CLIENT)}`,
      `--kubelet-client-key=${f.key(APISERVER_KUBELET_CLIENT)}`,
      `--kubelet-certificate-authority=${f.caCert}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${f.saPub}`,
      `--service-account-signing-key-file=${f.saKey}`,
      '--profiling=false',
      '--v=1',
    ],
  };
}

export function controllerManagerCommand(spec: ControlPlaneSpec): ComponentCommand {
  const p = controlPlanePaths(spec.stateDir);
  const f = pkiFiles(p.pki);
  const dual = spec.podCIDRs.length > 1;
  const maskFlags = dual
    ? spec.podCIDRs.map((c, i) => `--node-cidr-mask-size-${familyOf(c)}=${spec.nodeMaskSizes[i]}`)
    : [`--node-cidr-mask-size=${spec.nodeMaskSizes[0]}`];
  return {
    name: 'kube-controller-manager',
    argv: [
      path.join(spec.binDir, 'kube-controller-manager'),
      `--kubeconfig=${p.kubeconfig(CONTROLLER_MANAGER)}`,
      '--secure-port=0',
      '--leader-elect=false',
      '--allocate-node-cidrs=true',
      `--cluster-cidr=${spec.podCIDRs.join(',')}`,
      ...maskFlags,
      `--service-cluster-ip-range=${spec.serviceCIDRs.join(',')}`,
      // Every controller runs under its own service account, as in a real cluster.
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${f.saKey}`,
      `--root-ca-file=${f.caCert}`,
      `--cluster-signing-cert-file=${f.caCert}`,
      `--cluster-signing-key-file=${f.caKey}`,
      '--configure-cloud-routes=false',
      // Client-side rate limits sized for the lab's bursts: at the defaults (20/s, burst 30) starting
      // the controllers, each with its own service account and token, waited seconds on the limiter.
      '--kube-api-qps=500',
      '--kube-api-burst=1000',
      '--v=1',
    ],
  };
}

export function schedulerCommand(spec: ControlPlaneSpec): ComponentCommand {
  const p = controlPlanePaths(spec.stateDir);
  return {
    name: 'kube-scheduler',
    argv: [path.join(spec.binDir, 'kube-scheduler'), `--kubeconfig=${p.kubeconfig(SCHEDULER)}`, '--secure-port=0', '--leader-elect=false', '--v=1'],
  };
}

/** In start order: etcd, the API server, then the three that talk to it. */
export function controlPlaneCommands(spec: ControlPlaneSpec): ComponentCommand[] {
  return [etcdCommand(spec), apiServerCommand(spec), controllerManagerCommand(spec), schedulerCommand(spec), corednsCommand(spec)];
}

/** Identities that get a kubeconfig file (kubectl uses the admin's). */
export const KUBECONFIG_IDENTITIES: Identity[] = [ADMIN, CONTROLLER_MANAGER, SCHEDULER];
