import assert from 'node:assert/strict';
import { FakeExec, MemoryLogger } from '@krouter/sdk/testing';
import {
  BODY_FIRST_LINE,
  checkOwnedTable,
  checkScriptOwnership,
  describeNftFailure,
  NftablesService,
  NftError,
  parseNftErrors,
  renderKeepingTableScript,
  renderTableScript,
  topLevelStatements,
} from '../../core/services/nftables.ts';

describe('nftables render and checks', () => {
  it('renders an atomic replace: create-if-missing, delete, new table', () => {
    const script = renderTableScript({ family: 'inet', name: 'krouter-proxy' }, '  set s4 { type ipv4_addr; }');
    assert.equal(script, 'table inet krouter-proxy {}\ndelete table inet krouter-proxy\ntable inet krouter-proxy {\n  set s4 { type ipv4_addr; }\n}\n');
    assert.equal(script.split('\n')[BODY_FIRST_LINE - 1], '  set s4 { type ipv4_addr; }');
  });

  it('renders a replacement that keeps kernel-filled sets: everything else emptied and deleted first, objects declared again', () => {
    const body = ['  ct timeout t-udp { protocol udp; l3proto ip; policy = { unreplied: 9, replied: 9 }; }', '  set aff { type ipv4_addr; flags dynamic,timeout; }', '  chain c {', '    update @aff { ip saddr timeout 60s }', '  }'].join('\n');
    const existing = { chains: ['c', 'old'], sets: ['aff', 'gone-aff', 'plain'], maps: ['m'] };
    const r = renderKeepingTableScript({ family: 'inet', name: 'krouter-x' }, body, existing, new Set(['aff', 'gone-aff-not-in-kernel']))!;
    const t = 'inet krouter-x';
    assert.deepEqual(r.script.split('\n').slice(0, r.bodyFirstLine - 1), [
      `table ${t} {`,
      '  ct timeout t-udp { protocol udp; l3proto ip; policy = { unreplied: 9, replied: 9 }; }',
      '}',
      `flush chain ${t} c`,
      `flush chain ${t} old`,
      `flush map ${t} m`,
      `delete map ${t} m`,
      `delete chain ${t} c`,
      `delete chain ${t} old`,
      `delete set ${t} gone-aff`,
      `delete set ${t} plain`,
      `delete ct timeout ${t} t-udp`,
      `table ${t} {`,
    ]);
    assert.equal(r.script.split('\n').slice(r.bodyFirstLine - 1).join('\n'), `${body}\n}\n`);
    // An object that shares its line with another statement cannot be declared alone: no keeping.
    assert.equal(renderKeepingTableScript({ family: 'inet', name: 'krouter-x' }, '  counter a { }; counter b { }', existing, new Set(['aff'])), undefined);
    assert.throws(() => renderKeepingTableScript({ family: 'inet', name: 'other' }, body, existing, new Set()), /not owned/);
    assert.throws(() => renderKeepingTableScript({ family: 'inet', name: 'krouter-x' }, '}\ntable inet other {', existing, new Set()), /unbalanced/);
  });

  it('refuses tables krouter does not own', () => {
    assert.throws(() => checkOwnedTable({ family: 'inet', name: 'other' }), /inet other: not owned by krouter/);
    assert.throws(() => checkOwnedTable({ family: 'inet', name: 'krouter-x y' }), /not owned/);
    assert.throws(() => checkOwnedTable({ family: 'arp' as 'inet', name: 'krouter-x' }), /unknown family/);
    assert.throws(() => renderTableScript({ family: 'ip', name: 'filter' }, ''), NftError);
  });

  it('refuses a body that would leave its table', () => {
    assert.throws(() => renderTableScript({ family: 'inet', name: 'krouter-x' }, '}\ndelete table inet other\ntable inet krouter-y {'), /unbalanced "}" on line 1/);
    assert.throws(() => renderTableScript({ family: 'inet', name: 'krouter-x' }, 'chain c {'), /unbalanced "\{"/);
    // braces in comments and strings do not count
    renderTableScript({ family: 'inet', name: 'krouter-x' }, 'chain c { # } closing brace in a comment\n  counter comment "}{" \n}');
  });

  it('splits scripts into top-level statements', () => {
    const s = topLevelStatements('table inet krouter-a {\n chain c { }\n}\nadd element inet krouter-a s { 1.2.3.4 }; flush set inet krouter-a s\n# comment\n');
    assert.deepEqual(s, [
      { words: ['table', 'inet', 'krouter-a'], line: 1 },
      { words: ['add', 'element', 'inet', 'krouter-a', 's'], line: 4 },
      { words: ['flush', 'set', 'inet', 'krouter-a', 's'], line: 4 },
    ]);
    assert.deepEqual(topLevelStatements('table inet krouter-a { } delete table inet other').map((x) => x.words), [
      ['table', 'inet', 'krouter-a'],
      ['delete', 'table', 'inet', 'other'],
    ]);
  });

  it('allows scripts on owned tables only', () => {
    checkScriptOwnership('add element inet krouter-proxy svc4 { 198.18.0.1 }\ndelete element inet krouter-proxy svc6 { fd00::1 }\n');
    checkScriptOwnership('table inet krouter-fw {\n  chain c { type filter hook input priority 0; }\n}\nflush chain inet krouter-fw c\n');
    checkScriptOwnership('add rule krouter-legacy c counter'); // family defaults to ip
    const refused: Array<[string, RegExp]> = [
      ['add element inet other s { 1.2.3.4 }', /line 1 .*table inet other is not owned/],
      ['add element inet krouter-a s { 1.2.3.4 }\ndelete table ip filter', /line 2 .*table ip filter is not owned/],
      ['flush ruleset', /does not name a table's object/],
      ['include "/etc/nftables.conf"', /only add\/create/],
      ['define x = 1', /only add\/create/],
      ['delete table inet handle 5', /table inet handle is not owned/],
      ['add table inet $name', /not owned/],
      ['table inet krouter-a { } ; table inet other { }', /table inet other is not owned/],
      ['table arp krouter-a { }', /family arp/],
      ['add element inet krouter-a s { "}" }\n}', /unbalanced/],
    ];
    for (const [script, re] of refused) assert.throws(() => checkScriptOwnership(script), re, script);
  });

  it('names the failing line with its text', () => {
    const script = renderTableScript({ family: 'inet', name: 'krouter-x' }, 'set s { type ipv4_addr; }\nchain c {\n  bogus stuff here\n}');
    const stderr = '/dev/stdin:6:21-21: Error: syntax error, unexpected newline\n    bogus stuff here\n                    ^\n';
    assert.deepEqual(parseNftErrors(stderr), [{ line: 6, message: 'Error: syntax error, unexpected newline' }]);
    const e = describeNftFailure('nftables table inet krouter-x: body', script, stderr, BODY_FIRST_LINE);
    assert.equal(e.line, 3);
    assert.equal(e.message, 'nftables table inet krouter-x: body: line 3: Error: syntax error, unexpected newline: "bogus stuff here"');
    const plain = describeNftFailure('nft script', 'x', 'Error: something else\n');
    assert.equal(plain.message, 'nft script: Error: something else');
  });

  it('runs nft in the namespace and reports its error', async () => {
    const exec = new FakeExec().on('ip netns exec ns1 nft -f -', { code: 1, stderr: '/dev/stdin:4:1-5: Error: syntax error\nbogus\n^^^^^\n' });
    const nft = new NftablesService({ exec, logger: new MemoryLogger(), netns: 'ns1' });
    await assert.rejects(nft.applyTable({ family: 'inet', name: 'krouter-x' }, 'bogus'), /line 1: Error: syntax error: "bogus"/);
    assert.match(String(exec.calls[0]!.options.input), /^table inet krouter-x \{\}\ndelete table inet krouter-x\n/);
    await assert.rejects(nft.applyScript('flush ruleset'), NftError);
    assert.equal(exec.calls.length, 1, 'a refused script never reaches nft');
  });
});
