/**
 * Property-based tests of the config file and the command line: whatever
 * value sits at whatever key (YAML or JSON), and whatever argv (known
 * kube-router flags, unknown ones, values of any shape), `krouter
 * validate-config` answers 0, or 2 with lines that each name the file and
 * key or the flag; never a stack trace, never another exit code. Many cases
 * through the CLI's `main` in this process, a few through the spawned CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { main, type CliIO } from '../../core/cli.ts';
import { KUBE_ROUTER_FLAGS } from '../../core/config/flags.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A config that validates (every built-in plugin on), for values to be put into. */
const BASE: { [k: string]: Json } = {
  nodeName: 'node-1',
  families: 'dual',
  kubernetes: { master: 'https://198.18.0.1:6443' },
  log: { level: 'info' },
  metrics: { address: '127.0.0.1', port: 20241 },
  health: { address: '::1', port: 20244 },
  gobgp: { binary: 'gobgpd', socket: '/run/krouter/gobgp.sock' },
  netlink: { ipBinary: 'ip' },
  nftables: { nftBinary: 'nft' },
  plugins: {
    cni: { enabled: true, clusterCIDRs: ['198.19.0.0/16', 'fd00:19::/48'] },
    router: { enabled: true, clusterAsn: 64512, peerRouters: [{ address: '198.18.0.254', asn: 65000, password: 'c2VjcmV0' }] },
    'service-proxy': { enabled: true },
    firewall: { enabled: true },
  },
  externalPlugins: [],
};

/** Key paths that exist in BASE (and a few that a user might plausibly get wrong). */
const KNOWN_PATHS: string[][] = [
  ['nodeName'], ['families'], ['kubernetes'], ['kubernetes', 'kubeconfig'], ['kubernetes', 'master'], ['log'], ['log', 'level'],
  ['metrics'], ['metrics', 'address'], ['metrics', 'port'], ['health'], ['health', 'address'], ['health', 'port'],
  ['gobgp'], ['gobgp', 'socket'], ['gobgp', 'binary'], ['netlink', 'ipBinary'], ['nftables', 'nftBinary'],
  ['plugins'], ['plugins', 'cni'], ['plugins', 'cni', 'enabled'], ['plugins', 'cni', 'clusterCIDRs'], ['plugins', 'cni', 'mtu'],
  ['plugins', 'cni', 'bridge'], ['plugins', 'router'], ['plugins', 'router', 'clusterAsn'], ['plugins', 'router', 'peerRouters'],
  ['plugins', 'router', 'peerRouters', '0'], ['plugins', 'router', 'peerRouters', '0', 'address'], ['plugins', 'router', 'peerRouters', '0', 'asn'],
  ['plugins', 'router', 'peerRouters', '0', 'password'], ['plugins', 'router', 'gracefulRestart'], ['plugins', 'router', 'bgpPort'],
  ['plugins', 'service-proxy', 'nodePortRange'], ['plugins', 'service-proxy', 'nodePortAddresses'], ['plugins', 'firewall', 'defaultDeny'],
  ['plugins', 'firewall', 'log'], ['externalPlugins'], ['externalPlugins', '0'], ['externalPlugins', '0', 'path'], ['externalPlugins', '0', 'config'],
];

const key = fc.oneof(
  fc.constantFrom('enabled', 'port', 'address', 'path', 'config', '0', '1', '__proto__', 'constructor', 'toString', '', ' ', 'a.b', 'x-y'),
  fc.string({ maxLength: 12 }),
);

/** Any JSON value, with the strings and numbers configs are made of weighted in. */
const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Json>(null, true, false, 0, -1, 1, 65535, 65536, 4294967296, 1e308, -0.5, '', 'auto', 'dual', '::', '0.0.0.0', '198.18.0.300', 'fd00::/129', '/abs/path', 'rel/path', '64512', 'true'),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 20 }),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(key, tie('v'), { maxKeys: 3 }),
  ),
})).v;

