import assert from 'node:assert/strict';
import { cniEnv, parseConflist, pluginStdin, resultIPs, type Conflist } from '../lab/kubelet/cni.ts';
import { containerEnv, expandVars, imageKind, isSidecar, krouterArgv, longRunningContainers, podPorts, podServerArgs, portMappings, runningStatus } from '../lab/kubelet/pod.ts';

const list: Conflist = {
  cniVersion: '1.0.0',
  name: 'kubernetes',
  plugins: [
    { type: 'bridge', bridge: 'kube-bridge', ipam: { type: 'host-local', ranges: [[{ subnet: '198.19.0.0/24' }]] } },
    { type: 'portmap', capabilities: { portMappings: true }, snat: true },
  ],
};

describe('lab kubelet: CNI invocation', () => {
  it('gives each plugin its config with the list name, version and previous result, like libcni', () => {
    const rc = { portMappings: [{ hostPort: 30080, containerPort: 8080, protocol: 'tcp' as const }] };
    const first = pluginStdin(list, 0, { runtimeConfig: rc });
    assert.deepEqual(first, { type: 'bridge', bridge: 'kube-bridge', ipam: list.plugins[0]!.ipam, name: 'kubernetes', cniVersion: '1.0.0' });
    const second = pluginStdin(list, 1, { runtimeConfig: rc }, { ips: [] });
    assert.deepEqual(second, { type: 'portmap', snat: true, name: 'kubernetes', cniVersion: '1.0.0', prevResult: { ips: [] }, runtimeConfig: rc });
    // No runtimeConfig for capabilities a plugin does not declare, or with nothing to give.
    assert.equal('runtimeConfig' in pluginStdin(list, 1, { runtimeConfig: {} }), false);
  });

  it('sets the CNI environment with Kubernetes pod arguments', () => {
    const env = cniEnv({ command: 'ADD', containerId: 'c1', netnsPath: '/var/run/netns/krlab-p-1', ifName: 'eth0', args: { K8S_POD_NAMESPACE: 'demo', K8S_POD_NAME: 'a' }, runtimeConfig: {} });
    assert.deepEqual(env, {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: '/var/run/netns/krlab-p-1',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/usr/lib/cni',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=a',
    });
  });

  it('reads one pod IP per family from a result, whatever the order', () => {
    const result = { ips: [{ address: 'fd00:19:0:0::5/64' }, { address: '198.19.0.5/24' }, { address: '198.19.0.6/24' }] };
    assert.deepEqual(resultIPs(result), { ipv6: 'fd00:19::5', ipv4: '198.19.0.5' });
    assert.deepEqual(resultIPs(undefined), {});
  });

  it('refuses a malformed conflist naming the file', () => {
    assert.throws(() => parseConflist('{', '/x.conflist'), /\/x\.conflist: not JSON/);
    assert.throws(() => parseConflist('{"name":"k","cniVersion":"1.0.0","plugins":[]}', '/x'), /\/x: needs a non-empty "plugins" list/);
    assert.throws(() => parseConflist('{"name":"k","cniVersion":"1.0.0","plugins":[{"type":"../evil"}]}', '/x'), /plugins\[0\]\.type must be a plugin name/);
    assert.equal(parseConflist(JSON.stringify(list), '/x').plugins.length, 2);
  });
});

