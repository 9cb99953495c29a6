import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { cidrContains, type Family } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies, FakeInformers, makeNode } from '@krouter/sdk/testing';
import { Exec } from '../../core/services/exec.ts';
import { NetlinkService } from '../../core/services/netlink/index.ts';
import { NftablesService } from '../../core/services/nftables.ts';
import { CniAgent, cleanupCni } from '../../plugins/cni/agent.ts';
import { configSchema } from '../../plugins/cni/config.ts';
import { addAddress, createNetns, inNetns, linkNetns, requireRoot } from '../helpers/netns.ts';
import { startProcess } from '../helpers/processes.ts';

const CNI_BIN = '/usr/lib/cni';
const POD_CIDRS = { ipv4: '198.18.16.0/24', ipv6: 'fd00:16::/64' };
const OTHER_NODE_CIDRS = { ipv4: '198.18.17.0/24', ipv6: 'fd00:17::/64' };
const UPLINK = { ipv4: { node: '198.18.0.1', ext: '198.18.0.2', len: 24 }, ipv6: { node: 'fd00:ff::1', ext: 'fd00:ff::2', len: 64 } };
const GATEWAYS = { ipv4: '198.18.16.1', ipv6: 'fd00:16::1' };
const UPLINK_MTU = 1400;

type Json = Record<string, any>;

/** Runs one CNI plugin binary inside the node namespace, as a container runtime would. */
function runCniPlugin(node: string, command: 'ADD' | 'DEL', type: string, conf: Json, podNs: string, containerId: string): Json | undefined {
  const out = execFileSync(
    'ip',
    [
      'netns', 'exec', node, 'env',
      `CNI_COMMAND=${command}`, `CNI_CONTAINERID=${containerId}`, `CNI_NETNS=/var/run/netns/${podNs}`,
      'CNI_IFNAME=eth0', `CNI_PATH=${CNI_BIN}`, join(CNI_BIN, type),
    ],
    { input: JSON.stringify(conf), encoding: 'utf8' },
  );
  return out.trim() ? JSON.parse(out) : undefined;
}

/** Runs the conflist's plugins in order (ADD) with prevResult chaining, or in reverse (DEL). */
function runConflist(node: string, command: 'ADD' | 'DEL', list: Json, podNs: string, containerId: string, prev?: Json): Json | undefined {
  const plugins = command === 'ADD' ? list.plugins : [...list.plugins].reverse();
  let result = prev;
  for (const plugin of plugins) {
    const conf: Json = { ...plugin, cniVersion: list.cniVersion, name: list.name };
    if (result) conf.prevResult = result;
    const out = runCniPlugin(node, command, plugin.type, conf, podNs, containerId);
    if (command === 'ADD') result = out;
  }
  return result;
}

/** A TCP server in a namespace that answers each connection with the peer address it sees. */
async function startWhoAmI(ns: string, port: number) {
  const script = `require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, '') + '\\n')).listen(${port}, '::', () => console.log('ready'))`;
  const child = startProcess('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
  let seen = '';
  child.stdout!.setEncoding('utf8');
  while (!seen.includes('ready')) {
    const [chunk] = (await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => [null])])) as [string | null];
    if (chunk === null) throw new Error(`whoami server in ${ns} exited`);
    seen += chunk;
  }
  return child;
}

