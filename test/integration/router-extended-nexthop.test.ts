/**
 * Dual-stack pods on an IPv6-only underlay: nodes have IPv6 addresses only,
 * one IPv6 BGP session carries both families, and IPv4 pod CIDRs travel with
 * an IPv6 next hop (RFC 8950) — into the IPv4 RIB, never the IPv6 one — and
 * are installed as IPv4 routes via inet6. Real agents and gobgpd.
 */
import assert from 'node:assert/strict';
import { firstHost } from '@krouter/sdk';
import { ensureExecutable } from '../../build/pipeline.ts';
import { gobgpRib, kernelRoutes, podCidr, startCluster, underlay, waitFor, type Cluster } from '../helpers/bgp-peers.ts';
import { inNetns, requireRoot } from '../helpers/netns.ts';
import { startProcess, stopProcess } from '../helpers/processes.ts';

describe('router on an IPv6-only underlay with dual-stack pods (one session, extended next hop)', function () {
  let cluster: Cluster;

  before(async function () {
    this.timeout(600_000);
    requireRoot();
    const binary = await ensureExecutable();
    cluster = await startCluster(
      { tag: 'xn', mode: 'dual', nodes: 2, router: 'none', underlay: ['ipv6'], routerConfig: { sessionMode: 'single' } },
      { command: binary, args: [] },
    );
  });
  after(async () => cluster?.stop());

  it('installs the other node’s IPv4 pod CIDR via its IPv6 address and its IPv6 pod CIDR as usual', async () => {
    const [n1, n2] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]];
    const want = {
      ipv4: new Map([[podCidr(2).ipv4, `inet6 ${underlay(2).ipv6}`]]),
      ipv6: new Map([[podCidr(2).ipv6, underlay(2).ipv6]]),
    };
    await waitFor('node-1 kernel routes', async () => {
      const [v4, v6] = [await kernelRoutes(n1.ns, 'ipv4'), await kernelRoutes(n1.ns, 'ipv6')];
      return JSON.stringify([...v4]) === JSON.stringify([...want.ipv4]) && JSON.stringify([...v6]) === JSON.stringify([...want.ipv6]) ? true : undefined;
    }, 120_000, 250);
    assert.deepEqual(await kernelRoutes(n1.ns, 'ipv4'), want.ipv4);
    assert.deepEqual(await kernelRoutes(n1.ns, 'ipv6'), want.ipv6);
    assert.deepEqual(await kernelRoutes(n2.ns, 'ipv4'), new Map([[podCidr(1).ipv4, `inet6 ${underlay(1).ipv6}`]]));
  });

  it('keeps each prefix in the RIB of its own family: the IPv4 pod CIDR in the IPv4 RIB, with the IPv6 next hop', async () => {
    const n1 = cluster.nodes[0]!;
    const v4 = await gobgpRib(n1.socket, 'ipv4');
    const v6 = await gobgpRib(n1.socket, 'ipv6');
    assert.deepEqual(v4.get(podCidr(2).ipv4), [underlay(2).ipv6]);
    assert.ok(![...v6.keys()].some((p) => !p.includes(':')), `no IPv4 prefix in the IPv6 RIB: ${[...v6.keys()].join(', ')}`);
    assert.deepEqual(v6.get(podCidr(2).ipv6), [underlay(2).ipv6]);
  });

  it('carries IPv4 traffic between the nodes’ pod addresses over the IPv6-only underlay', async () => {
    const [n1, n2] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]];
    // Stand-ins for each node's pod gateway (kube-bridge holds it with the cni plugin).
    const gw1 = firstHost(podCidr(1).ipv4);
    const gw2 = firstHost(podCidr(2).ipv4);
    inNetns(n1.ns, 'ip', ['addr', 'add', `${gw1}/32`, 'dev', 'lo']);
    inNetns(n2.ns, 'ip', ['addr', 'add', `${gw2}/32`, 'dev', 'lo']);
    const server = startProcess('ip', [
      'netns', 'exec', n2.ns, process.execPath, '-e',
      `require('net').createServer((s) => s.end('from ' + s.remoteAddress)).listen(18090, '${gw2}', () => console.log('ready'))`,
    ]);
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        server.on('exit', (code) => reject(new Error(`server exited ${code}`)));
      });
      const reply = inNetns(n1.ns, process.execPath, [
        '-e',
        `const s = require('net').connect({ host: '${gw2}', port: 18090, localAddress: '${gw1}' }); let b = ''; s.on('data', (d) => (b += d)); s.on('end', () => console.log(b)); s.on('error', (e) => { console.error(e.message); process.exit(1); });`,
      ]).trim();
      assert.equal(reply, `from ${gw1}`);
    } finally {
      await stopProcess(server);
    }
  });
});
