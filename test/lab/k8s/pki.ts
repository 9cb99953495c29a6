/**
 * The lab's certificates, made per lab with openssl: one CA, the API
 * server's serving certificate, one client certificate per identity (the
 * admin, the controller manager, the scheduler, each node's kubelet) and the
 * service-account signing key. What to make is pure (`pkiPlan`); making it is
 * a list of openssl command lines (`pkiCommands`).
 *
 * EC P-256 keys: they are made in milliseconds (RSA takes seconds each on
 * these machines) and Kubernetes accepts them everywhere, also for signing
 * service-account tokens (ES256).
 */
import path from 'node:path';

/** Who a client certificate says it is: Kubernetes reads the user from CN and the groups from O. */
export interface Identity {
  /** File name stem under <state>/pki/. */
  file: string;
  cn: string;
  groups: string[];
}

export interface PkiPlan {
  dir: string;
  /** The API server's serving certificate names (IPs and DNS names it is reached by). */
  serverIPs: string[];
  serverDNS: string[];
  clients: Identity[];
  /** Each node's kubelet serving certificate: the node's InternalIPs, which the API server dials for exec. */
  kubeletServing: Array<{ node: string; ips: string[] }>;
}

export const pkiFiles = (dir: string) => ({
  caCert: path.join(dir, 'ca.crt'),
  caKey: path.join(dir, 'ca.key'),
  serverCert: path.join(dir, 'apiserver.crt'),
  serverKey: path.join(dir, 'apiserver.key'),
  saKey: path.join(dir, 'sa.key'),
  saPub: path.join(dir, 'sa.pub'),
  cert: (id: Pick<Identity, 'file'>) => path.join(dir, `${id.file}.crt`),
  key: (id: Pick<Identity, 'file'>) => path.join(dir, `${id.file}.key`),
  kubeletServingCert: (node: string) => path.join(dir, `kubelet-serving-${node}.crt`),
  kubeletServingKey: (node: string) => path.join(dir, `kubelet-serving-${node}.key`),
});

export const ADMIN: Identity = { file: 'admin', cn: 'kubernetes-admin', groups: ['system:masters'] };
export const CONTROLLER_MANAGER: Identity = { file: 'kube-controller-manager', cn: 'system:kube-controller-manager', groups: [] };
export const SCHEDULER: Identity = { file: 'kube-scheduler', cn: 'system:kube-scheduler', groups: [] };
/** How the API server authenticates to kubelets (exec, logs): the lab kubelets serve only this user. */
export const APISERVER_KUBELET_CLIENT: Identity = { file: 'apiserver-kubelet-client', cn: 'kube-apiserver-kubelet-client', groups: [] };

/** A kubelet's identity: the Node authorizer and NodeRestriction key on exactly this name and group. */
export function nodeIdentity(node: string): Identity {
  return { file: `kubelet-${node}`, cn: `system:node:${node}`, groups: ['system:nodes'] };
}

export function pkiPlan(opts: { dir: string; apiAddresses: string[]; firstServiceIPs: string[]; nodes: string[]; nodeIPs?: Record<string, string[]> }): PkiPlan {
  return {
    dir: opts.dir,
    // Loopback too: the controller manager and scheduler may be pointed there.
    serverIPs: [...new Set([...opts.apiAddresses, ...opts.firstServiceIPs, '127.0.0.1'])],
    serverDNS: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'],
    clients: [ADMIN, CONTROLLER_MANAGER, SCHEDULER, APISERVER_KUBELET_CLIENT, ...opts.nodes.map(nodeIdentity)],
    kubeletServing: opts.nodes.map((node) => ({ node, ips: opts.nodeIPs?.[node] ?? [] })),
  };
}

/** `/O=g1/O=g2/CN=name`, with the characters openssl's -subj treats specially escaped. */
export function subject(cn: string, groups: readonly string[] = []): string {
  const esc = (v: string) => v.replace(/[\\/,=+]/g, (c) => `\\${c}`);
  return [...groups.map((g) => `/O=${esc(g)}`), `/CN=${esc(cn)}`].join('');
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const DAYS = ['-days', '365'];

/** The openssl command lines that make every file of the plan, CA first. */
export function pkiCommands(plan: PkiPlan): string[][] {
  const f = pkiFiles(plan.dir);
  const leaf = (key: string, cert: string, subj: string, ext: string[]) => [
    'openssl', 'req', '-x509', '-CA', f.caCert, '-CAkey', f.caKey, ...EC, '-keyout', key, '-out', cert, ...DAYS, '-subj', subj,
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    ...ext.flatMap((e) => ['-addext', e]),
  ];
  const san = [...plan.serverIPs.map((ip) => `IP:${ip}`), ...plan.serverDNS.map((d) => `DNS:${d}`)].join(',');
  return [
    ['openssl', 'req', '-x509', ...EC, '-keyout', f.caKey, '-out', f.caCert, '-days', '3650', '-subj', subject('krouter-lab-ca'),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'],
    leaf(f.serverKey, f.serverCert, subject('kube-apiserver'), [`subjectAltName=${san}`, 'extendedKeyUsage=serverAuth']),
    ...plan.clients.map((id) => leaf(f.key(id), f.cert(id), subject(id.cn, id.groups), ['extendedKeyUsage=clientAuth'])),
    ...plan.kubeletServing
      .filter((k) => k.ips.length > 0)
      .map((k) =>
        leaf(f.kubeletServingKey(k.node), f.kubeletServingCert(k.node), subject(`system:node:${k.node}`, ['system:nodes']), [
          `subjectAltName=${[...k.ips.map((ip) => `IP:${ip}`), `DNS:${k.node}`].join(',')}`,
          'extendedKeyUsage=serverAuth',
        ]),
      ),
    ['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f.saKey],
    ['openssl', 'pkey', '-in', f.saKey, '-pubout', '-out', f.saPub],
  ];
}

/** A kubeconfig (YAML text) for one identity, with the files referenced by absolute path. */
export function renderKubeconfig(opts: { server: string; caCert: string; cert: string; key: string; user: string }): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: krouter-lab',
    '  cluster:',
    `    server: ${opts.server}`,
    `    certificate-authority: ${opts.caCert}`,
    'users:',
    `- name: ${JSON.stringify(opts.user)}`,
    '  user:',
    `    client-certificate: ${opts.cert}`,
    `    client-key: ${opts.key}`,
    'contexts:',
    '- name: krouter-lab',
    `  context: {cluster: krouter-lab, user: ${JSON.stringify(opts.user)}, namespace: default}`,
    'current-context: krouter-lab',
    '',
  ].join('\n');
}
