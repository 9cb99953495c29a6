/**
 * The service proxy against the real kernel: the plugin's agent (informers
 * and address families are test doubles; nftables and conntrack are real)
 * programs `inet krouter-proxy` in a node namespace, and real TCP/UDP
 * traffic goes from a client namespace through ClusterIPs and NodePorts to
 * two endpoint namespaces behind a bridge, in ipv4, ipv6 and dual modes.
 */
import { controlRequest } from '../lab/kubelet/control.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exec as ExecService, ExecOptions, Family } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies, FakeInformers, makeNode, type MemoryMetrics } from '@krouter/sdk/testing';
import { Exec } from '../../core/services/exec.ts';
import { NftablesService } from '../../core/services/nftables.ts';
import { ServiceProxyAgent } from '../../plugins/service-proxy/agent.ts';
import { configSchema } from '../../plugins/service-proxy/config.ts';
import { addAddress, createNetns, deleteNetns, inNetns, linkNetns, requireRoot } from '../helpers/netns.ts';
import { startProcess, stopProcess } from '../helpers/processes.ts';
import { makeService, makeSlice, type EndpointSpec } from '../helpers/services.ts';

const POD_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lab', 'pod-server.mjs');

/** Addresses per family: node (client side), client, bridge gateway, endpoints, ClusterIPs. */
const NET = {
  ipv4: { node: '198.18.101.1', client: '198.18.101.2', len: 24, gw: '198.18.100.1', ep1: '198.18.100.11', ep2: '198.18.100.12', podLen: 24, pods: '198.18.100.0/24', web: '198.18.128.10', empty: '198.18.128.11', sticky: '198.18.128.12', local: '198.18.128.13', remote: '198.18.128.14' },
  ipv6: { node: 'fd00:101::1', client: 'fd00:101::2', len: 64, gw: 'fd00:100::1', ep1: 'fd00:100::11', ep2: 'fd00:100::12', podLen: 64, pods: 'fd00:100::/64', web: 'fd00:128::10', empty: 'fd00:128::11', sticky: 'fd00:128::12', local: 'fd00:128::13', remote: 'fd00:128::14' },
} as const;
const NODE_PORT = 30080;
/** Far from the kernel's defaults, so an entry shows which applied. */
const TIMEOUTS = { tcp: 3333, tcpFin: 33, udp: 777 };
/** externalTrafficPolicy: Local NodePorts: one with an endpoint on this node, one with a remote endpoint only. */
const LOCAL_PORT = 30081;
const REMOTE_ONLY_PORT = 30082;

/** Exec that runs every command inside a namespace, as the agent would when started there. */
class NetnsExec implements ExecService {
  private readonly exec = new Exec();
  constructor(private readonly ns: string) {}
  run(command: string, args: readonly string[], options?: ExecOptions) {
    return this.exec.run('ip', ['netns', 'exec', this.ns, command, ...args], options);
  }
}