/** Connects from a namespace with bash's /dev/tcp and returns what the server said. */
function tcpAsk(ns: string, host: string, port: number): string {
  return inNetns(ns, 'timeout', ['10', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}; cat <&3`]).trim();
}

function globalAddresses(ns: string, dev: string): Array<{ family: Family; local: string; prefixlen: number }> {
  const links = JSON.parse(inNetns(ns, 'ip', ['-j', 'addr', 'show', 'dev', dev])) as Json[];
  return links
    .flatMap((l) => l.addr_info as Json[])
    .filter((a) => a.scope === 'global')
    .map((a) => ({ family: a.family === 'inet' ? 'ipv4' : 'ipv6', local: a.local, prefixlen: a.prefixlen }));
}

describe('cni plugin with the real CNI plugins (integration)', function () {
  before(() => requireRoot());

  for (const families of [['ipv4'], ['ipv6'], ['ipv4', 'ipv6']] as Family[][]) {
    it(`gives a pod one address per family and a working gateway and egress (${families.join('+')})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'krt-cni-int-'));
      const node = createNetns('cni');
      const ext = createNetns('cniext');
      const pod = createNetns('cnipod');
      const netlink = new NetlinkService({ logger: createTestContext(null).logger, netns: node });
      try {
        // The node's uplink to an outside namespace that has no route to the pod CIDRs,
        // so only masqueraded traffic can get an answer.
        linkNetns(node, 'uplink0', ext, 'ext0');
        execFileSync('ip', ['-n', node, 'link', 'set', 'uplink0', 'mtu', String(UPLINK_MTU)]);
        for (const f of families) {
          addAddress(node, 'uplink0', `${UPLINK[f].node}/${UPLINK[f].len}`);
          addAddress(ext, 'ext0', `${UPLINK[f].ext}/${UPLINK[f].len}`);
        }

        const confPath = join(dir, 'net.d', '10-kuberouter.conflist');
        const config = configSchema.parse({ confPath, ipamDataDir: join(dir, 'ipam') });
        const { ctx, logger } = createTestContext(config, { name: 'cni', nodeName: 'node-a' });
        const informers = new FakeInformers();
        const pick = (c: Record<Family, string>) => families.map((f) => c[f]);
        informers.nodes.add(makeNode('node-a', { internalIPs: families.map((f) => UPLINK[f].node), podCIDRs: pick(POD_CIDRS) }));
        informers.nodes.add(makeNode('node-b', { internalIPs: families.map((f) => UPLINK[f].ext), podCIDRs: pick(OTHER_NODE_CIDRS) }));
        const deps = {
          families: new FakeAddressFamilies({ enabled: families, nodeName: 'node-a', nodes: informers.nodes }),
          netlink,
          nftables: new NftablesService({ exec: new Exec(), logger, netns: node }),
          informers,
        };
        const agent = new CniAgent(ctx, deps);
        await agent.sync(['test']);
        await agent.sync(['again']); // idempotent on real kernel state
        assert.deepEqual(logger.find('', 'error'), []);

        const list = JSON.parse(readFileSync(confPath, 'utf8')) as Json;
        assert.equal(list.plugins[0].mtu, UPLINK_MTU, 'auto MTU from the uplink holding the primary IP');
        const bridgeAddrs = globalAddresses(node, 'kube-bridge').map((a) => `${a.local}/${a.prefixlen}`).sort();
        assert.deepEqual(bridgeAddrs, families.map((f) => `${GATEWAYS[f]}/${POD_CIDRS[f].split('/')[1]}`).sort());
        const table = JSON.parse(inNetns(node, 'nft', ['-j', 'list', 'table', 'inet', 'krouter-cni'])) as Json;
        assert.ok(table.nftables.some((o: Json) => o.chain?.name === 'postrouting'));

        // CNI ADD: bridge (with host-local) then portmap, chained by prevResult.
        const containerId = `krt-cni-${families.join('-')}`;
        const result = runConflist(node, 'ADD', list, pod, containerId)!;
        assert.equal(result.cniVersion, '1.0.0');
        const podAddrs = globalAddresses(pod, 'eth0');
        assert.equal(podAddrs.length, families.length, `one address per family: ${JSON.stringify(podAddrs)}`);
        for (const f of families) {
          const mine = podAddrs.filter((a) => a.family === f);
          assert.equal(mine.length, 1, `exactly one ${f} address`);
          assert.ok(cidrContains(POD_CIDRS[f], mine[0]!.local), `${mine[0]!.local} in ${POD_CIDRS[f]}`);
        }
        assert.equal(JSON.parse(inNetns(pod, 'ip', ['-j', 'link', 'show', 'eth0']))[0].mtu, UPLINK_MTU);

        // TCP to the bridge gateway of each family (server in the node namespace),
        // and to the outside namespace, which sees the node's uplink address (masquerade).
        const nodeServer = await startWhoAmI(node, 18080);
        const extServer = await startWhoAmI(ext, 18081);
        for (const f of families) {
          const podIP = podAddrs.find((a) => a.family === f)!.local;
          assert.equal(tcpAsk(pod, GATEWAYS[f], 18080), podIP, `${f}: gateway sees the pod address`);
          assert.equal(tcpAsk(pod, UPLINK[f].ext, 18081), UPLINK[f].node, `${f}: egress is masqueraded to the node address`);
        }
        nodeServer.kill();
        extServer.kill();

        // CNI DEL removes the interface and releases the lease.
        runConflist(node, 'DEL', list, pod, containerId, result);
        assert.throws(() => inNetns(pod, 'ip', ['link', 'show', 'eth0']));
        const leases = readdirSync(join(dir, 'ipam', 'kubernetes')).filter((n) => !n.startsWith('last_reserved_ip') && n !== 'lock');
        assert.deepEqual(leases, []);

        // Cleanup removes everything the plugin owns.
        await cleanupCni(config, deps, logger);
        assert.equal(existsSync(confPath), false);
        assert.throws(() => inNetns(node, 'ip', ['link', 'show', 'kube-bridge']));
        assert.throws(() => inNetns(node, 'nft', ['list', 'table', 'inet', 'krouter-cni']));
      } finally {
        await netlink.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('cni plugin taking over a node kube-router set up (integration)', function () {
  before(() => requireRoot());

  it('keeps the running pod and its lease: a pod attached after the takeover gets another address and reaches it (ipv4+ipv6)', async () => {
    const families: Family[] = ['ipv4', 'ipv6'];
    const dir = mkdtempSync(join(tmpdir(), 'krt-cni-kr-'));
    const node = createNetns('cnikr');
    const pod1 = createNetns('cnikrpod');
    const pod2 = createNetns('cnikrpod');
    const netlink = new NetlinkService({ logger: createTestContext(null).logger, netns: node });
    try {
      linkNetns(node, 'uplink0', createNetns('cnikrext'), 'ext0');
      for (const f of families) addAddress(node, 'uplink0', `${UPLINK[f].node}/${UPLINK[f].len}`);
      // kube-router's published conflist as kube-router leaves it on a dual-stack node
      // (ranges without gateways, its MTU), with the leases kept under this test's directory.
      const confPath = join(dir, 'net.d', '10-kuberouter.conflist');
      const published = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-router', 'written-by-kube-router.conflist'), 'utf8')) as Json;
      published.plugins[0].ipam.dataDir = join(dir, 'ipam');
      mkdirSync(join(dir, 'net.d'));
      writeFileSync(confPath, JSON.stringify(published));

      // A pod kube-router's config attached: the bridge plugin made kube-bridge with the gateways.
      const first = runConflist(node, 'ADD', published, pod1, 'krt-kr-pod1')!;
      const addr1 = globalAddresses(pod1, 'eth0');
      assert.equal(addr1.length, 2, JSON.stringify(first));

      const config = configSchema.parse({ confPath });
      const { ctx, logger } = createTestContext(config, { name: 'cni', nodeName: 'node-a' });
      const informers = new FakeInformers();
      informers.nodes.add(makeNode('node-a', { internalIPs: families.map((f) => UPLINK[f].node), podCIDRs: families.map((f) => POD_CIDRS[f]) }));
      const deps = {
        families: new FakeAddressFamilies({ enabled: families, nodeName: 'node-a', nodes: informers.nodes }),
        netlink,
        nftables: new NftablesService({ exec: new Exec(), logger, netns: node }),
        informers,
      };
      await new CniAgent(ctx, deps).sync(['takeover']);
      assert.deepEqual(logger.find('', 'error'), []);
      assert.equal(logger.find('CNI config taken over', 'info').length, 1);
      const list = JSON.parse(readFileSync(confPath, 'utf8')) as Json;
      assert.equal(list.name, 'mynet');
      assert.equal(list.plugins[0].ipam.dataDir, join(dir, 'ipam'), 'the operator\'s ipam keys stay');

      // A pod attached with the taken-over list: the same network, so host-local knows pod1's lease.
      runConflist(node, 'ADD', list, pod2, 'krt-kr-pod2');
      const addr2 = globalAddresses(pod2, 'eth0');
      for (const f of families) {
        const a1 = addr1.find((a) => a.family === f)!.local;
        const a2 = addr2.find((a) => a.family === f)!.local;
        assert.ok(cidrContains(POD_CIDRS[f], a2), `${a2} in ${POD_CIDRS[f]}`);
        assert.notEqual(a2, a1, `${f}: the new pod does not get the running pod's address`);
      }
      const server = await startWhoAmI(pod1, 18090);
      for (const f of families) {
        const a1 = addr1.find((a) => a.family === f)!.local;
        assert.equal(tcpAsk(pod2, a1, 18090), addr2.find((a) => a.family === f)!.local, `${f}: pod2 reaches pod1 over the adopted bridge`);
      }
      server.kill();
    } finally {
      await netlink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
