import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPlugin, type Family, type V1Node } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies, FakeInformers, FakeNetlink, FakeNftables, makeNode } from '@krouter/sdk/testing';
import cniPlugin from '../../plugins/cni/index.ts';
import { CniAgent, startCni } from '../../plugins/cni/agent.ts';
import { configSchema } from '../../plugins/cni/config.ts';
import { bridgeMacFor } from '../../plugins/cni/model.ts';
import { NFT_TABLE } from '../../plugins/cni/render.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup(families: Family[], opts: { local?: Partial<Parameters<typeof makeNode>[1]>; config?: Record<string, unknown> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'krt-cni-unit-'));
  dirs.push(dir);
  const confPath = join(dir, 'net.d', '10-kuberouter.conflist');
  const config = configSchema.parse({ confPath, ...opts.config });
  const test = createTestContext(config, { name: 'cni', nodeName: 'n1' });
  const informers = new FakeInformers();
  const families_ = new FakeAddressFamilies({ enabled: families, nodeName: 'n1', nodes: informers.nodes });
  const netlink = new FakeNetlink({
    links: [{ name: 'eth0', up: true, mtu: 1450 }],
    addresses: [
      { dev: 'eth0', family: 'ipv4', cidr: '198.18.0.1/24' },
      { dev: 'eth0', family: 'ipv6', cidr: 'fd00::1/64' },
    ],
  });
  const nftables = new FakeNftables();
  // Pod CIDRs of the enabled families only, as the cluster's allocator gives them.
  const cidrs = (v4: string, v6: string) => [...(families.includes('ipv4') ? [v4] : []), ...(families.includes('ipv6') ? [v6] : [])];
  informers.nodes.add(makeNode('n1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: cidrs('198.18.16.0/24', 'fd00:16::/64'), ...opts.local }));
  informers.nodes.add(makeNode('n2', { internalIPs: ['198.18.0.2', 'fd00::2'], podCIDRs: cidrs('198.18.17.0/24', 'fd00:17::/64') }));
  const deps = { families: families_, netlink, nftables, informers };
  const agent = new CniAgent(test.ctx, deps);
  const conf = () => JSON.parse(readFileSync(confPath, 'utf8'));
  return { ...test, confPath, config, informers, netlink, nftables, deps, agent, conf };
}

const setPodCIDRs = (node: V1Node, podCIDRs: string[] | undefined): V1Node => ({ ...node, spec: { ...node.spec, podCIDRs, podCIDR: podCIDRs?.[0] } });

describe('cni agent (with the SDK test doubles)', () => {
  for (const families of [['ipv4', 'ipv6'], ['ipv4'], ['ipv6']] as Family[][]) {
    it(`sets up the ${families.join('+')} pod network: conflist, bridge, sysctls, masquerade`, async () => {
      const t = setup(families);
      await t.agent.sync();
      const conf = t.conf();
      const expectRanges = families.map((f) =>
        f === 'ipv4' ? [{ subnet: '198.18.16.0/24', gateway: '198.18.16.1' }] : [{ subnet: 'fd00:16::/64', gateway: 'fd00:16::1' }],
      );
      assert.deepEqual(conf.plugins[0].ipam.ranges, expectRanges);
      assert.equal(conf.plugins[0].mtu, 1450, 'mtu of the interface holding the primary IP');
      const link = await t.netlink.getLink('kube-bridge');
      assert.equal(link?.kind, 'bridge');
      assert.equal(link?.up, true);
      const addrs = (await t.netlink.listAddresses('kube-bridge')).map((a) => a.cidr);
      assert.deepEqual(addrs, families.map((f) => (f === 'ipv4' ? '198.18.16.1/24' : 'fd00:16::1/64')));
      assert.equal(await t.netlink.getSysctl('net.ipv4.ip_forward'), families.includes('ipv4') ? '1' : '0');
      assert.equal(await t.netlink.getSysctl('net.ipv6.conf.all.forwarding'), families.includes('ipv6') ? '1' : '0');
      if (families.includes('ipv6')) assert.equal(await t.netlink.getSysctl('net.ipv6.conf.kube-bridge.accept_dad'), '0');
      const body = t.nftables.body(NFT_TABLE)!;
      assert.equal(body.includes('@cluster-ipv4'), families.includes('ipv4'));
      assert.equal(body.includes('@cluster-ipv6'), families.includes('ipv6'));
      const status = await t.agent.status();
      assert.equal(status.bridgeExists, true);
      assert.deepEqual(Object.keys(status.families), families);
      for (const f of families) {
        assert.ok(status.families[f]!.podCIDR, `${f} pod CIDR`);
        assert.deepEqual(status.families[f]!.bridgeAddresses, [f === 'ipv4' ? '198.18.16.1/24' : 'fd00:16::1/64'], `${f} bridge address`);
      }
    });
  }

  it('does not rewrite an unchanged config and makes no kernel changes on a second sync', async () => {
    const t = setup(['ipv4', 'ipv6']);
    await t.agent.sync();
    const before = statSync(t.confPath);
    const batches = t.netlink.batches.length;
    const nftWrites = t.nftables.writes.length;
    await t.agent.sync();
    const afterStat = statSync(t.confPath);
    assert.equal(afterStat.ino, before.ino, 'same inode: the file was not replaced');
    assert.equal(afterStat.mtimeMs, before.mtimeMs);
    assert.equal(t.netlink.batches.length, batches);
    assert.equal(t.nftables.writes.length, nftWrites);
    assert.deepEqual(readdirSync(join(t.confPath, '..')), ['10-kuberouter.conflist'], 'no temp files left');
  });

  it('keeps operator keys and plugins in the file', async () => {
    const t = setup(['ipv4']);
    await t.agent.sync();
    const edited = t.conf();
    edited.disableCheck = true;
    edited.plugins.push({ type: 'bandwidth', capabilities: { bandwidth: true } });
    edited.plugins[0].mtu = 9000; // ours: put back
    writeFileSync(t.confPath, JSON.stringify(edited));
    await t.agent.sync();
    const conf = t.conf();
    assert.equal(conf.disableCheck, true);
    assert.deepEqual(conf.plugins.map((p: { type: string }) => p.type), ['bridge', 'portmap', 'bandwidth']);
    assert.equal(conf.plugins[0].mtu, 1450);
  });

  it('takes over kube-router\'s published conflist at the configured path: completes it, keeps its name and keys, logs the changes', async () => {
    const t = setup(['ipv4', 'ipv6']);
    const published = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-router', 'kubeadm-kuberouter-all-features-hostport.cni-conf.json'), 'utf8');
    mkdirSync(join(t.confPath, '..'), { recursive: true });
    writeFileSync(t.confPath, published);
    await t.agent.sync();
    const conf = t.conf();
    assert.equal(conf.name, 'mynet');
    assert.equal(conf.cniVersion, '0.3.0');
    assert.equal(conf.plugins[0].name, 'kubernetes');
    assert.deepEqual(conf.plugins[0].ipam.ranges, [[{ subnet: '198.18.16.0/24', gateway: '198.18.16.1' }], [{ subnet: 'fd00:16::/64', gateway: 'fd00:16::1' }]]);
    assert.deepEqual(conf.plugins[1].capabilities, { snat: true, portMappings: true });
    const [line] = t.logger.find('CNI config taken over', 'info');
    assert.ok(line, 'the takeover is logged');
    assert.ok((line.fields.changes as string[]).includes('bridge: ipam range 198.18.16.0/24 added'));
    await t.agent.sync();
    assert.equal(t.logger.find('CNI config taken over', 'info').length, 1, 'nothing more to take over');
  });

  it('adopts an existing bridge and refuses a non-bridge link of that name', async () => {
    const t = setup(['ipv4']);
    t.netlink.addLink({ name: 'kube-bridge', kind: 'bridge', mtu: 1450, up: true });
    await t.agent.sync();
    assert.ok(!t.netlink.batches.flat().some((op) => op.op === 'link.bridge'), 'no link.bridge for an existing bridge');
    const u = setup(['ipv4']);
    u.netlink.addLink({ name: 'kube-bridge', kind: 'veth' });
    await assert.rejects(u.agent.sync(), /kube-bridge exists and is not a bridge \(kind veth\)/);
  });

  describe('the bridge MAC', () => {
    /** What the CNI bridge plugin does for a pod on the node side: a veth whose host end joins the bridge. */
    const addPod = async (t: ReturnType<typeof setup>, name: string) => {
      const r = await t.netlink.apply([
        { op: 'link.veth', name: `veth-${name}`, peer: `eth-${name}` },
        { op: 'link.set', name: `veth-${name}`, up: true, master: 'kube-bridge' },
      ]);
      assert.equal(r.ok, true, JSON.stringify(r.errors));
    };
    const deletePod = (t: ReturnType<typeof setup>, name: string) => t.netlink.apply([{ op: 'link.delete', name: `veth-${name}` }]);
    const bridgeMac = async (t: ReturnType<typeof setup>) => (await t.netlink.getLink('kube-bridge'))?.mac;

    for (const families of [['ipv4', 'ipv6'], ['ipv4'], ['ipv6']] as Family[][]) {
      it(`creates the bridge with the node's own MAC, which pods coming and going never change (${families.join('+')})`, async () => {
        const t = setup(families);
        await t.agent.sync();
        const created = t.netlink.batches.flat().find((op) => op.op === 'link.bridge');
        assert.deepEqual(created, { op: 'link.bridge', name: 'kube-bridge', mtu: 1450, mac: bridgeMacFor('n1') });
        assert.equal(await bridgeMac(t), bridgeMacFor('n1'));
        for (const pod of ['a', 'b', 'c']) await addPod(t, pod);
        await deletePod(t, 'a');
        await addPod(t, 'a2');
        await deletePod(t, 'c');
        await deletePod(t, 'b');
        await deletePod(t, 'a2');
        assert.equal(await bridgeMac(t), bridgeMacFor('n1'), 'still its own MAC, also with no ports left');
        const batches = t.netlink.batches.length;
        await t.agent.sync();
        assert.equal(t.netlink.batches.length, batches, 'nothing to repair');
        // Each family's gateway is announced if the MAC ever has to change.
        for (const [f, key] of [['ipv4', 'net.ipv4.conf.kube-bridge.arp_notify'], ['ipv6', 'net.ipv6.conf.kube-bridge.ndisc_notify']] as const) {
          assert.equal(await t.netlink.getSysctl(key), families.includes(f) ? '1' : '0', key);
        }
        const status = await t.agent.status();
        assert.equal(status.mac, bridgeMacFor('n1'));
      });
    }

    it('gives an adopted bridge that carries a port MAC its own, and logs it', async () => {
      const t = setup(['ipv4', 'ipv6']);
      t.netlink.addLink({ name: 'kube-bridge', kind: 'bridge', mtu: 1450, up: true });
      for (const pod of ['a', 'b']) await addPod(t, pod);
      const lent = await bridgeMac(t);
      assert.equal(lent, (await t.netlink.getLink('veth-a'))!.mac, 'Linux lends it the lowest port MAC');
      await t.agent.sync();
      assert.equal(await bridgeMac(t), bridgeMacFor('n1'));
      const lines = t.logger.find('bridge MAC set', 'info');
      assert.equal(lines.length, 1);
      assert.deepEqual([lines[0]!.fields.from, lines[0]!.fields.to], [lent, bridgeMacFor('n1')]);
      await deletePod(t, 'a');
      assert.equal(await bridgeMac(t), bridgeMacFor('n1'), 'no longer follows its ports');
    });

    it('repairs a MAC someone changed on the next sync', async () => {
      const t = setup(['ipv6']);
      await t.agent.sync();
      await t.netlink.apply([{ op: 'link.set', name: 'kube-bridge', mac: '02:00:00:00:99:99' }]);
      await t.agent.sync();
      assert.equal(await bridgeMac(t), bridgeMacFor('n1'));
      assert.equal(t.logger.find('bridge MAC set', 'info')[0]!.fields.from, '02:00:00:00:99:99');
    });

    it('uses the configured bridgeMac instead of the derived one', async () => {
      const t = setup(['ipv4'], { config: { bridgeMac: '0A:00:00:00:00:01' } });
      await t.agent.sync();
      assert.equal(await bridgeMac(t), '0a:00:00:00:00:01');
    });
  });

  for (const [what, podCIDRs, pattern] of [
    ['a wrong-family', ['198.18.16.0/24', 'fd00:99::/64'], /spec\.podCIDRs\[1\] "fd00:99::\/64": ipv6 is not an enabled family/],
    ['a malformed', ['198.18.99.0/33'], /spec\.podCIDRs\[0\] "198\.18\.99\.0\/33": prefix length/],
    ['a missing', undefined, /has no ipv4 pod CIDR/],
  ] as const) {
    it(`reports ${what} pod CIDR on the node with a log line and an event, and changes nothing`, async () => {
      const t = setup(['ipv4']);
      await t.agent.sync();
      assert.equal(t.informers.api.events.length, 0);
      const confBefore = readFileSync(t.confPath, 'utf8');
      const nftBefore = t.nftables.body(NFT_TABLE);
      const batches = t.netlink.batches.length;
      t.informers.nodes.update(setPodCIDRs(t.informers.nodes.get('n1')!, podCIDRs ? [...podCIDRs] : undefined));
      await t.agent.sync();
      assert.equal(readFileSync(t.confPath, 'utf8'), confBefore);
      assert.equal(t.nftables.body(NFT_TABLE), nftBefore);
      assert.equal(t.netlink.batches.length, batches);
      assert.deepEqual((await t.netlink.listAddresses('kube-bridge')).map((a) => a.cidr), ['198.18.16.1/24']);
      const errors = t.logger.find(pattern, 'error');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.fields.node, 'n1');
      const events = t.informers.api.events;
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'Warning');
      assert.deepEqual(events[0]!.ref, { kind: 'Node', name: 'n1', uid: 'uid-n1' });
      assert.match(events[0]!.message, pattern);
      assert.match(events[0]!.message, /node "n1"/);
      // The same problem on the next sync is not reported again.
      await t.agent.sync();
      assert.equal(t.informers.api.events.length, 1);
    });
  }

  it('keeps another node\'s last good CIDR when its update is malformed, and follows good changes', async () => {
    const t = setup(['ipv4']);
    await t.agent.sync();
    t.informers.nodes.update(setPodCIDRs(t.informers.nodes.get('n2')!, ['bogus']));
    await t.agent.sync();
    assert.match(t.nftables.body(NFT_TABLE)!, /198\.18\.17\.0\/24/);
    assert.match(t.informers.api.events[0]!.message, /node "n2" spec\.podCIDRs\[0\] "bogus"/);
    t.informers.nodes.add(makeNode('n3', { podCIDRs: ['198.18.18.0/24'] }));
    t.informers.nodes.delete('n2');
    await t.agent.sync();
    const body = t.nftables.body(NFT_TABLE)!;
    assert.match(body, /198\.18\.18\.0\/24/);
    assert.doesNotMatch(body, /198\.18\.17\.0\/24/);
  });

  it('follows a change of the local pod CIDR (new gateway, old one removed)', async () => {
    const t = setup(['ipv4', 'ipv6']);
    await t.agent.sync();
    t.informers.nodes.update(setPodCIDRs(t.informers.nodes.get('n1')!, ['198.18.20.0/24', 'fd00:20::/64']));
    await t.agent.sync();
    assert.deepEqual((await t.netlink.listAddresses('kube-bridge')).map((a) => a.cidr).sort(), ['198.18.20.1/24', 'fd00:20::1/64']);
    assert.equal(t.conf().plugins[0].ipam.ranges[1][0].subnet, 'fd00:20::/64');
  });

  it('masquerade off removes the table; cleanup removes file, bridge and table', async () => {
    const t = setup(['ipv4'], { config: { masquerade: false } });
    await t.nftables.applyTable(NFT_TABLE, 'chain old { }');
    await t.agent.sync();
    assert.equal(await t.nftables.tableExists(NFT_TABLE), false);
    const u = setup(['ipv6']);
    const instance = await startCni(u.ctx, u.deps, { resyncIntervalMs: 0 });
    assert.ok(existsSync(u.confPath));
    await instance.cleanup!();
    assert.equal(existsSync(u.confPath), false);
    assert.equal(await u.netlink.getLink('kube-bridge'), undefined);
    assert.equal(await u.nftables.tableExists(NFT_TABLE), false);
    assert.equal(u.informers.nodes.listenerCount, 0);
  });

  it('resyncs when a node pod CIDR changes, not on unrelated updates', async () => {
    const t = setup(['ipv4']);
    const instance = await startCni(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0, resyncIntervalMs: 0 });
    assert.equal(instance.syncCount(), 1);
    const n2 = t.informers.nodes.get('n2')!;
    t.informers.nodes.update({ ...n2, metadata: { ...n2.metadata, labels: { x: 'y' } } });
    t.informers.nodes.update(setPodCIDRs(t.informers.nodes.get('n2')!, ['198.18.30.0/24']));
    while (instance.syncCount() < 2) await new Promise((r) => setTimeout(r, 5));
    await instance.stop();
    assert.equal(instance.syncCount(), 2);
    assert.match(t.nftables.body(NFT_TABLE)!, /198\.18\.30\.0\/24/);
  });

  it('is a plugin the host can load', () => {
    assert.ok(isPlugin(cniPlugin));
    assert.equal(cniPlugin.name, 'cni');
    assert.deepEqual(Object.keys(cniPlugin.requires).sort(), ['families', 'informers', 'netlink', 'nftables']);
  });
});