async function waitForPing(socket: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await controlRequest(socket, { ping: true }, 1000)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pod server ${socket} did not start`);
}

interface Lab {
  node: string;
  client: string;
  eps: string[];
  sockets: Record<'client' | 'node' | 'ep1', string>;
  servers: ReturnType<typeof startProcess>[];
}

async function buildLab(): Promise<Lab> {
  const node = createNetns('spnode');
  const client = createNetns('spcli');
  const eps = [createNetns('spep1'), createNetns('spep2')];
  const sh = (ns: string, args: string[]) => inNetns(ns, args[0]!, args.slice(1));
  sh(node, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  sh(node, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  sh(node, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  sh(node, ['ip', 'link', 'set', 'br0', 'up']);
  linkNetns(node, 'vcl', client, 'eth0');
  // The default route below leaves through the link the client is on; ICMP redirects would use up
  // the per-host ICMP allowance the reject's "port unreachable" needs.
  sh(node, ['sysctl', '-qw', 'net.ipv4.conf.all.send_redirects=0']);
  sh(node, ['sysctl', '-qw', 'net.ipv4.conf.vcl.send_redirects=0']);
  for (const f of ['ipv4', 'ipv6'] as const) {
    const n = NET[f];
    addAddress(node, 'br0', `${n.gw}/${n.podLen}`);
    addAddress(node, 'vcl', `${n.node}/${n.len}`);
    addAddress(client, 'eth0', `${n.client}/${n.len}`);
    sh(client, ['ip', f === 'ipv6' ? '-6' : '-4', 'route', 'add', 'default', 'via', n.node]);
    // Like a real node, a default route: an un-DNATed VIP is forwarded, so only the proxy's reject stops it.
    sh(node, ['ip', f === 'ipv6' ? '-6' : '-4', 'route', 'add', 'default', 'via', n.client]);
  }
  eps.forEach((ep, i) => {
    linkNetns(node, `vep${i + 1}`, ep, 'eth0');
    sh(node, ['ip', 'link', 'set', `vep${i + 1}`, 'master', 'br0']);
    // As the CNI config's hairpinMode: with br_netfilter a pod's packet DNATed back to itself is
    // bridged out of the port it came in on.
    sh(node, ['ip', 'link', 'set', `vep${i + 1}`, 'type', 'bridge_slave', 'hairpin', 'on']);
    for (const f of ['ipv4', 'ipv6'] as const) {
      const n = NET[f];
      addAddress(ep, 'eth0', `${i === 0 ? n.ep1 : n.ep2}/${n.podLen}`);
      sh(ep, ['ip', f === 'ipv6' ? '-6' : '-4', 'route', 'add', 'default', 'via', n.gw]);
    }
  });
  const dir = tmpdir();
  const sockets = {
    client: path.join(dir, `krt-sp-${process.pid}-client.sock`),
    node: path.join(dir, `krt-sp-${process.pid}-node.sock`),
    ep1: path.join(dir, `krt-sp-${process.pid}-client.sock.ep0`),
  };
  const servers = [
    ...eps.map((ep, i) =>
      startProcess('ip', ['netns', 'exec', ep, process.execPath, POD_SERVER, '--name', `ep${i + 1}`, '--tcp', '8080', '--udp', '5353', '--echo-source', '--control', `${sockets.client}.ep${i}`]),
    ),
    startProcess('ip', ['netns', 'exec', client, process.execPath, POD_SERVER, '--name', 'client', '--control', sockets.client]),
    startProcess('ip', ['netns', 'exec', node, process.execPath, POD_SERVER, '--name', 'node', '--control', sockets.node]),
  ];
  await Promise.all([sockets.client, sockets.node, `${sockets.client}.ep0`, `${sockets.client}.ep1`].map(waitForPing));
  return { node, client, eps, sockets, servers };
}

async function destroyLab(lab: Lab | undefined): Promise<void> {
  if (!lab) return;
  await Promise.all(lab.servers.map((s) => stopProcess(s)));
  for (const ns of [lab.node, lab.client, ...lab.eps]) deleteNetns(ns);
}

const UDP_PROBE = `
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b'probe')
try:
    s.recv(100)
    print('reply')
except ConnectionRefusedError:
    print('refused')
except socket.timeout:
    print('timeout')
`;

/** One UDP datagram from a namespace: 'reply', 'refused' (ICMP unreachable) or 'timeout'. */
function udpProbe(ns: string, host: string, port: number): string {
  return inNetns(ns, 'python3', ['-c', UDP_PROBE, host, String(port)]).trim();
}

type Probe = { ok: boolean; reply?: string; error?: string };

async function probe(lab: Lab, from: 'client' | 'node' | 'ep1', host: string, port: number, proto: 'tcp' | 'udp', count: number): Promise<Probe[]> {
  const probes = Array.from({ length: count }, () => ({ host, port, proto, timeoutMs: 3000 }));
  return (await controlRequest(lab.sockets[from], { probes }, 15_000)).results;
}

/** Endpoint names that answered, with how often. */
function answered(results: Probe[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const k = r.ok ? r.reply!.split(' ')[0]! : `error:${r.error}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

