import assert from 'node:assert/strict';
import { MemoryLogger } from '@krouter/sdk/testing';
import type { NftTableRef } from '@krouter/sdk';
import { Exec } from '../../core/services/exec.ts';
import { NftablesService, NftError } from '../../core/services/nftables.ts';
import { createNetns, inNetns, requireRoot } from '../helpers/netns.ts';

const TABLE: NftTableRef = { family: 'inet', name: 'krouter-test' };

function body(version: number): string {
  return [
    '  set svc4 { type ipv4_addr; elements = { 198.18.0.1, 198.18.0.2 } }',
    '  set svc6 { type ipv6_addr; elements = { fd00::1 } }',
    `  map ports4 { type ipv4_addr . inet_service : verdict; elements = { 198.18.0.1 . 80 : accept } }`,
    `  map ports6 { type ipv6_addr . inet_service : verdict; elements = { fd00::1 . 80 : accept } }`,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    '    ip daddr @svc4 counter accept',
    '    ip6 daddr @svc6 counter accept',
    `    meta mark 0x${version.toString(16)} counter drop`,
    '  }',
  ].join('\n');
}

interface NftJson {
  nftables: Array<Record<string, { name?: string; family?: string; table?: string; elem?: unknown[]; expr?: unknown[] }>>;
}

function objects(json: unknown, kind: string): Array<Record<string, unknown>> {
  return (json as NftJson).nftables.filter((e) => e[kind]).map((e) => e[kind] as Record<string, unknown>);
}

