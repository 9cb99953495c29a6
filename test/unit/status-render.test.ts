/**
 * `krouter status` text: the pure renderer of the /status document, on the
 * shapes the built-in plugins produce (router, service-proxy, firewall, cni)
 * and on a plugin the renderer knows nothing about.
 */
import assert from 'node:assert/strict';
import { formatDuration, formatValue, labelOf, renderStatus, renderTable, type StatusDocument } from '../../core/status/render.ts';
import { cniStatus } from '../../plugins/cni/status.ts';
import type { FirewallStatus } from '../../plugins/firewall/status.ts';
import { routerStatus } from '../../plugins/router/status.ts';
import type { ServiceProxyStatus } from '../../plugins/service-proxy/status.ts';

const familyOf = (s: string) => (s.includes(':') ? 'ipv6' : 'ipv4') as 'ipv4' | 'ipv6';

function dualDocument(): StatusDocument {
  const router = routerStatus({
    asn: 64512,
    routerId: '198.18.0.11',
    families: ['ipv4', 'ipv6'],
    familyOf,
    peers: [
      { address: '198.18.0.1', asn: 64513, state: 'established', uptime: 1000, families: { ipv4: { received: 3, accepted: 3, advertised: 1 } } },
      { address: 'fd00:18::1', asn: 64513, state: 'active', families: { ipv6: { received: 0, accepted: 0, advertised: 0 } } },
    ],
    paths: [
      { prefix: '198.19.1.0/24', nextHop: '198.18.0.11' },
      { prefix: 'fd00:19:0:1::/64', nextHop: 'fd00:18::b' },
    ],
    installed: { ipv4: [{ dst: '198.19.2.0/24', via: '198.18.0.12' }], ipv6: [] },
    errors: [],
    nowSeconds: 1000 + 3723,
  });
  const proxy: ServiceProxyStatus = {
    table: 'inet krouter-proxy',
    lastSync: { mode: 'full', durationMs: 12, bytes: 2048, services: 1, at: '2026-01-01T00:00:00.000Z' },
    healthCheckNodePorts: [],
    families: {
      ipv4: {
        services: 1,
        endpoints: 2,
        ports: [{ service: 'ns/web', protocol: 'tcp', port: 80, clusterIP: '198.18.128.10', externalIPs: [], loadBalancerIPs: [], nodePort: 30080, endpoints: 2, localEndpoints: null, notes: [] }],
      },
      ipv6: {
        services: 1,
        endpoints: 0,
        ports: [{ service: 'ns/web', protocol: 'tcp', port: 80, clusterIP: 'fd00:128::10', externalIPs: [], loadBalancerIPs: [], nodePort: 30080, endpoints: 0, localEndpoints: null, notes: ['REJECT (no endpoints)'] }],
      },
    },
    problems: ['Service ns/bad spec.ports[0].port: 70000 is out of range'],
  };
  const firewall: FirewallStatus = {
    table: 'inet krouter-firewall',
    defaultDeny: false,
    policies: 1,
    families: {
      ipv4: { policies: [{ policy: 'ns/web', id: 'p1', types: ['ingress'], pods: ['ns/a 198.19.1.5', 'ns/b 198.19.1.6'] }], podsSelected: 2 },
      ipv6: { policies: [{ policy: 'ns/web', id: 'p1', types: ['ingress'], pods: ['ns/a fd00:19:0:1::5'] }], podsSelected: 1 },
    },
    problems: [],
  };
  const cni = cniStatus({
    confPath: '/etc/cni/net.d/10-kuberouter.conflist',
    bridge: 'kube-bridge',
    link: { up: true, mtu: 1500, mac: '02:00:00:00:00:01' },
    addresses: ['198.19.1.1/24', 'fd00:19:0:1::1/64'],
    families: ['ipv4', 'ipv6'],
    familyOf,
    podCIDRs: { ipv4: '198.19.1.0/24', ipv6: 'fd00:19:0:1::/64' },
    masquerade: true,
    problems: [],
  });
  return {
    node: 'node-1',
    version: '0.1.0',
    families: ['ipv4', 'ipv6'],
    plugins: {
      cni,
      router,
      'service-proxy': proxy,
      firewall,
      // A plugin the renderer has no code for.
      loadbalancer: { pools: 1, families: { ipv4: { allocations: [{ service: 'ns/lb', address: '198.18.200.1' }] }, ipv6: { allocations: [] } } },
      broken: { error: 'status failed: boom' },
    },
  };
}

