import assert from 'node:assert/strict';
import { cniEnv, parseConflist, pluginStdin, resultIPs, type Conflist } from '../lab/kubelet/cni.ts';
import { podPorts, portMappings, runningStatus } from '../lab/kubelet/pod.ts';

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
        { ports: [{ containerPort: 8080 }, { containerPort: 8081, protocol: 'UDP', hostPort: 30081 }] },
        { ports: [{ containerPort: 8080, protocol: 'TCP', hostPort: 30080, hostIP: '198.18.0.11' }, { containerPort: 99999 }, { containerPort: 9, protocol: 'SCTP' }] },
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

  it('reports pod and host IPs in family order with the Ready condition', () => {
    const s = runningStatus({ ipv6: 'fd00:19::5', ipv4: '198.19.0.5' }, { ipv4: '198.18.0.11', ipv6: 'fd00:18::b' }, true, 't0') as Record<string, any>;
    assert.deepEqual([s.phase, s.podIP, s.podIPs, s.hostIP, s.hostIPs], ['Running', '198.19.0.5', [{ ip: '198.19.0.5' }, { ip: 'fd00:19::5' }], '198.18.0.11', [{ ip: '198.18.0.11' }, { ip: 'fd00:18::b' }]]);
    assert.equal(s.conditions.find((c: any) => c.type === 'Ready').status, 'True');
    const v6 = runningStatus({ ipv6: 'fd00:19::5' }, { ipv6: 'fd00:18::b' }, false, 't0') as Record<string, any>;
    assert.deepEqual([v6.podIP, v6.podIPs.length, v6.conditions.find((c: any) => c.type === 'Ready').status], ['fd00:19::5', 1, 'False']);
  });
});
