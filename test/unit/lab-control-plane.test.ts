import assert from 'node:assert/strict';
import { labSpecFixture } from '../helpers/lab-spec.ts';
import { apiServerHttpsUrl, controlPlaneCommands, renderCorefile } from '../lab/k8s/control-plane.ts';
import { ADMIN, nodeIdentity, pkiCommands, pkiPlan, subject } from '../lab/k8s/pki.ts';
import { controlPlaneSpec } from '../lab/k8s/start.ts';
import { nodeExecArgv, shQuote } from '../lab/kubelet/container.ts';
import { leaseObject, microTime, nodeStatus } from '../lab/kubelet/node-status.ts';

const flag = (argv: string[], name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

describe('lab control plane: command lines', () => {
  it('dual stack: both service and pod ranges, a node mask per family, the API server on the primary bridge address', () => {
    const [etcd, api, cm, sched] = controlPlaneCommands(controlPlaneSpec(labSpecFixture('dual', 2), { k8s: '/cache/bin', dns: '/cache/dns' }));
    assert.deepEqual([etcd!.name, api!.name, cm!.name, sched!.name], ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
    assert.equal(api!.argv[0], '/cache/bin/kube-apiserver');
    assert.equal(flag(api!.argv, 'bind-address'), '198.18.0.1');
    assert.equal(flag(api!.argv, 'service-cluster-ip-range'), '198.18.240.0/20,fd00:20::/108');
    assert.equal(flag(api!.argv, 'authorization-mode'), 'Node,RBAC');
    assert.equal(flag(api!.argv, 'enable-admission-plugins'), 'NodeRestriction');
    assert.equal(flag(api!.argv, 'kubelet-preferred-address-types'), 'InternalIP', 'kubelets are dialled at their InternalIP');
    assert.match(flag(api!.argv, 'kubelet-client-certificate')!, /apiserver-kubelet-client\.crt$/);
    assert.match(flag(api!.argv, 'kubelet-certificate-authority')!, /ca\.crt$/);
    assert.match(flag(api!.argv, 'etcd-servers')!, /^http:\/\/127\.0\.0\.1:/, 'etcd only on loopback');
    assert.equal(flag(cm!.argv, 'allocate-node-cidrs'), 'true');
    assert.equal(flag(cm!.argv, 'cluster-cidr'), '198.19.0.0/16,fd00:19::/48');
    assert.equal(flag(cm!.argv, 'node-cidr-mask-size-ipv4'), '24');
    assert.equal(flag(cm!.argv, 'node-cidr-mask-size-ipv6'), '64');
    assert.equal(flag(cm!.argv, 'secure-port'), '0');
    assert.equal(flag(sched!.argv, 'secure-port'), '0');
  });

  it('single stack: one range, the plain mask flag; IPv6-only binds the IPv6 bridge address', () => {
    const [, api, cm] = controlPlaneCommands(controlPlaneSpec(labSpecFixture('ipv6', 1), { k8s: '/b', dns: '/d' }));
    assert.equal(flag(api!.argv, 'bind-address'), 'fd00:18::1');
    assert.equal(flag(api!.argv, 'service-cluster-ip-range'), 'fd00:20::/108');
    assert.equal(flag(cm!.argv, 'node-cidr-mask-size'), '64');
    assert.equal(flag(cm!.argv, 'node-cidr-mask-size-ipv6'), undefined);
    assert.equal(apiServerHttpsUrl({ apiAddress: 'fd00:18::1', apiPort: 6443 }), 'https://[fd00:18::1]:6443');
  });
});

describe('lab control plane: cluster DNS', () => {
  it('CoreDNS starts last, on the API server address, for the cluster domain and reverse zones only (no forwarding)', () => {
    const cp = controlPlaneSpec(labSpecFixture('dual', 2), { k8s: '/k', dns: '/cache/dns' });
    const cmds = controlPlaneCommands(cp);
    const dns = cmds.at(-1)!;
    assert.equal(dns.name, 'coredns');
    assert.deepEqual(dns.argv.slice(0, 2), ['/cache/dns/coredns', '-conf']);
    const corefile = renderCorefile(cp);
    assert.match(corefile, /^\.:53 \{$/m);
    assert.match(corefile, /^ {4}bind 198\.18\.0\.1$/m);
    assert.match(corefile, /kubernetes cluster\.local in-addr\.arpa ip6\.arpa \{/);
    assert.match(corefile, /kubeconfig \S+admin\.kubeconfig/);
    assert.doesNotMatch(corefile, /forward/, 'nothing outside the lab is asked');
    assert.match(renderCorefile(controlPlaneSpec(labSpecFixture('ipv6', 1), { k8s: '/k', dns: '/d' })), /bind fd00:18::1$/m);
  });
});

describe('lab control plane: certificates', () => {
  it('one CA, a serving certificate for every API address and the kubernetes names, a client certificate per identity', () => {
    const plan = pkiPlan({ dir: '/s/pki', apiAddresses: ['198.18.0.1'], firstServiceIPs: ['198.18.240.1'], nodes: ['node-1', 'node-2'] });
    assert.deepEqual(plan.serverIPs, ['198.18.0.1', '198.18.240.1', '127.0.0.1']);
    assert.ok(plan.serverDNS.includes('kubernetes.default.svc'));
    assert.deepEqual(plan.clients.map((c) => c.cn), ['kubernetes-admin', 'system:kube-controller-manager', 'system:kube-scheduler', 'kube-apiserver-kubelet-client', 'system:node:node-1', 'system:node:node-2']);
    const cmds = pkiCommands(plan);
    assert.ok(cmds[0]!.includes('CA:TRUE') || cmds[0]!.some((a) => a.includes('CA:TRUE')), 'the CA comes first');
    const server = cmds[1]!.find((a) => a.startsWith('subjectAltName='))!;
    assert.equal(server, 'subjectAltName=IP:198.18.0.1,IP:198.18.240.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost');
    const node1 = cmds.find((c) => c.includes(subject('system:node:node-1', ['system:nodes'])));
    assert.ok(node1?.includes('extendedKeyUsage=clientAuth'), 'kubelet certificates are client certificates');
    assert.ok(!cmds.some((c) => c.some((a) => a.includes('kubelet-serving'))), 'no serving certificate without node addresses');
  });

  it('a kubelet serving certificate per node for its InternalIPs, signed by the lab CA', () => {
    const plan = pkiPlan({ dir: '/s/pki', apiAddresses: ['198.18.0.1'], firstServiceIPs: [], nodes: ['node-1'], nodeIPs: { 'node-1': ['198.18.0.11', 'fd00:18::b'] } });
    const serving = pkiCommands(plan).find((c) => c.includes('/s/pki/kubelet-serving-node-1.crt'))!;
    assert.ok(serving.includes('subjectAltName=IP:198.18.0.11,IP:fd00:18::b,DNS:node-1'));
    assert.ok(serving.includes('extendedKeyUsage=serverAuth'));
    assert.deepEqual(serving.slice(serving.indexOf('-CA'), serving.indexOf('-CA') + 2), ['-CA', '/s/pki/ca.crt']);
  });

  it('subjects carry the groups as O and the user as CN, escaped for openssl', () => {
    assert.equal(subject(ADMIN.cn, ADMIN.groups), '/O=system:masters/CN=kubernetes-admin');
    assert.equal(subject(nodeIdentity('n1').cn, nodeIdentity('n1').groups), '/O=system:nodes/CN=system:node:n1');
    assert.equal(subject('a/b=c'), '/CN=a\\/b\\=c');
  });
});

describe('lab kubelet: node, lease and container commands', () => {
  it('posts Ready only once the network is ready, with capacity for the scheduler', () => {
    const s = nodeStatus({ node: 'node-1', addresses: { ipv4: '198.18.0.11', ipv6: 'fd00:18::b' }, networkReady: false, cniConfPath: '/x.conflist' }) as Record<string, any>;
    assert.deepEqual(s.addresses, [{ type: 'InternalIP', address: '198.18.0.11' }, { type: 'InternalIP', address: 'fd00:18::b' }, { type: 'Hostname', address: 'node-1' }]);
    assert.equal(s.conditions[0].status, 'False');
    assert.match(s.conditions[0].message, /no CNI config at \/x\.conflist/);
    assert.equal(s.allocatable.pods, '110');
    assert.equal((nodeStatus({ node: 'n', addresses: {}, networkReady: true, cniConfPath: '/x' }) as any).conditions[0].status, 'True');
  });

  it('renews a Lease owned by its Node, with a MicroTime renewTime', () => {
    const now = new Date('2026-12-06T10:00:00.123Z');
    assert.equal(microTime(now), '2026-12-06T10:00:00.123000Z');
    const lease = leaseObject('node-1', 'uid-1', now) as Record<string, any>;
    assert.deepEqual(lease.metadata, { name: 'node-1', namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-1', uid: 'uid-1' }] });
    assert.deepEqual(lease.spec, { holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2026-12-06T10:00:00.123000Z' });
  });

  it('runs a container in the node namespace with its volumes bind-mounted and exactly its environment', () => {
    const argv = nodeExecArgv('krlab-node-1', [{ source: '/s/cfg', target: '/etc/krouter', readOnly: true }, { source: "/s/it's", target: '/run/krouter' }], ['/r/dist/krouter', 'run'], { NODE_NAME: 'node-1' });
    assert.deepEqual(argv.slice(0, 6), ['ip', 'netns', 'exec', 'krlab-node-1', 'sh', '-c']);
    const script = argv[6]!;
    assert.match(script, /^mount --bind \/s\/cfg \/etc\/krouter && mount -o remount,bind,ro \/etc\/krouter && mount --bind '\/s\/it'\\''s' \/run\/krouter && exec env -i PATH=\S+ NODE_NAME=node-1 \/r\/dist\/krouter run$/);
    assert.equal(shQuote('a b'), "'a b'");
    assert.equal(nodeExecArgv('ns', [], ['true'])[6], 'exec true', 'no env: inherited');
  });
});