/** The lines of one plugin's block (up to the next blank line). */
function block(text: string, plugin: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(plugin);
  assert.ok(start >= 0, `a block for ${plugin} in\n${text}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end < 0 ? undefined : end);
}

describe('status rendering', () => {
  it('labels keys in words, keeping acronyms and dropping unit suffixes', () => {
    assert.equal(labelOf('routerId'), 'router id');
    assert.equal(labelOf('podCIDR'), 'pod CIDR');
    assert.equal(labelOf('loadBalancerIPs'), 'load balancer IPs');
    assert.equal(labelOf('clusterIP'), 'cluster IP');
    assert.equal(labelOf('uptimeSeconds'), 'uptime');
    assert.equal(labelOf('durationMs'), 'duration');
    assert.equal(labelOf('healthCheckNodePorts'), 'health check node ports');
  });

  it('formats durations, booleans, nulls and lists', () => {
    assert.equal(formatDuration(42), '42s');
    assert.equal(formatDuration(3723), '1h02m03s');
    assert.equal(formatDuration(90061), '1d01h01m01s');
    assert.equal(formatValue('uptimeSeconds', null), '-');
    assert.equal(formatValue('uptimeSeconds', 61), '1m01s');
    assert.equal(formatValue('durationMs', 12), '12 ms');
    assert.equal(formatValue('durationMs', 23.26669799999945), '23.3 ms');
    assert.equal(formatValue('up', true), 'yes');
    assert.equal(formatValue('pods', []), '-');
    assert.equal(formatValue('pods', ['a', 'b']), 'a, b');
  });

  it('aligns a table under upper-case heads, one row per object', () => {
    assert.deepEqual(renderTable([{ peer: '198.18.0.1', state: 'established' }, { peer: 'fd00:18::1', state: 'active', asn: 1 }], ''), [
      'PEER        STATE        ASN',
      '198.18.0.1  established  -',
      'fd00:18::1  active       1',
    ]);
  });

  it('renders the router per family: sessions with uptime and counts, advertised prefixes, installed routes', () => {
    const text = renderStatus(dualDocument());
    assert.deepEqual(block(text, 'router'), [
      'router',
      '  asn        64512',
      '  router id  198.18.0.11',
      '  ipv4',
      '    routes installed  1',
      '    peers (1)',
      '      PEER        ASN    STATE        UPTIME    RECEIVED  ACCEPTED  ADVERTISED',
      '      198.18.0.1  64513  established  1h02m03s  3         3         1',
      '    advertised (1)',
      '      PREFIX         NEXT HOP',
      '      198.19.1.0/24  198.18.0.11',
      '    routes (1)',
      '      DESTINATION    VIA',
      '      198.19.2.0/24  198.18.0.12',
      '  ipv6',
      '    routes installed  0',
      '    routes            -',
      '    peers (1)',
      '      PEER        ASN    STATE   UPTIME  RECEIVED  ACCEPTED  ADVERTISED',
      '      fd00:18::1  64513  active  -       0         0         0',
      '    advertised (1)',
      '      PREFIX            NEXT HOP',
      '      fd00:19:0:1::/64  fd00:18::b',
    ]);
  });

  it('renders the header, every plugin in order, per family, and problems last', () => {
    const text = renderStatus(dualDocument());
    assert.equal(text.split('\n')[0], 'node node-1  krouter 0.1.0  families ipv4, ipv6');
    const names = text.split('\n').filter((l, i, all) => i > 0 && all[i - 1] === '' && l !== '');
    assert.deepEqual(names, ['cni', 'router', 'service-proxy', 'firewall', 'loadbalancer', 'broken']);

    const cni = block(text, 'cni');
    assert.ok(cni.includes('  bridge         kube-bridge'), cni.join('\n'));
    assert.ok(cni.includes('  bridge up      yes'), cni.join('\n'));
    assert.deepEqual(cni.slice(cni.indexOf('  ipv4')), [
      '  ipv4',
      '    pod CIDR          198.19.1.0/24',
      '    bridge addresses  198.19.1.1/24',
      '  ipv6',
      '    pod CIDR          fd00:19:0:1::/64',
      '    bridge addresses  fd00:19:0:1::1/64',
    ]);

    const proxy = block(text, 'service-proxy');
    assert.ok(proxy.includes('  last sync'), proxy.join('\n'));
    assert.ok(proxy.includes('    duration  12 ms'), proxy.join('\n'));
    assert.deepEqual(proxy.slice(proxy.indexOf('  ipv6')), [
      '  ipv6',
      '    services   1',
      '    endpoints  0',
      '    ports (1)',
      '      SERVICE  PROTOCOL  PORT  CLUSTER IP    EXTERNAL IPS  LOAD BALANCER IPS  NODE PORT  ENDPOINTS  LOCAL ENDPOINTS  NOTES',
      '      ns/web   tcp       80    fd00:128::10  -             -                  30080      0          -                REJECT (no endpoints)',
      '  problems (1)',
      '    - Service ns/bad spec.ports[0].port: 70000 is out of range',
    ]);

    const firewall = block(text, 'firewall');
    assert.ok(firewall.includes('      ns/web  p1  ingress  ns/a 198.19.1.5, ns/b 198.19.1.6'), firewall.join('\n'));
    assert.ok(!firewall.some((l) => l.includes('problems')), 'no empty problems list');

    assert.deepEqual(block(text, 'loadbalancer'), [
      'loadbalancer',
      '  pools  1',
      '  ipv4',
      '    allocations (1)',
      '      SERVICE  ADDRESS',
      '      ns/lb    198.18.200.1',
      '  ipv6',
      '    allocations  -',
    ]);
    assert.deepEqual(block(text, 'broken'), ['broken', '  error  status failed: boom']);
  });

  it('shows values keyed by family in the family blocks (a plugin that keeps per-family maps under its own keys)', () => {
    const text = renderStatus({
      node: 'n1',
      version: '1',
      families: ['ipv4', 'ipv6'],
      plugins: {
        loadbalancer: {
          leader: true,
          holder: 'n1',
          ranges: { ipv4: ['198.18.200.0/28'], ipv6: ['fd00:200::/124'] },
          allocations: { ipv4: ['ns/web 198.18.200.1'], ipv6: [] },
          free: { ipv4: 15, ipv6: 16 },
          problems: [],
        },
      },
    });
    assert.deepEqual(block(text, 'loadbalancer'), [
      'loadbalancer',
      '  leader  yes',
      '  holder  n1',
      '  ipv4',
      '    ranges       198.18.200.0/28',
      '    allocations  ns/web 198.18.200.1',
      '    free         15',
      '  ipv6',
      '    ranges       fd00:200::/124',
      '    allocations  -',
      '    free         16',
    ]);
  });

  it('says so when no plugin runs', () => {
    assert.equal(renderStatus({ node: 'n1', version: '1', families: 'auto', plugins: {} }), 'node n1  krouter 1  families auto\n\nno plugin running\n');
  });
});