/** A copy of `base` with `v` at `at` (objects made along the way; arrays indexed by number). */
function putAt(base: Json, at: string[], v: Json): Json {
  if (at.length === 0) return v;
  const [head, ...rest] = at;
  if (Array.isArray(base) && /^\d+$/.test(head!) && Number(head) < 8) {
    const out = [...base];
    while (out.length < Number(head)) out.push(null);
    out[Number(head)] = putAt(out[Number(head)] ?? {}, rest, v);
    return out;
  }
  const obj: { [k: string]: Json } = base !== null && typeof base === 'object' && !Array.isArray(base) ? { ...base } : {};
  Object.defineProperty(obj, head!, { value: putAt(Object.hasOwn(obj, head!) ? obj[head!]! : {}, rest, v), enumerable: true, writable: true, configurable: true });
  return obj;
}

/** The value at `at` in `doc`, if there is one. */
function getAt(doc: Json, at: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const k of at) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as { [k: string]: Json })[k];
  }
  return cur;
}

const arbitraryEdit = fc.record({
  at: fc.oneof(fc.constantFrom(...KNOWN_PATHS), fc.array(key, { minLength: 1, maxLength: 4 }), fc.constantFrom(...KNOWN_PATHS).chain((p) => key.map((k) => [...p, k]))),
  v: value,
});
/** An edit that puts back the base's own value: documents made only of these are valid, so both answers occur. */
const keepingEdit = fc.constantFrom(...KNOWN_PATHS.filter((p) => getAt(BASE, p) !== undefined)).map((at) => ({ at, v: getAt(BASE, at)! }));
const edit = fc.oneof(arbitraryEdit, keepingEdit);

const configDoc = fc.record({
  edits: fc.array(edit, { minLength: 1, maxLength: 3 }),
  format: fc.constantFrom<'yaml' | 'json'>('yaml', 'json'),
});

// ---- argv -------------------------------------------------------------------------

const flagValue = fc.oneof(
  fc.constantFrom('', 'true', 'false', 'T', '0', '1', '-1', '65536', '4294967296', '64512', '198.18.0.1', 'fd00::1', '198.18.0.1,fd00::1', ',,', 'YWJj', 'not base64!', '=', '--', '-', 'debug', 'x'),
  fc.string({ maxLength: 16 }),
  fc.integer().map(String),
);
const flagName = fc.oneof(fc.constantFrom(...KUBE_ROUTER_FLAGS), fc.constantFrom('metrics-addr', 'run-loadbalancer', 'bogus', 'help'), fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/));
const arg = fc.oneof(
  fc.tuple(flagName, flagValue).map(([n, v]) => [`--${n}=${v}`]),
  fc.tuple(flagName, flagValue).map(([n, v]) => [`--${n}`, v]),
  flagName.map((n) => [`--${n}`]),
  fc.tuple(fc.constantFrom('-v', '-x', '-'), flagValue).map(([f, v]) => [f, v]),
  fc.string({ maxLength: 12 }).map((s) => [s]),
);
/** Arguments after `validate-config --config FILE` (never another --config: problems then name FILE). */
const argv = fc.array(arg, { maxLength: 6 }).map((parts) => parts.flat().filter((a) => !/^(-c|--config)(=|$)|^-c./.test(a)));

// ---- running it ---------------------------------------------------------------------

function capture(): CliIO & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

