/**
 * Every flag of kube-router 2.x (test/fixtures/kube-router/flags-v2.11.1.yaml,
 * from kube-router's pkg/options/options.go) through krouter's flag parser:
 * each with a valid value maps onto exactly the config keys below, or is
 * accepted with one warning naming it and why it has no effect here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { kubeRouterInvocation } from '../../core/cli.ts';
import { formatGoDuration, parseGoDuration } from '../../core/config/duration.ts';
import {
  KROUTER_EXTRA_FLAGS,
  KUBE_ROUTER_FLAGS,
  kubeRouterDefaults,
  kubeRouterEnv,
  NO_EFFECT_FLAGS,
  noEffectWarning,
  parseKubeRouterFlags,
} from '../../core/config/flags.ts';
import { flagSectionsDisabled, loadConfig } from '../../core/config/load.ts';
import { cni, FLAG_TABLE, lb, proxy, router } from '../helpers/kube-router-flag-table.ts';

interface FixtureFlag {
  name: string;
  kind: 'bool' | 'string' | 'uint' | 'duration' | 'list';
  short?: string;
}
const KUBE_ROUTER: FixtureFlag[] = (YAML.parse(readFileSync('test/fixtures/kube-router/flags-v2.11.1.yaml', 'utf8')) as { flags: FixtureFlag[] }).flags;

describe('kube-router 2.x flags: every one accepted', () => {
  it('the parser knows exactly kube-router v2.11.1 flags (plus --cluster-cidr), and the table covers each', () => {
    const names = KUBE_ROUTER.map((f) => f.name);
    assert.equal(names.length, 79);
    assert.deepEqual([...KUBE_ROUTER_FLAGS].sort(), [...names, ...KROUTER_EXTRA_FLAGS].sort());
    assert.deepEqual(Object.keys(FLAG_TABLE).sort(), [...KUBE_ROUTER_FLAGS].sort());
  });

  for (const [name, row] of Object.entries(FLAG_TABLE)) {
    const effect = NO_EFFECT_FLAGS[name] ? 'no effect: one warning' : 'mapped';
    it(`--${name} ${row.args.join(' ')} (${effect})`, () => {
      const r = parseKubeRouterFlags(row.args);
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.overlay, row.overlay);
      assert.deepEqual(r.warnings, NO_EFFECT_FLAGS[name] ? [noEffectWarning(name)] : []);
      assert.deepEqual(r.actions, []);
    });
  }

  it('all of them on one command line: no error, one warning per no-effect flag, in order', () => {
    const args = Object.values(FLAG_TABLE).flatMap((r) => r.args.filter((a) => !a.startsWith('--peer-router')));
    args.push('--peer-router-ips=192.0.2.1,2001:db8::1', '--peer-router-asns=64513,64514', '--peer-router-ports=179,1790', '--peer-router-passwords=c2VjcmV0,cHcy');
    // Given twice: still one warning.
    args.push('--enable-overlay=true');
    const r = parseKubeRouterFlags(args);
    assert.deepEqual(r.errors, []);
    const noEffect = Object.keys(FLAG_TABLE).filter((n) => NO_EFFECT_FLAGS[n]);
    assert.deepEqual(r.warnings, noEffect.map(noEffectWarning));
    assert.equal(noEffect.length, 19);
    for (const w of r.warnings) assert.match(w, /^--[a-z-]+: has no effect in krouter: .{20,}/);
  });

  it("takes pflag's syntax: --f=v, --f v, bare and =true|false booleans, comma lists that repeat, Go durations, -v N / -vN / --v=N", () => {
    assert.deepEqual(parseKubeRouterFlags(['--bgp-holdtime', '1h2m3s']).overlay, router({ holdTime: 3723 }));
    assert.deepEqual(parseKubeRouterFlags(['--bgp-holdtime=1.5m']).overlay, router({ holdTime: 90 }));
    assert.deepEqual(parseKubeRouterFlags(['--service-udp-timeout=1500ms']).overlay, proxy({ conntrackTimeouts: { udp: 2 } }), 'rounded up to whole seconds');
    assert.deepEqual(parseKubeRouterFlags(['--masquerade-all', '--hairpin-mode=False', '--run-router=1', '--run-firewall=f']).overlay, {
      plugins: { 'service-proxy': { masqueradeAll: true, hairpinMode: false }, router: { enabled: true }, firewall: { enabled: false } },
    });
    assert.deepEqual(parseKubeRouterFlags(['--loadbalancer-ip-range=10.1.0.0/24,10.2.0.0/24', '--loadbalancer-ip-range', 'fd00:1::/64']).overlay, {
      plugins: { loadbalancer: { ipRanges: ['10.1.0.0/24', '10.2.0.0/24', 'fd00:1::/64'] }, 'service-proxy': { loadBalancerIPRanges: ['10.1.0.0/24', '10.2.0.0/24', 'fd00:1::/64'] } },
    });
    // -v is passed to log.level as the file would give it; the config schema maps the verbosity (0-1 info, 2-3 debug, 4+ trace).
    for (const args of [['-v', '3'], ['-v3'], ['-v=3'], ['--v=3'], ['--v', '3']]) assert.deepEqual(parseKubeRouterFlags(args).overlay, { log: { level: 3 } }, args.join(' '));
    assert.deepEqual(parseKubeRouterFlags(['-v', '0']).overlay, { log: { level: 0 } });
    assert.deepEqual(parseKubeRouterFlags(['-h']).actions, ['help']);
    assert.deepEqual(parseKubeRouterFlags(['-V']).actions, ['version']);
    assert.deepEqual(parseKubeRouterFlags(['--cleanup-config']).actions, ['cleanup']);
    assert.deepEqual(parseKubeRouterFlags(['--cleanup-config=false']).actions, []);
    // An empty string is kube-router's "unset" (the default stays), but for the listen addresses: every interface.
    assert.deepEqual(parseKubeRouterFlags(['--kubeconfig=', '--master=', '--hostname-override=', '--router-id=', '--runtime-endpoint=']).overlay, {});
    // 0 and 1 are kube-router's "unset" for these.
    assert.deepEqual(parseKubeRouterFlags(['--cluster-asn=0', '--peer-router-multihop-ttl=1']).overlay, {});
    assert.deepEqual(parseKubeRouterFlags(['--metrics-port=0', '--health-port=0', '--health-addr=', '--metrics-addr=']).overlay, {
      metrics: { enabled: false, address: '::' },
      health: { enabled: false, address: '::' },
    });
  });

  it('bad values: a clear error naming the flag', () => {
    const cases: Array<[string[], string]> = [
      [['--bgp-holdtime=5 minutes'], '--bgp-holdtime: "5 minutes" is not a duration (e.g. 30s, 5m0s, 1h30m)'],
      [['--bgp-holdtime=2s'], '--bgp-holdtime: 2s must be at least 3s'],
      [['--bgp-holdtime=19h'], '--bgp-holdtime: 19h must be at most 18h12m15s'],
      [['--bgp-graceful-restart-time=4096s'], '--bgp-graceful-restart-time: 4096s must be at most 1h8m15s'],
      [['--iptables-sync-period=0s'], '--iptables-sync-period: 0s must be greater than 0'],
      [['--service-tcp-timeout=-1s'], '--service-tcp-timeout: -1s must not be negative'],
      [['--run-router=yes'], '--run-router: "yes" is not a boolean (true or false)'],
      [['--bgp-port=0'], '--bgp-port: "0" must be an integer 1..65535'],
      [['--metrics-port=65536'], '--metrics-port: "65536" must be an integer 0..65535'],
      [['--bfd-detection-multiplier=0'], '--bfd-detection-multiplier: "0" must be an integer 1..255'],
      [['--peer-router-multihop-ttl=256'], '--peer-router-multihop-ttl: "256" must be an integer 0..255'],
      [['--service-cluster-ip-range=10.96.0.0/33'], '--service-cluster-ip-range: "10.96.0.0/33" is not a CIDR (e.g. 10.96.0.0/12 or fd00::/108)'],
      [['--loadbalancer-ip-range=10.0.0.1/24,nope'], '--loadbalancer-ip-range: "10.0.0.1/24", "nope" are not CIDRs (e.g. 10.96.0.0/12 or fd00::/108)'],
      [['--excluded-cidrs=10.0.0.0'], '--excluded-cidrs: "10.0.0.0" is not a CIDR (e.g. 10.96.0.0/12 or fd00::/108)'],
      [['--loadbalancer-sync-period=0'], '--loadbalancer-sync-period: 0 must be greater than 0'],
      [['--service-node-port-range=32767-30000'], '--service-node-port-range: "32767-30000" must be FIRST-LAST or FIRST:LAST with ports 1..65535, e.g. 30000-32767'],
      [['--health-addr=localhost'], '--health-addr: "localhost": not an IP address'],
      [['--metrics-path=metrics'], '--metrics-path: "metrics" must start with /'],
      [['--overlay-type=mesh'], '--overlay-type: "mesh" must be subnet or full'],
      [['--overlay-encap=gre'], '--overlay-encap: "gre" must be ipip or fou'],
      [['--v=loud'], `--v: "loud" must be a verbosity 0..10 (kube-router's -v: 0-1 info, 2-3 debug, 4+ trace) or one of error|warn|info|debug|trace`],
      [['--kubeconfig'], '--kubeconfig: needs a value'],
      [['--iptables-sync-perod=1m'], '--iptables-sync-perod: unknown flag'],
      [['-x'], '-x: unknown flag'],
      [['-run-router'], '-run-router: unknown flag (use --run-router)'],
    ];
    for (const [args, error] of cases) {
      const r = parseKubeRouterFlags(args);
      assert.deepEqual(r.errors, [error], args.join(' '));
      assert.deepEqual(r.warnings, [], `${args.join(' ')}: a refused no-effect flag gives no warning`);
    }
  });

  it('a sync period below what krouter supports is raised to it, with a warning naming the flag', () => {
    const r = parseKubeRouterFlags(['--routes-sync-period=1s']);
    assert.deepEqual(r.overlay, router({ resyncSeconds: 5 }));
    assert.deepEqual(r.warnings, ['--routes-sync-period: 1s is outside what krouter supports (5s..24h0m0s); using 5s']);
  });

  it('the loadbalancer flags map onto plugins.loadbalancer (and --advertise-loadbalancer-ip onto the router)', () => {
    const r = parseKubeRouterFlags([
      '--run-loadbalancer',
      '--loadbalancer-ip-range=192.0.2.0/24',
      '--loadbalancer-ip-range=2001:db8:5::/112',
      '--loadbalancer-default-class=false',
      '--loadbalancer-sync-period=30s',
      '--advertise-loadbalancer-ip',
    ]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.overlay, {
      plugins: {
        loadbalancer: { enabled: true, ipRanges: ['192.0.2.0/24', '2001:db8:5::/112'], defaultClass: false, syncPeriod: '30s' },
        'service-proxy': { loadBalancerIPRanges: ['192.0.2.0/24', '2001:db8:5::/112'] },
        router: { advertiseLoadBalancerIP: true },
      },
    });
    assert.deepEqual(parseKubeRouterFlags(['--loadbalancer-sync-period=90s']).overlay, lb({ syncPeriod: '1m30s' }));
  });
});

describe("kube-router's defaults, environment and invocation", () => {
  it("kube-router's defaults: all four built-in plugins, IPv4 only, metrics off, health on 20244, kube-router's periods and ranges", () => {
    const d = kubeRouterDefaults() as any;
    assert.equal(d.families, 'ipv4');
    for (const p of ['cni', 'router', 'service-proxy', 'firewall']) assert.equal(d.plugins[p].enabled, true, p);
    assert.equal(d.plugins.loadbalancer, undefined, '--run-loadbalancer=false: no section');
    assert.deepEqual(d.metrics, { enabled: false, address: '::', path: '/metrics' });
    assert.deepEqual(d.health, { enabled: true, address: '::', port: 20244 });
    assert.equal(d.plugins['service-proxy'].hairpinMode, false);
    assert.equal(d.plugins['service-proxy'].strictExternalIPValidation, true);
    assert.deepEqual(d.plugins['service-proxy'].serviceClusterIPRanges, ['10.96.0.0/12']);
    assert.equal(d.plugins.firewall.defaultDeny, false);
    assert.equal(d.plugins.firewall.resyncSeconds, 300);
    assert.equal(d.plugins.router.resyncSeconds, 300);
    assert.equal(d.plugins.router.kernelRoutesResyncSeconds, 60);
    assert.deepEqual(d.plugins.router.gracefulRestart, { enabled: false, restartTime: 90, deferralTime: 360 });
    assert.equal(d.kubernetes.cacheSyncTimeoutSeconds, 60);
  });

  it('without a config file the defaults are the base and flags override them; with one, the file is the base', () => {
    const env = { NODE_NAME: 'n1' };
    const flags = parseKubeRouterFlags(['--run-firewall=false', '--enable-ipv6', '--hairpin-mode']);
    const none = loadConfig({ file: undefined, overlay: flags.overlay, defaults: kubeRouterDefaults(), env }).config;
    assert.equal(none.families, 'dual');
    assert.equal(none.plugins.firewall!.enabled, false);
    assert.equal(none.plugins.router!.enabled, true);
    assert.equal(none.plugins['service-proxy']!.hairpinMode, true);
    assert.equal(none.nodeName, 'n1');
    const withFile = loadConfig({ file: 'test/fixtures/config/valid.yaml', overlay: flags.overlay, defaults: kubeRouterDefaults(), env }).config;
    assert.equal(withFile.families, 'dual', 'flags over the file');
    assert.equal(withFile.metrics.port, 0, "the file's value, not kube-router's default");
  });

  it('a plugin section only flags create does not enable the plugin', () => {
    assert.deepEqual(flagSectionsDisabled({ plugins: { router: {} } }, { plugins: { router: { holdTime: 30 }, 'service-proxy': { hairpinMode: true }, firewall: { enabled: true } } }), {
      plugins: { router: { holdTime: 30 }, 'service-proxy': { enabled: false, hairpinMode: true }, firewall: { enabled: true } },
    });
  });

  it("KUBE_ROUTER_CNI_CONF_FILE names the CNI config file", () => {
    assert.deepEqual(kubeRouterEnv({ KUBE_ROUTER_CNI_CONF_FILE: '/etc/cni/net.d/10-kuberouter.conflist' }), cni({ confPath: '/etc/cni/net.d/10-kuberouter.conflist' }));
    assert.deepEqual(kubeRouterEnv({}), {});
  });

  it('flags without a subcommand do what kube-router does with them: run, or help, version, cleanup', () => {
    assert.deepEqual(kubeRouterInvocation(['--run-router=true', '--kubeconfig=/k']), ['run', '--run-router=true', '--kubeconfig=/k']);
    assert.deepEqual(kubeRouterInvocation(['--run-router=true', '--cleanup-config']), ['cleanup', '--run-router=true', '--cleanup-config']);
    assert.deepEqual(kubeRouterInvocation(['--version']), ['version']);
    assert.deepEqual(kubeRouterInvocation(['-V']), ['version']);
    assert.deepEqual(kubeRouterInvocation(['-h']), ['--help']);
    assert.deepEqual(kubeRouterInvocation(['run', '--config', '/c.yaml']), ['run', '--config', '/c.yaml']);
    assert.deepEqual(kubeRouterInvocation([]), []);
    assert.deepEqual(kubeRouterInvocation(['--version-number']), ['--version-number'], "krouter's own");
    assert.deepEqual(kubeRouterInvocation(['--config', '/c.yaml', '--run-router']), ['run', '--config', '/c.yaml', '--run-router']);
  });

  it("the README's section names every kube-router flag, and each no-effect flag in its table", () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf("## Running with kube-router's flags"), readme.indexOf('## Writing a plugin'));
    const noEffect = section.slice(section.indexOf('### Flags accepted with no effect'));
    for (const name of KUBE_ROUTER_FLAGS) assert.ok(section.includes(name === 'v' ? '`-v`' : `--${name}`), `README names --${name}`);
    for (const name of Object.keys(NO_EFFECT_FLAGS)) assert.ok(noEffect.includes(`\`--${name}\``), `README's no-effect table names --${name}`);
    assert.match(section, new RegExp(`no effect \\(${Object.keys(NO_EFFECT_FLAGS).length}\\)`));
  });

  it("parses Go durations as kube-router's flags take them", () => {
    const cases: Array<[string, number | undefined]> = [
      ['0', 0],
      ['5m0s', 300_000],
      ['1h30m', 5_400_000],
      ['1.5s', 1500],
      ['300ms', 300],
      ['2h45m10.5s', 9_910_500],
      ['-1s', -1000],
      ['10', undefined],
      ['5 m', undefined],
      ['', undefined],
      ['1d', undefined],
    ];
    for (const [text, ms] of cases) assert.equal(parseGoDuration(text), ms, text);
    assert.equal(formatGoDuration(90_000), '1m30s');
    assert.equal(formatGoDuration(3_600_000), '1h0m0s');
    assert.equal(formatGoDuration(1500), '1.5s');
  });
});