for (const families of [['ipv4'], ['ipv6'], ['ipv4', 'ipv6']] as Family[][]) {
  describe(`service proxy on the real kernel (${families.join('+')})`, function () {
    let lab: Lab | undefined;
    let agent: ServiceProxyAgent;
    let agentMetrics: MemoryMetrics;
    let informers: FakeInformers;

    const slices = (which: Array<'ep1' | 'ep2'>) =>
      families.map((f) =>
        makeSlice(
          'ns',
          'web',
          `web-${f}`,
          f === 'ipv4' ? 'IPv4' : 'IPv6',
          which.map((e): EndpointSpec => ({ ip: NET[f][e], node: e === 'ep1' ? 'n1' : 'n2' })),
          [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }],
        ),
      );

    /** An agent in the node namespace; dual-stack also runs with conntrack timeouts (kube-router's --service-*-timeout). */
    const newAgent = (): [ServiceProxyAgent, MemoryMetrics] => {
      const { ctx, metrics } = createTestContext(configSchema.parse(families.length === 2 ? { conntrackTimeouts: TIMEOUTS } : {}), { name: 'service-proxy', nodeName: 'n1' });
      const created = new ServiceProxyAgent(ctx, {
        families: new FakeAddressFamilies({ enabled: families, nodeName: 'n1', nodes: informers.nodes }),
        nftables: new NftablesService({ exec: new Exec(), logger: ctx.logger, netns: lab!.node }),
        informers,
        exec: new NetnsExec(lab!.node),
      });
      return [created, metrics];
    };

    /** The clients the kernel's affinity set of the sticky service's endpoint `e` holds. */
    const affinityClients = (f: Family, e: 'ep1' | 'ep2'): string[] => {
      const sets = JSON.parse(inNetns(lab!.node, 'nft', ['-j', '-t', 'list', 'sets', 'inet'])).nftables as Array<{ set?: { name: string; table: string } }>;
      const name = sets
        .map((x) => x.set)
        .find((x) => x?.table === 'krouter-proxy' && x.name.startsWith(`aff-${f}-ns/sticky/`) && x.name.includes(`/${NET[f][e].replaceAll(':', '_')}/`))?.name;
      assert.ok(name, `${f}: an affinity set for ${e}`);
      const set = JSON.parse(inNetns(lab!.node, 'nft', ['-j', 'list', 'set', 'inet', 'krouter-proxy', name])).nftables.find((x: { set?: unknown }) => x.set).set;
      return (set.elem ?? []).map((el: { elem: { val: string } }) => el.elem.val);
    };

    before(async function () {
      requireRoot();
      lab = await buildLab();
      informers = new FakeInformers();
      informers.nodes.add(makeNode('n1', { internalIPs: families.map((f) => NET[f].node), podCIDRs: families.map((f) => NET[f].pods) }));
      // Dual-stack also runs with conntrack timeouts (kube-router's --service-*-timeout).
      [agent, agentMetrics] = newAgent();
      informers.services.add(
        makeService('ns', 'web', {
          type: 'NodePort',
          clusterIPs: families.map((f) => NET[f].web),
          ports: [{ name: 'http', port: 80, nodePort: NODE_PORT }, { name: 'dns', port: 53, protocol: 'UDP' }],
        }),
      );
      for (const [name, nodePort, eps] of [['local', LOCAL_PORT, ['ep1', 'ep2']], ['remote', REMOTE_ONLY_PORT, ['ep2']]] as const) {
        informers.services.add(
          makeService('ns', name, {
            type: 'NodePort',
            externalTrafficPolicy: 'Local',
            clusterIPs: families.map((f) => NET[f][name === 'local' ? 'local' : 'remote']),
            ports: [{ name: 'http', port: 80, nodePort }],
          }),
        );
        for (const f of families) {
          const list = eps.map((e): EndpointSpec => ({ ip: NET[f][e], node: e === 'ep1' ? 'n1' : 'n2' }));
          informers.endpointSlices.add(makeSlice('ns', name, `${name}-${f}`, f === 'ipv4' ? 'IPv4' : 'IPv6', list));
        }
      }
      informers.services.add(
        makeService('ns', 'sticky', { clusterIPs: families.map((f) => NET[f].sticky), sessionAffinity: { timeoutSeconds: 60 } }),
      );
      for (const f of families) {
        informers.endpointSlices.add(
          makeSlice('ns', 'sticky', `sticky-${f}`, f === 'ipv4' ? 'IPv4' : 'IPv6', [{ ip: NET[f].ep1 }, { ip: NET[f].ep2, node: 'n2' }]),
        );
      }
      informers.services.add(
        makeService('ns', 'empty', { clusterIPs: families.map((f) => NET[f].empty), ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
      );
      for (const s of slices(['ep1', 'ep2'])) informers.endpointSlices.add(s);
      assert.equal(await agent.sync(['start']), 'full');
    });

    after(async () => {
      await agent?.close();
      await destroyLab(lab);
    });

    it('loads the full table with real nft', () => {
      const text = inNetns(lab!.node, 'nft', ['list', 'table', 'inet', 'krouter-proxy']);
      for (const f of families) assert.match(text, new RegExp(`map service-ips-${f}`));
      assert.match(text, /chain nat-output \{\n\s+type nat hook output priority -100; policy accept;/);
    });

    for (const f of families) {
      it(`${f}: a ClusterIP spreads TCP and UDP over both endpoints`, async () => {
        const tcp = answered(await probe(lab!, 'client', NET[f].web, 80, 'tcp', 24));
        assert.deepEqual(Object.keys(tcp).sort(), ['ep1', 'ep2'], JSON.stringify(tcp));
        const udp = answered(await probe(lab!, 'client', NET[f].web, 53, 'udp', 24));
        assert.deepEqual(Object.keys(udp).sort(), ['ep1', 'ep2'], JSON.stringify(udp));
      });

      it(`${f}: the NodePort answers from outside (masqueraded) and from the node itself`, async () => {
        const outside = await probe(lab!, 'client', NET[f].node, NODE_PORT, 'tcp', 24);
        assert.deepEqual(Object.keys(answered(outside)).sort(), ['ep1', 'ep2'], JSON.stringify(answered(outside)));
        // Cluster policy: the endpoint sees the node (bridge) address, so replies return through the node.
        assert.ok(outside.every((r) => r.reply!.trim().endsWith(NET[f].gw)), JSON.stringify(outside.slice(0, 3)));
        const self = answered(await probe(lab!, 'node', NET[f].node, NODE_PORT, 'tcp', 12));
        assert.ok(Object.keys(self).every((k) => k === 'ep1' || k === 'ep2'), JSON.stringify(self));
      });

      it(`${f}: externalTrafficPolicy: Local keeps the client address, uses only this node's endpoint, drops without one`, async () => {
        const local = await probe(lab!, 'client', NET[f].node, LOCAL_PORT, 'tcp', 12);
        assert.deepEqual(answered(local), { ep1: 12 });
        assert.ok(local.every((r) => r.reply!.trim() === `ep1 ${NET[f].client}`), JSON.stringify(local.slice(0, 2)));
        const [remote] = await probe(lab!, 'client', NET[f].node, REMOTE_ONLY_PORT, 'tcp', 1);
        assert.equal(remote!.ok, false);
        assert.equal(remote!.error, 'timeout', 'dropped, not forwarded to the other node');
      });

      it(`${f}: hairpin: an endpoint reaches itself through its ClusterIP, masqueraded so the reply returns`, async () => {
        const results = await probe(lab!, 'ep1', NET[f].web, 80, 'tcp', 24);
        const self = results.filter((r) => r.ok && r.reply!.startsWith('ep1 '));
        assert.ok(self.length > 0 && results.every((r) => r.ok), JSON.stringify(answered(results)));
        assert.ok(self.every((r) => r.reply!.trim() === `ep1 ${NET[f].gw}`), JSON.stringify(self.slice(0, 2)));
      });

      it(`${f}: ClientIP affinity keeps one client on one endpoint`, async () => {
        const sticky = answered(await probe(lab!, 'client', NET[f].sticky, 80, 'tcp', 20));
        assert.equal(Object.keys(sticky).length, 1, JSON.stringify(sticky));
        assert.ok(sticky.ep1 === 20 || sticky.ep2 === 20, JSON.stringify(sticky));
      });

      it(`${f}: a service without endpoints refuses at once (TCP reset, ICMP for UDP)`, async () => {
        const t0 = Date.now();
        const [tcp] = await probe(lab!, 'client', NET[f].empty, 80, 'tcp', 1);
        assert.equal(tcp!.ok, false);
        assert.equal(tcp!.error, 'ECONNREFUSED');
        assert.ok(Date.now() - t0 < 2500, 'refused, not timed out');
        // Node's dgram does not surface ICMP errors; a connected Python socket does.
        assert.equal(udpProbe(lab!.client, NET[f].empty, 53), 'refused', 'ICMP port unreachable');
      });
    }

    if (families.length === 2) {
      it('conntrack timeouts: a ct timeout object per family and protocol; a new UDP flow to a service gets its timeout', async () => {
        const text = inNetns(lab!.node, 'nft', ['list', 'table', 'inet', 'krouter-proxy']);
        for (const name of ['timeout-tcp-ipv4', 'timeout-udp-ipv4', 'timeout-tcp-ipv6', 'timeout-udp-ipv6']) assert.match(text, new RegExp(`ct timeout ${name} \\{`));
        for (const f of families) {
          const [r] = await probe(lab!, 'client', NET[f].web, 53, 'udp', 1);
          assert.equal(r!.ok, true);
          const entries = inNetns(lab!.node, 'conntrack', ['-L', '-p', 'udp', '-f', f, '--orig-dst', NET[f].web]);
          // `udp 17 SECONDS src=...`: the kernel's own UDP timeouts are 30 and 120 s.
          const left = [...entries.matchAll(/^udp\s+17\s+(\d+)\s/gm)].map((m) => Number(m[1]));
          assert.ok(left.length > 0 && left.every((s) => s > 700 && s <= TIMEOUTS.udp), `${f}: ${entries}`);
        }
      });
    }

    it('a partial sync removing an endpoint moves new connections, and deletes its UDP conntrack entries', async () => {
      const f = families[0]!;
      // A UDP flow to ep2 whose entry must not outlive ep2.
      await probe(lab!, 'client', NET[f].web, 53, 'udp', 8);
      for (const s of slices(['ep1'])) informers.endpointSlices.update(s);
      agent.markDirty('ns/web');
      assert.equal(await agent.sync(['endpointslice']), 'partial');
      for (const fam of families) {
        const tcp = answered(await probe(lab!, 'client', NET[fam].web, 80, 'tcp', 16));
        assert.deepEqual(tcp, { ep1: 16 });
      }
      const entries = inNetns(lab!.node, 'conntrack', ['-L', '-p', 'udp', '-f', f, '--dst-nat', NET[f].ep2]);
      assert.doesNotMatch(entries, /dport=/, entries);
      const text = inNetns(lab!.node, 'nft', ['list', 'table', 'inet', 'krouter-proxy']);
      const webChain = text.slice(text.indexOf(`chain svc-${f}-ns/web/tcp/http {`)).split('}')[0]!;
      assert.ok(webChain.includes(`${NET[f].ep1}`) && !webChain.includes(`${NET[f].ep2}`), `no DNAT to the removed endpoint: ${webChain}`);
      // And back: both again.
      for (const s of slices(['ep1', 'ep2'])) informers.endpointSlices.update(s);
      agent.markDirty('ns/web');
      assert.equal(await agent.sync(['endpointslice']), 'partial');
      assert.deepEqual(Object.keys(answered(await probe(lab!, 'client', NET[f].web, 80, 'tcp', 24))).sort(), ['ep1', 'ep2']);
    });

    /** The endpoint of the sticky service each family's client lands on, every connection on the same one. */
    const placeStickyClient = async (): Promise<Map<Family, 'ep1' | 'ep2'>> => {
      const placed = new Map<Family, 'ep1' | 'ep2'>();
      for (const f of families) {
        const first = Object.keys(answered(await probe(lab!, 'client', NET[f].sticky, 80, 'tcp', 8)));
        assert.equal(first.length, 1, `${f}: ${first}`);
        placed.set(f, first[0] as 'ep1' | 'ep2');
      }
      return placed;
    };

    it('ClientIP affinity: an endpoint leaving and joining again (partial syncs) keeps placed clients where they were', async () => {
      const placed = await placeStickyClient();
      const stickySlices = (which: (f: Family) => Array<'ep1' | 'ep2'>) =>
        families.map((f) =>
          makeSlice('ns', 'sticky', `sticky-${f}`, f === 'ipv4' ? 'IPv4' : 'IPv6', which(f).map((e): EndpointSpec => ({ ip: NET[f][e], ...(e === 'ep2' ? { node: 'n2' } : {}) }))),
        );
      // The endpoint nobody was placed on leaves, then joins again: the second sync adds its affinity set
      // while the rewritten service chain names the placed endpoint's existing one.
      for (const which of [(f: Family) => [placed.get(f)!], () => ['ep1', 'ep2'] as Array<'ep1' | 'ep2'>]) {
        for (const s of stickySlices(which)) informers.endpointSlices.update(s);
        agent.markDirty('ns/sticky');
        assert.equal(await agent.sync(['endpointslice']), 'partial');
      }
      for (const f of families) {
        assert.deepEqual(answered(await probe(lab!, 'client', NET[f].sticky, 80, 'tcp', 8)), { [placed.get(f)!]: 8 }, `${f}: the placed client stays`);
      }
    });

    it('ClientIP affinity survives full syncs: the periodic resync and a restarted agent keep placed clients', async () => {
      const placed = await placeStickyClient();
      for (const f of families) assert.deepEqual(affinityClients(f, placed.get(f)!), [NET[f].client]);
      const [restarted] = newAgent();
      try {
        for (const [who, sync] of [
          ['the periodic resync', () => agent.sync(['resync'])],
          ['a restarted agent', () => restarted.sync(['start'])],
        ] as const) {
          assert.equal(await sync(), 'full', who);
          // The resync checks for drift: the affinity sets' clients are the packet path's, not drift.
          assert.equal(agentMetrics.value('drift_repairs_total', { plugin: 'service-proxy', object: 'element' }), undefined, 'no drift told');
          for (const f of families) {
            // The kernel's own record, not only traffic (which a lost record sends back by chance half the time).
            assert.deepEqual(affinityClients(f, placed.get(f)!), [NET[f].client], `${who}, ${f}: the client is still placed`);
            assert.deepEqual(answered(await probe(lab!, 'client', NET[f].sticky, 80, 'tcp', 8)), { [placed.get(f)!]: 8 }, `${who}, ${f}: the placed client stays`);
          }
        }
        if (families.length === 2) {
          const text = inNetns(lab!.node, 'nft', ['list', 'table', 'inet', 'krouter-proxy']);
          for (const name of ['timeout-tcp-ipv4', 'timeout-udp-ipv4', 'timeout-tcp-ipv6', 'timeout-udp-ipv6']) assert.match(text, new RegExp(`ct timeout ${name} \\{`), 'timeouts declared again');
        }
      } finally {
        await restarted.close();
      }
    });

    it('no endpoints left: the ClusterIP refuses; cleanup leaves no table', async () => {
      const f = families.at(-1)!;
      for (const s of slices([])) informers.endpointSlices.update(s);
      agent.markDirty('ns/web');
      await agent.sync(['endpointslice']);
      const [r] = await probe(lab!, 'client', NET[f].web, 80, 'tcp', 1);
      assert.equal(r!.error, 'ECONNREFUSED');
      const [np] = await probe(lab!, 'client', NET[f].node, NODE_PORT, 'tcp', 1);
      assert.equal(np!.error, 'ECONNREFUSED', 'the NodePort is refused too');
      execFileSync('ip', ['netns', 'exec', lab!.node, 'nft', 'delete', 'table', 'inet', 'krouter-proxy']);
      assert.doesNotMatch(inNetns(lab!.node, 'nft', ['list', 'tables']), /krouter-proxy/);
    });
  });
}