const STACK = /^\s+at .+[(:]\d+|\n\s+at /m;

/**
 * What every answer must look like: 0 with "config OK", or 2 with at least
 * one problem line, each naming the file and a key (`FILE: KEY: reason`, or
 * a YAML position), the command line and a flag, a warning naming a flag of
 * no effect, or (from the option parser) the option; no stack trace.
 */
function checkAnswer(code: number | null, stdout: string, stderr: string, file: string, what: string): void {
  const context = `${what}\nexit ${code}\nstdout: ${stdout}\nstderr: ${stderr}`;
  assert.ok(code === 0 || code === 2, `exit code must be 0 or 2: ${context}`);
  assert.ok(!STACK.test(stdout) && !STACK.test(stderr), `no stack trace: ${context}`);
  if (code === 0) {
    assert.match(stdout, /^config OK \(/, context);
    return;
  }
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 0, `exit 2 says why: ${context}`);
  for (const line of lines) {
    const named =
      line.startsWith(`${file}: `) ||
      /^command line: /.test(line) ||
      // A kube-router flag krouter accepts with no effect: a warning naming it, beside the problems.
      /^warning: --[a-z0-9-]+: /.test(line) ||
      /^error: .*(option|argument)/.test(line) ||
      /^\S+: cannot read config file: /.test(line) ||
      /^\S+: (\(top level\)|line \d+, column \d+): /.test(line);
    assert.ok(named, `each line names the file and key, or the flag: ${JSON.stringify(line)}\n${context}`);
  }
}

describe('validate-config, property-based: any value at any key, any argv -> exit 0 or 2 naming the key or flag', function () {
  this.timeout(300_000);
  let dir: string;
  let n = 0;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-config-prop-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const writeDoc = (doc: Json, format: 'yaml' | 'json'): string => {
    const file = path.join(dir, `c${n++}.${format === 'yaml' ? 'yaml' : 'json'}`);
    fs.writeFileSync(file, format === 'yaml' ? YAML.stringify(doc) : JSON.stringify(doc));
    return file;
  };

  it('the base config is valid (so the properties below test the edits)', async () => {
    const io = capture();
    const file = writeDoc(BASE, 'yaml');
    assert.equal(await main(['validate-config', '--config', file], io), 0, io.stderr());
  });

  it('config file: arbitrary values at arbitrary keys (in-process, many cases)', async () => {
    const codes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(configDoc, async ({ edits, format }) => {
        let doc: Json = BASE;
        for (const e of edits) doc = putAt(doc, e.at, e.v);
        const file = writeDoc(doc, format);
        const io = capture();
        const code = await main(['validate-config', '--config', file], io);
        checkAnswer(code, io.stdout(), io.stderr(), file, JSON.stringify(edits));
        codes.set(code, (codes.get(code) ?? 0) + 1);
        fs.rmSync(file);
      }),
      { numRuns: 300 },
    );
    // Both answers occur: the generator reaches valid edits and invalid ones.
    assert.ok((codes.get(0) ?? 0) > 0 && (codes.get(2) ?? 0) > 0, JSON.stringify([...codes]));
  });

  it('config file: any document at all, valid YAML or not (in-process)', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      value.map((v) => YAML.stringify(v)),
      fc.constantFrom('a: [', ': :', '{', 'a: *missing', '*!', '- 1\n- 2', 'x: &a [*a]', '!!binary abc', 'metrics:\n  port: !!float 1', '---\na: 1\n---\nb: 2', '\t', '\u0000'),
    );
    await fc.assert(
      fc.asyncProperty(text, async (t) => {
        const file = path.join(dir, `t${n++}.yaml`);
        fs.writeFileSync(file, t);
        const io = capture();
        const code = await main(['validate-config', '--config', file], io);
        checkAnswer(code, io.stdout(), io.stderr(), file, JSON.stringify(t));
        fs.rmSync(file);
      }),
      { numRuns: 200 },
    );
  });

  it('argv: known and unknown flags with values of any shape (in-process, many cases)', async () => {
    const file = writeDoc(BASE, 'yaml');
    const codes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(argv, async (args) => {
        const io = capture();
        const code = await main(['validate-config', '--config', file, ...args], io);
        // --help/-h prints the help, -V/--version-number the version, and exits 0: answers too.
        if (code === 0 && (/Usage: krouter validate-config/.test(io.stdout()) || /^\d+\.\d+\.\d+\n$/.test(io.stdout()))) return;
        checkAnswer(code, io.stdout(), io.stderr(), file, JSON.stringify(args));
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }),
      { numRuns: 400 },
    );
    assert.ok((codes.get(0) ?? 0) > 0 && (codes.get(2) ?? 0) > 0, JSON.stringify([...codes]));
  });

  it('the spawned CLI, a few cases of each: exit 0 or 2, no stack trace', async function () {
    const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'core/main.ts', 'validate-config', ...args], { encoding: 'utf8', timeout: 60_000 });
    const docs = fc.sample(configDoc, { numRuns: 4, seed: 42 });
    for (const { edits, format } of docs) {
      let doc: Json = BASE;
      for (const e of edits) doc = putAt(doc, e.at, e.v);
      const file = writeDoc(doc, format);
      const r = cli(['--config', file]);
      checkAnswer(r.status, r.stdout, r.stderr, file, JSON.stringify(edits));
    }
    const file = writeDoc(BASE, 'yaml');
    for (const args of fc.sample(argv, { numRuns: 4, seed: 7 })) {
      const r = cli(['--config', file, ...args.filter((a) => !/^(--help|-h|-V|--version-number)$/.test(a))]);
      checkAnswer(r.status, r.stdout, r.stderr, file, JSON.stringify(args));
    }
  });
});
