/**
 * krouter started as kube-router is: `krouter validate-config` spawned with
 * kube-router's arguments and environment and no config file, for every
 * kube-router flag at once and for the args of each DaemonSet manifest
 * kube-router publishes (test/fixtures/kube-router/daemonsets-v2.11.1.yaml).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { NO_EFFECT_FLAGS, noEffectWarning } from '../../core/config/flags.ts';
import { FLAG_TABLE, LOADBALANCER_ONLY_FLAGS } from '../helpers/kube-router-flag-table.ts';

interface Manifest {
  file: string;
  args: string[];
  env?: Record<string, string>;
  envFromFields?: string[];
}
const FIXTURE = YAML.parse(readFileSync('test/fixtures/kube-router/daemonsets-v2.11.1.yaml', 'utf8')) as { manifests: Manifest[]; placeholders: Record<string, string> };

const root = path.resolve(import.meta.dirname, '..', '..');

/** `krouter ARGS` as a process, with only the given environment (and PATH). */
function krouter(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'core', 'main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_NAME: 'node-1', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const warningLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('warning: ')).map((l) => l.slice('warning: '.length));

describe('krouter validate-config spawned with kube-router arguments (no config file)', function () {
  this.timeout(300_000);

  before(function () {
    // kube-router's defaults are the base only when no config file is read.
    if (existsSync('/etc/krouter/config.yaml')) this.skip();
  });

  it('every kube-router flag with a valid value at once: accepted, one warning per no-effect flag', () => {
    const flags = Object.keys(FLAG_TABLE).filter((f) => !LOADBALANCER_ONLY_FLAGS.includes(f));
    const args = flags.flatMap((f) => FLAG_TABLE[f]!.args.filter((a) => !a.startsWith('--peer-router')));
    args.push('--peer-router-ips=192.0.2.1,2001:db8::1', '--peer-router-asns=64513,64514', '--peer-router-ports=179,1790', '--peer-router-passwords=c2VjcmV0,cHcy');
    const r = krouter(['validate-config', ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config OK \(.*kube-router's defaults\); plugins: cni, router\)/, 'the table turns the service proxy and the firewall off');
    assert.deepEqual(warningLines(r.stderr), flags.filter((f) => NO_EFFECT_FLAGS[f]).map(noEffectWarning));
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 19, r.stderr);
  });

  it('a bad value: exit 2 and an error naming the flag', () => {
    const r = krouter(['validate-config', '--run-router=true', '--iptables-sync-period=5 minutes']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'command line: --iptables-sync-period: "5 minutes" is not a duration (e.g. 30s, 5m0s, 1h30m)');
    const both = krouter(['validate-config', '--enable-ipv4=false', '--enable-ipv6=false']);
    assert.equal(both.code, 2);
    assert.equal(both.stderr.trim(), 'command line: --enable-ipv4, --enable-ipv6: both false leaves no address family');
  });

  for (const m of FIXTURE.manifests) {
    it(`the args of kube-router's ${m.file} are accepted`, () => {
      const args = m.args.map((a) => FIXTURE.placeholders[a] ?? a);
      const r = krouter(['validate-config', ...args], m.env ?? {});
      assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
      const expected = args.flatMap((a) => {
        const name = /^--([a-z0-9-]+)/.exec(a)?.[1];
        return name && NO_EFFECT_FLAGS[name] ? [noEffectWarning(name)] : [];
      });
      assert.deepEqual(warningLines(r.stderr), expected);
      const plugins = /plugins: (.*)\)$/m.exec(r.stdout)?.[1]?.split(', ');
      const on = (flag: string) => !args.includes(`--${flag}=false`);
      assert.deepEqual(
        plugins,
        [['cni', on('enable-cni')], ['router', on('run-router')], ['service-proxy', on('run-service-proxy')], ['firewall', on('run-firewall')]].filter(([, v]) => v).map(([k]) => k),
        r.stdout,
      );
    });
  }

  it('kube-router flags without a subcommand: --version prints the version, --help the flags', () => {
    const v = krouter(['--version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^krouter \d+\.\d+\.\d+/);
    const h = krouter(['run', '--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /kube-router flags accepted/);
    assert.match(h.stdout, /accepted with a warning, no effect here: .*--enable-overlay/);
  });
});