describe('NftablesService (integration)', function () {
  let ns: string;
  let nft: NftablesService;

  before(() => requireRoot());
  beforeEach(() => {
    ns = createNetns('nft');
    nft = new NftablesService({ exec: new Exec(), logger: new MemoryLogger(), netns: ns });
  });

  const ruleset = () => inNetns(ns, 'nft', ['list', 'ruleset']);

  it('applies a table with sets, maps and a chain per family, lists it as JSON, deletes it', async () => {
    assert.equal(await nft.tableExists(TABLE), false);
    assert.equal(await nft.listTable(TABLE), undefined);
    await nft.applyTable(TABLE, body(1));
    assert.equal(await nft.tableExists(TABLE), true);
    const json = await nft.listTable(TABLE);
    assert.deepEqual(objects(json, 'table').map((t) => [t.family, t.name]), [['inet', 'krouter-test']]);
    assert.deepEqual(objects(json, 'set').map((s) => s.name).sort(), ['svc4', 'svc6']);
    assert.deepEqual(objects(json, 'map').map((s) => s.name).sort(), ['ports4', 'ports6']);
    assert.deepEqual(objects(json, 'chain').map((s) => s.name), ['input']);
    assert.equal(objects(json, 'rule').length, 3);
    assert.deepEqual(objects(json, 'set').find((s) => s.name === 'svc4')?.elem, ['198.18.0.1', '198.18.0.2']);

    await nft.deleteTable(TABLE);
    assert.equal(await nft.tableExists(TABLE), false);
    await nft.deleteTable(TABLE); // deleting a missing table is fine
  });

  it('replaces a table atomically', async () => {
    await nft.applyTable(TABLE, body(1));
    await nft.applyTable(TABLE, body(2));
    const text = ruleset();
    assert.match(text, /meta mark 0x00000002 counter/);
    assert.doesNotMatch(text, /meta mark 0x00000001/);
    assert.equal(text.match(/table inet krouter-test/g)?.length, 1);
    // a shrunk body leaves nothing of the old one behind
    await nft.applyTable(TABLE, '  set only4 { type ipv4_addr; }');
    assert.deepEqual(objects(await nft.listTable(TABLE), 'set').map((s) => s.name), ['only4']);
    assert.equal(objects(await nft.listTable(TABLE), 'chain').length, 0);
  });

  it('keeps the elements of kernel-filled sets the caller names across a replacement, in one transaction', async () => {
    const affinity = (timeout: number, withChain: boolean) =>
      [
        `  ct timeout t-udp { protocol udp; l3proto ip; policy = { unreplied: ${timeout}, replied: ${timeout} }; }`,
        '  set aff4 { type ipv4_addr; flags dynamic,timeout; }',
        '  set aff6 { type ipv6_addr; flags dynamic,timeout; }',
        '  set plain { type ipv4_addr; elements = { 198.18.0.1 } }',
        '  map m { type ipv4_addr : verdict; elements = { 198.18.0.1 : goto c } }',
        withChain ? '  chain c {\n    ct timeout set "t-udp"\n    update @aff4 { ip saddr timeout 600s }\n    update @aff6 { ip6 saddr timeout 600s }\n  }' : '  chain c {\n  }',
        '  chain pre {\n    type filter hook prerouting priority 0; policy accept;\n    ip saddr @aff4 goto c\n    ip daddr vmap @m\n  }',
      ].join('\n');
    const elements = async () => {
      const sets = objects(await nft.listTable(TABLE), 'set');
      return Object.fromEntries(sets.map((s) => [s.name, ((s.elem as Array<{ elem?: { val: string } } | string>) ?? []).map((e) => (typeof e === 'string' ? e : e.elem!.val))]));
    };
    await nft.applyTable(TABLE, affinity(30, true), { keepSets: ['aff4', 'aff6'] });
    await nft.applyScript('add element inet krouter-test aff4 { 198.18.7.7 timeout 600s }\nadd element inet krouter-test aff6 { fd00::7 timeout 600s }\nadd element inet krouter-test plain { 198.18.0.9 }\n');
    // Replaced with another timeout policy, the chain rewritten: the named sets keep their clients, the plain set is the body's.
    await nft.applyTable(TABLE, affinity(40, true), { keepSets: ['aff4', 'aff6'] });
    assert.deepEqual(await elements(), { aff4: ['198.18.7.7'], aff6: ['fd00::7'], plain: ['198.18.0.1'] });
    assert.match(ruleset(), /policy = \{[^}]*replied : 40/, 'the new ct timeout policy holds');
    assert.equal(objects(await nft.listTable(TABLE), 'rule').length, 5, 'no rule doubled');
    // A set not named is emptied as before; a named set the body drops is gone.
    await nft.applyTable(TABLE, affinity(40, true).replace('  set aff6 { type ipv6_addr; flags dynamic,timeout; }\n', '').replace('    update @aff6 { ip6 saddr timeout 600s }\n', ''), { keepSets: ['aff4'] });
    assert.deepEqual(await elements(), { aff4: ['198.18.7.7'], plain: ['198.18.0.1'] });
    // A kept set declared with another type fails the keeping transaction: the body still applies, the set starts empty.
    await nft.applyTable(TABLE, affinity(40, false).replace('set aff4 { type ipv4_addr;', 'set aff4 { type ipv6_addr;').replace('ip saddr @aff4', 'ip6 saddr @aff4'), { keepSets: ['aff4'] });
    assert.deepEqual((await elements()).aff4, []);
    assert.match(ruleset(), /set aff4 \{\n\s+type ipv6_addr/);
  });

  it('keeps the old table when the new body fails, and names the line', async () => {
    await nft.applyTable(TABLE, body(1));
    const before = ruleset();
    const bad = body(3).replace('    ip6 daddr @svc6 counter accept', '    ip6 daddr @nosuchset counter accept');
    await assert.rejects(
      nft.applyTable(TABLE, bad),
      (e: unknown) => e instanceof NftError && e.line === 8 && /line 8: Error: .*"ip6 daddr @nosuchset counter accept"/.test(e.message),
    );
    const syntax = body(3).replace('policy accept;', 'policy bogus;');
    await assert.rejects(nft.applyTable(TABLE, syntax), (e: unknown) => e instanceof NftError && e.line === 6 && /policy bogus/.test(e.message));
    assert.equal(ruleset(), before);
  });

  it('refuses foreign tables and leaves an existing foreign table untouched', async () => {
    inNetns(ns, 'nft', ['-f', '-'], 'table inet other {\n  set s { type ipv4_addr; elements = { 198.18.9.9 } }\n}\n');
    const before = ruleset();
    await assert.rejects(nft.applyTable({ family: 'inet', name: 'other' }, '  set x { type ipv4_addr; }'), /inet other: not owned by krouter/);
    await assert.rejects(nft.deleteTable({ family: 'inet', name: 'other' }), /not owned/);
    await assert.rejects(nft.listTable({ family: 'inet', name: 'other' }), /not owned/);
    await assert.rejects(nft.applyScript('add element inet other s { 198.18.9.10 }'), /table inet other is not owned/);
    await assert.rejects(nft.applyScript('flush ruleset'), NftError);
    await assert.rejects(nft.applyTable(TABLE, '}\ndelete table inet other\ntable inet krouter-test {'), /unbalanced/);
    assert.equal(ruleset(), before);
  });

  it('applies scripts on owned tables as one transaction', async () => {
    await nft.applyTable(TABLE, body(1));
    await nft.applyScript('add element inet krouter-test svc4 { 198.18.0.3 }\nadd element inet krouter-test svc6 { fd00::3 }\n');
    const sets = objects(await nft.listTable(TABLE), 'set');
    assert.deepEqual(sets.find((s) => s.name === 'svc4')?.elem, ['198.18.0.1', '198.18.0.2', '198.18.0.3']);
    assert.deepEqual(sets.find((s) => s.name === 'svc6')?.elem, ['fd00::1', 'fd00::3']);
    // the second line fails, so the first is not applied either
    await assert.rejects(
      nft.applyScript('add element inet krouter-test svc4 { 198.18.0.4 }\nadd element inet krouter-test svc4 { fd00::4 }\n'),
      (e: unknown) => e instanceof NftError && e.line === 2 && /line 2: Error/.test(e.message),
    );
    assert.deepEqual(objects(await nft.listTable(TABLE), 'set').find((s) => s.name === 'svc4')?.elem, ['198.18.0.1', '198.18.0.2', '198.18.0.3']);
  });
});