describe('lab kubelet: pods', () => {
  const pod = {
    metadata: { name: 'a', namespace: 'demo' },
    spec: {
      containers: [
        { name: 'one', args: ['--echo-source'], ports: [{ containerPort: 8080 }, { containerPort: 8081, protocol: 'UDP', hostPort: 30081 }] },
        { name: 'two', ports: [{ containerPort: 8080, protocol: 'TCP', hostPort: 30080, hostIP: '198.18.0.11' }, { containerPort: 99999 }, { containerPort: 9, protocol: 'SCTP' }] },
      ],
    },
  };

  it('collects declared TCP and UDP ports', () => {
    assert.deepEqual(podPorts(pod), { tcp: [8080], udp: [8081] });
    assert.deepEqual(podPorts({ metadata: { name: 'x' } }), { tcp: [], udp: [] });
  });

  it('maps hostPorts to CNI port mappings', () => {
    assert.deepEqual(portMappings(pod), [
      { hostPort: 30081, containerPort: 8081, protocol: 'udp' },
      { hostPort: 30080, containerPort: 8080, protocol: 'tcp', hostIP: '198.18.0.11' },
    ]);
  });

  it('gives the pod test server its ports and the manifest args', () => {
    assert.deepEqual(podServerArgs(pod), ['--tcp', '8080', '--udp', '8081', '--echo-source']);
  });

  it('reports pod and host IPs in family order, Ready only when every container is, and restart counts', () => {
    const c = (ready: boolean, restartCount = 0) => ({ name: 'server', image: 'x', restartCount, startedAt: 't1', ready });
    const s = runningStatus({ ips: { ipv6: 'fd00:19::5', ipv4: '198.19.0.5' }, hostIPs: { ipv4: '198.18.0.11', ipv6: 'fd00:18::b' }, startTime: 't0', containers: [c(true, 2)] }) as Record<string, any>;
    assert.deepEqual([s.phase, s.podIP, s.podIPs, s.hostIP, s.hostIPs], ['Running', '198.19.0.5', [{ ip: '198.19.0.5' }, { ip: 'fd00:19::5' }], '198.18.0.11', [{ ip: '198.18.0.11' }, { ip: 'fd00:18::b' }]]);
    assert.equal(s.conditions.find((x: any) => x.type === 'Ready').status, 'True');
    assert.deepEqual([s.containerStatuses[0].restartCount, s.containerStatuses[0].state.running.startedAt], [2, 't1']);
    const v6 = runningStatus({ ips: { ipv6: 'fd00:19::5' }, hostIPs: { ipv6: 'fd00:18::b' }, startTime: 't0', containers: [c(true), c(false)] }) as Record<string, any>;
    assert.deepEqual([v6.podIP, v6.podIPs.length, v6.conditions.find((x: any) => x.type === 'Ready').status], ['fd00:19::5', 1, 'False']);
  });

  it('expands $(NAME) in env values and args as a kubelet does: known names, $$ as $, unknown ones left as written', () => {
    assert.equal(expandVars('--addr=$(HOST_IP),$(POD_IPS) $$(HOME) $(NOPE)', { HOST_IP: '198.18.0.11', POD_IPS: '198.19.0.5,fd00:19::5' }), '--addr=198.18.0.11,198.19.0.5,fd00:19::5 $(HOME) $(NOPE)');
    const env = containerEnv(
      { name: 'c', env: [{ name: 'A', value: 'x' }, { name: 'B', value: '$(A)-y' }, { name: 'IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } }] },
      { metadata: { name: 'p' }, status: { podIPs: [{ ip: '198.19.0.5' }, { ip: 'fd00:19::5' }] } },
      undefined,
    );
    assert.deepEqual([env.B, env.IPS], ['x-y', '198.19.0.5,fd00:19::5']);
  });

  it('sidecars (restartable init containers) run beside the containers, are reported as init container statuses and count for Ready', () => {
    const spec = {
      metadata: { name: 'p' },
      spec: { initContainers: [{ name: 'setup' }, { name: 'proxy', restartPolicy: 'Always' }], containers: [{ name: 'main' }] },
    };
    assert.deepEqual(longRunningContainers(spec).map((c) => c.name), ['proxy', 'main']);
    assert.equal(isSidecar({ name: 'setup' }), false);
    const c = (name: string, ready: boolean) => ({ name, image: 'x', restartCount: 0, startedAt: 't1', ready });
    const s = runningStatus({ ips: { ipv4: '198.19.0.5' }, hostIPs: { ipv4: '198.18.0.11' }, startTime: 't0', containers: [c('main', true)], sidecars: [c('proxy', false)] }) as Record<string, any>;
    assert.deepEqual(s.initContainerStatuses.map((x: any) => [x.name, x.ready, !!x.state.running]), [['proxy', false, true]]);
    assert.equal(s.conditions.find((x: any) => x.type === 'Ready').status, 'False');
    const none = runningStatus({ ips: { ipv4: '198.19.0.5' }, hostIPs: { ipv4: '198.18.0.11' }, startTime: 't0', containers: [c('main', true)] }) as Record<string, any>;
    assert.equal(none.initContainerStatuses, undefined);
  });

  it('runs the krouter image as the built executable, with its args, and the env a kubelet gives', () => {
    assert.equal(imageKind('ghcr.io/example/krouter:0.1.0'), 'krouter');
    assert.equal(imageKind('krouter-lab/krouter:dev'), 'krouter');
    assert.equal(imageKind('krouter-lab/pod-server'), 'pod-server');
    assert.equal(imageKind('example/krouter-ui:1'), 'pod-server');
    assert.deepEqual(krouterArgv({ name: 'k', args: ['run', '--config=/etc/krouter/config.yaml'] }, '/r/dist/krouter'), ['/r/dist/krouter', 'run', '--config=/etc/krouter/config.yaml']);
    assert.deepEqual(krouterArgv({ name: 'k' }, '/r/dist/krouter'), ['/r/dist/krouter', 'run']);
    assert.deepEqual(krouterArgv({ name: 'i', command: ['/bin/sh', '-c', 'true'] }, '/r/dist/krouter'), ['/bin/sh', '-c', 'true']);
    const agentPod = { metadata: { name: 'krouter-x', namespace: 'kube-system' }, spec: { nodeName: 'node-1' } };
    const env = containerEnv(
      { name: 'k', env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }, { name: 'KUBERNETES_SERVICE_HOST', value: '198.18.0.1' }] },
      agentPod,
      { host: '198.18.240.1', port: 443 },
    );
    assert.deepEqual(env, { KUBERNETES_SERVICE_HOST: '198.18.0.1', KUBERNETES_SERVICE_PORT: '443', KUBERNETES_SERVICE_PORT_HTTPS: '443', NODE_NAME: 'node-1' });
  });
});
