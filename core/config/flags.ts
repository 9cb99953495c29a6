import { AddressError, isCidr, parseIP } from '@krouter/sdk';
import { formatGoDuration, parseGoDuration } from './duration.ts';
import { LOG_LEVEL_HELP, parseLogLevel } from './log-level.ts';

/**
 * kube-router's command line (every flag of kube-router 2.x), mapped onto the
 * config file's keys so an existing kube-router DaemonSet can switch
 * binaries. Pure: arguments in; a partial raw config (the "overlay", merged
 * over the file), errors, warnings and requested actions out.
 *
 * Syntax as kube-router's (pflag): `--flag=value` or `--flag value`; boolean
 * flags are `--flag` or `--flag=true|false`; list flags take comma-separated
 * values and may repeat; durations are Go's (`90s`, `5m0s`, `1h30m`);
 * `-v N` / `--v=N` set `log.level` (log-level.ts), `-h` is --help, `-V` is --version.
 *
 * A flag either maps onto config keys (`apply`) or has no effect in krouter
 * (`noEffect`: the reason, given as a warning when the flag is used).
 * kubeRouterDefaults() is kube-router's defaults as config: the base when no
 * config file is read, so flags alone configure the agent as they would
 * configure kube-router.
 */

export type RawObject = Record<string, unknown>;

/** What the command line asks for besides configuration. */
export type FlagAction = 'cleanup' | 'help' | 'version';

export interface FlagsResult {
  /** Partial config; flags override the file. */
  overlay: RawObject;
  /** One line per problem, each naming the flag. */
  errors: string[];
  /** One line per flag that was given but changes nothing here (or whose value was adjusted), naming the flag. */
  warnings: string[];
  /** --cleanup-config, --help/-h, --version/-V. */
  actions: FlagAction[];
}

type Kind = 'bool' | 'string' | 'uint' | 'duration' | 'list';

interface FlagSpec {
  kind: Kind;
  /** kube-router's default as flag text; absent: none (unset). */
  default?: string;
  /** Single-letter form (`-v`, `-h`, `-V`). */
  short?: string;
  /** uint: inclusive bounds; duration: inclusive bounds in ms. */
  min?: number;
  max?: number;
  /** Writes the parsed value (bool, string, number, string[]; durations in ms) into the state. */
  apply?(state: State, value: never, flag: string): void;
  /** Why the flag changes nothing in krouter. */
  noEffect?: string;
  /** A string flag whose empty value means something (else `--f=` is kube-router's "unset": the default stays). */
  emptyMeans?: true;
  action?: FlagAction;
}

/** Values gathered while parsing; combined into the overlay at the end. */
interface State {
  overlay: RawObject;
  warnings: string[];
  enableIPv4?: boolean;
  enableIPv6?: boolean;
  peerIps: string[];
  peerAsns: string[];
  peerPorts: string[];
  peerPasswords: string[];
  peerFlagsSeen: Set<string>;
}

function setIn(target: RawObject, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as RawObject;
  }
  node[path[path.length - 1]!] = value;
}

function getIn(target: RawObject, path: readonly string[]): unknown {
  let node: unknown = target;
  for (const key of path) node = (node as RawObject | undefined)?.[key];
  return node;
}

const set =
  (...path: string[]) =>
  (state: State, value: unknown) =>
    setIn(state.overlay, path, value);

const plugin = (name: string) => (...path: string[]) => set('plugins', name, ...path);
const cni = plugin('cni');
const router = plugin('router');
const proxy = plugin('service-proxy');
const firewall = plugin('firewall');
const loadbalancer = plugin('loadbalancer');

/** A list flag that may repeat: each occurrence appends to the key(s). */
const appendList =
  (...paths: string[][]) =>
  (state: State, value: string[]) => {
    for (const path of paths) {
      const before = getIn(state.overlay, path);
      setIn(state.overlay, path, [...(Array.isArray(before) ? before : []), ...value]);
    }
  };

/** A CIDR list flag: every value must be a CIDR (either family). */
const cidrList =
  (...paths: string[][]) =>
  (state: State, value: string[], flag: string) => {
    const bad = value.filter((c) => !isCidr(c));
    if (bad.length) throw new FlagValueError(`${flag}: ${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length > 1 ? 'are not CIDRs' : 'is not a CIDR'} (e.g. 10.96.0.0/12 or fd00::/108)`);
    appendList(...paths)(state, value);
  };

const peerList = (field: 'peerIps' | 'peerAsns' | 'peerPorts' | 'peerPasswords', flag: string) => (state: State, value: string[]) => {
  state[field].push(...value);
  state.peerFlagsSeen.add(flag);
};

class FlagValueError extends Error {}

/**
 * A duration flag written as whole seconds (rounded up) into `path`; values
 * outside krouter's bounds are moved inside them with a warning naming the flag.
 */
const seconds =
  (path: string[], bounds: { min: number; max: number }) =>
  (state: State, ms: number, flag: string) => {
    let s = Math.ceil(ms / 1000);
    if (s < bounds.min || s > bounds.max) {
      const to = Math.min(bounds.max, Math.max(bounds.min, s));
      state.warnings.push(`${flag}: ${formatGoDuration(ms)} is outside what krouter supports (${formatGoDuration(bounds.min * 1000)}..${formatGoDuration(bounds.max * 1000)}); using ${formatGoDuration(to * 1000)}`);
      s = to;
    }
    setIn(state.overlay, path, s);
  };

/** kube-router's empty listen address means every interface. */
const listenAddress = (section: string) => (state: State, value: string, flag: string) => {
  if (value === '') return setIn(state.overlay, [section, 'address'], '::');
  try {
    setIn(state.overlay, [section, 'address'], parseIP(value).address);
  } catch (err) {
    throw new FlagValueError(`${flag}: ${err instanceof AddressError ? err.message : String(err)}`);
  }
};

/** kube-router's port 0 turns the endpoint off. */
const listenPort = (section: string) => (state: State, value: number) => {
  if (value === 0) setIn(state.overlay, [section, 'enabled'], false);
  else {
    setIn(state.overlay, [section, 'enabled'], true);
    setIn(state.overlay, [section, 'port'], value);
  }
};

const NO_IPVS = 'IPVS only: krouter proxies services with nftables (and this kernel has no IPVS)';
const NO_OVERLAY = 'krouter has no IPIP/FOU overlay (this kernel has no ipip or fou): pod routes are learned over BGP and routed natively, so nodes of different subnets need a router that carries them (a --peer-router-ips peer)';
const NO_BFD = "krouter's BGP speaker, gobgpd 3.10 (Debian's), has no BFD: a dead peer is detected by the BGP hold time (--bgp-holdtime)";
const NO_GOBGP_TCP = "krouter's gobgpd serves its API on a unix socket only (/run/krouter/gobgp.sock; the gobgp CLI takes --target unix:///run/krouter/gobgp.sock)";

/** Every flag of kube-router 2.x (pkg/options/options.go of v2.11.1), and krouter's --cluster-cidr. */
const FLAGS: Record<string, FlagSpec> = {
  'advertise-cluster-ip': { kind: 'bool', default: 'false', apply: router('advertiseClusterIP') },
  'advertise-external-ip': { kind: 'bool', default: 'false', apply: router('advertiseExternalIP') },
  'advertise-loadbalancer-ip': { kind: 'bool', default: 'false', apply: router('advertiseLoadBalancerIP') },
  'advertise-pod-cidr': { kind: 'bool', default: 'true', apply: router('advertisePodCidr') },
  'auto-mtu': { kind: 'bool', default: 'true', apply: (s, v: boolean) => cni('mtu')(s, v ? 'auto' : 1500) },
  'bfd-desired-min-tx-interval': { kind: 'uint', default: '1000', max: 4294967295, noEffect: NO_BFD },
  'bfd-detection-multiplier': { kind: 'uint', default: '3', min: 1, max: 255, noEffect: NO_BFD },
  'bfd-port': { kind: 'uint', default: '3784', max: 4294967295, noEffect: NO_BFD },
  'bfd-required-min-rx-interval': { kind: 'uint', default: '1000', max: 4294967295, noEffect: NO_BFD },
  'bgp-graceful-restart': { kind: 'bool', default: 'false', apply: router('gracefulRestart', 'enabled') },
  'bgp-graceful-restart-deferral-time': { kind: 'duration', default: '6m0s', min: 1, max: 18 * 3_600_000, apply: seconds(['plugins', 'router', 'gracefulRestart', 'deferralTime'], { min: 1, max: 18 * 3600 }) },
  'bgp-graceful-restart-time': { kind: 'duration', default: '1m30s', min: 1, max: 4095_000, apply: seconds(['plugins', 'router', 'gracefulRestart', 'restartTime'], { min: 1, max: 4095 }) },
  'bgp-holdtime': { kind: 'duration', default: '1m30s', min: 3000, max: 65535_000, apply: seconds(['plugins', 'router', 'holdTime'], { min: 3, max: 65535 }) },
  'bgp-port': { kind: 'uint', default: '179', min: 1, max: 65535, apply: router('bgpPort') },
  'cache-sync-timeout': { kind: 'duration', default: '1m0s', min: 1, apply: seconds(['kubernetes', 'cacheSyncTimeoutSeconds'], { min: 1, max: 86400 }) },
  'cleanup-config': { kind: 'bool', default: 'false', action: 'cleanup' },
  'cluster-asn': { kind: 'uint', max: 4294967295, apply: (s, v: number) => v !== 0 && router('clusterAsn')(s, v) },
  'disable-source-dest-check': { kind: 'bool', default: 'true', noEffect: "krouter makes no AWS EC2 API calls: set the instances' source/destination check off by other means" },
  'enable-bfd': { kind: 'bool', default: 'false', noEffect: NO_BFD },
  'enable-cni': { kind: 'bool', default: 'true', apply: cni('enabled') },
  'enable-ibgp': { kind: 'bool', default: 'true', apply: router('ibgp') },
  'enable-ipv4': { kind: 'bool', default: 'true', apply: (s, v: boolean) => void (s.enableIPv4 = v) },
  'enable-ipv6': { kind: 'bool', default: 'false', apply: (s, v: boolean) => void (s.enableIPv6 = v) },
  'enable-overlay': { kind: 'bool', default: 'true', noEffect: NO_OVERLAY },
  'enable-pod-egress': { kind: 'bool', default: 'true', apply: cni('masquerade') },
  'enable-pprof': { kind: 'bool', default: 'false', noEffect: "Go's pprof profiler: krouter is not a Go program (profile it with Node's --cpu-prof / --heap-prof)" },
  'excluded-cidrs': { kind: 'list', apply: cidrList(), noEffect: 'kube-router keeps other tools\' IPVS services in these ranges from deletion; krouter only ever changes its own nftables table and never removes what it does not own' },
  'gobgp-admin-address': { kind: 'string', default: '127.0.0.1', noEffect: NO_GOBGP_TCP },
  'gobgp-admin-port': { kind: 'uint', default: '50051', max: 65535, noEffect: NO_GOBGP_TCP },
  'hairpin-mode': { kind: 'bool', default: 'false', apply: proxy('hairpinMode') },
  'health-addr': { kind: 'string', default: '', emptyMeans: true, apply: listenAddress('health') },
  'health-port': { kind: 'uint', default: '20244', max: 65535, apply: listenPort('health') },
  help: { kind: 'bool', short: 'h', action: 'help' },
  'hostname-override': { kind: 'string', apply: set('nodeName') },
  'injected-routes-sync-period': { kind: 'duration', default: '1m0s', min: 1, apply: seconds(['plugins', 'router', 'kernelRoutesResyncSeconds'], { min: 5, max: 86400 }) },
  'iptables-sync-period': { kind: 'duration', default: '5m0s', min: 1, apply: seconds(['plugins', 'firewall', 'resyncSeconds'], { min: 1, max: 86400 }) },
  'ipvs-graceful-period': { kind: 'duration', default: '30s', min: 1, noEffect: `${NO_IPVS}; terminating endpoints keep their open connections through conntrack` },
  'ipvs-graceful-termination': { kind: 'bool', default: 'false', noEffect: `${NO_IPVS}; terminating endpoints keep their open connections through conntrack` },
  'ipvs-permit-all': { kind: 'bool', default: 'true', noEffect: `${NO_IPVS}; service addresses are DNAT targets, not node addresses, so there is nothing to permit` },
  'ipvs-sync-period': { kind: 'duration', default: '5m0s', min: 1, apply: seconds(['plugins', 'service-proxy', 'resyncSeconds'], { min: 5, max: 86400 }) },
  kubeconfig: { kind: 'string', apply: set('kubernetes', 'kubeconfig') },
  'loadbalancer-default-class': { kind: 'bool', default: 'true', apply: loadbalancer('defaultClass') },
  'loadbalancer-ip-range': { kind: 'list', apply: cidrList(['plugins', 'loadbalancer', 'ipRanges'], ['plugins', 'service-proxy', 'loadBalancerIPRanges']) },
  'loadbalancer-sync-period': { kind: 'duration', default: '1m0s', min: 1, apply: (s, ms: number) => loadbalancer('syncPeriod')(s, formatGoDuration(ms)) },
  'masquerade-all': { kind: 'bool', default: 'false', apply: proxy('masqueradeAll') },
  master: { kind: 'string', apply: set('kubernetes', 'master') },
  'metrics-addr': { kind: 'string', default: '', emptyMeans: true, apply: listenAddress('metrics') },
  'metrics-path': {
    kind: 'string',
    default: '/metrics',
    apply: (s, v: string, flag) => {
      if (!v.startsWith('/')) throw new FlagValueError(`${flag}: ${JSON.stringify(v)} must start with /`);
      set('metrics', 'path')(s, v);
    },
  },
  'metrics-port': { kind: 'uint', default: '0', max: 65535, apply: listenPort('metrics') },
  'netpol-default-deny': { kind: 'bool', default: 'false', apply: firewall('defaultDeny') },
  'nodeport-bindon-all-ip': { kind: 'bool', default: 'false', apply: (s, v: boolean) => proxy('nodePortAddresses')(s, v ? ['0.0.0.0/0', '::/0'] : ['primary']) },
  'nodes-full-mesh': { kind: 'bool', default: 'true', apply: router('nodesFullMesh') },
  'overlay-encap': {
    kind: 'string',
    default: 'ipip',
    apply: (_s, v: string, flag) => {
      if (v !== 'ipip' && v !== 'fou') throw new FlagValueError(`${flag}: ${JSON.stringify(v)} must be ipip or fou`);
    },
    noEffect: NO_OVERLAY,
  },
  'overlay-encap-port': { kind: 'uint', default: '5555', max: 65535, noEffect: NO_OVERLAY },
  'overlay-type': {
    kind: 'string',
    default: 'subnet',
    apply: (_s, v: string, flag) => {
      if (v !== 'subnet' && v !== 'full') throw new FlagValueError(`${flag}: ${JSON.stringify(v)} must be subnet or full`);
    },
    noEffect: NO_OVERLAY,
  },
  'override-nexthop': { kind: 'bool', default: 'false', apply: router('overrideNexthop') },
  'peer-router-asns': { kind: 'list', apply: peerList('peerAsns', 'peer-router-asns') },
  'peer-router-ips': { kind: 'list', apply: peerList('peerIps', 'peer-router-ips') },
  // kube-router: relevant only when >= 2.
  'peer-router-multihop-ttl': { kind: 'uint', max: 255, apply: (s, v: number) => v >= 2 && router('peerMultihopTtl')(s, v) },
  'peer-router-passwords': { kind: 'list', apply: peerList('peerPasswords', 'peer-router-passwords') },
  'peer-router-passwords-file': { kind: 'string', apply: router('peerRouterPasswordsFile') },
  'peer-router-ports': { kind: 'list', apply: peerList('peerPorts', 'peer-router-ports') },
  'router-id': { kind: 'string', apply: router('routerId') },
  'routes-sync-period': { kind: 'duration', default: '5m0s', min: 1, apply: seconds(['plugins', 'router', 'resyncSeconds'], { min: 5, max: 86400 }) },
  'run-firewall': { kind: 'bool', default: 'true', apply: firewall('enabled') },
  'run-loadbalancer': { kind: 'bool', default: 'false', apply: loadbalancer('enabled') },
  'run-router': { kind: 'bool', default: 'true', apply: router('enabled') },
  'run-service-proxy': { kind: 'bool', default: 'true', apply: proxy('enabled') },
  'runtime-endpoint': { kind: 'string', default: '', noEffect: 'used by kube-router for DSR, which needs IPVS tunnels into pod namespaces; krouter has no DSR mode' },
  'service-cluster-ip-range': {
    kind: 'list',
    default: '10.96.0.0/12',
    apply: cidrList(['plugins', 'service-proxy', 'serviceClusterIPRanges'], ['plugins', 'router', 'serviceClusterIPRanges']),
  },
  'service-external-ip-range': {
    kind: 'list',
    apply: cidrList(['plugins', 'service-proxy', 'externalIPRanges'], ['plugins', 'router', 'serviceExternalIPRanges']),
  },
  'service-node-port-range': {
    kind: 'string',
    default: '30000-32767',
    apply: (s, v: string, flag) => {
      const m = /^(\d{1,5})[-:](\d{1,5})$/.exec(v);
      if (!m || Number(m[1]) < 1 || Number(m[2]) > 65535 || Number(m[1]) > Number(m[2])) {
        throw new FlagValueError(`${flag}: ${JSON.stringify(v)} must be FIRST-LAST or FIRST:LAST with ports 1..65535, e.g. 30000-32767`);
      }
      proxy('nodePortRange')(s, `${m[1]}-${m[2]}`);
    },
  },
  'service-tcp-timeout': { kind: 'duration', default: '0s', apply: seconds(['plugins', 'service-proxy', 'conntrackTimeouts', 'tcp'], { min: 0, max: 2 ** 31 - 1 }) },
  'service-tcpfin-timeout': { kind: 'duration', default: '0s', apply: seconds(['plugins', 'service-proxy', 'conntrackTimeouts', 'tcpFin'], { min: 0, max: 2 ** 31 - 1 }) },
  'service-udp-timeout': { kind: 'duration', default: '0s', apply: seconds(['plugins', 'service-proxy', 'conntrackTimeouts', 'udp'], { min: 0, max: 2 ** 31 - 1 }) },
  'strict-external-ip-validation': { kind: 'bool', default: 'true', apply: proxy('strictExternalIPValidation') },
  'use-nftables-for-netpol': { kind: 'bool', default: 'false', noEffect: "krouter's firewall always uses nftables" },
  v: {
    kind: 'string',
    short: 'v',
    default: '0',
    apply: (s, v: string, flag) => {
      // log.level takes the same values; log-level.ts maps both.
      if (!parseLogLevel(v)) throw new FlagValueError(`${flag}: ${JSON.stringify(v)} must be ${LOG_LEVEL_HELP}`);
      setIn(s.overlay, ['log', 'level'], /^\d+$/.test(v) ? Number(v) : v);
    },
  },
  version: { kind: 'bool', short: 'V', action: 'version' },
  // Not kube-router's: kube-proxy's --cluster-cidr, the sources "inside the cluster" for ClusterIP masquerade.
  'cluster-cidr': { kind: 'list', apply: cidrList(['plugins', 'service-proxy', 'clusterCIDRs']) },
};

/** Flags krouter takes besides kube-router's. */
export const KROUTER_EXTRA_FLAGS: readonly string[] = ['cluster-cidr'];

/** The flag names accepted, for help text. */
export const KUBE_ROUTER_FLAGS: readonly string[] = Object.keys(FLAGS);

/** Flags that are accepted but change nothing here, with the reason. */
export const NO_EFFECT_FLAGS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(FLAGS).flatMap(([name, spec]) => (spec.noEffect ? [[name, spec.noEffect]] : [])),
);

/** The warning a no-effect flag gives. */
export function noEffectWarning(name: string): string {
  return `--${name}: has no effect in krouter: ${NO_EFFECT_FLAGS[name]}`;
}

const SHORT: Record<string, string> = Object.fromEntries(Object.entries(FLAGS).flatMap(([name, spec]) => (spec.short ? [[spec.short, name]] : [])));

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

const newState = (): State => ({
  overlay: {},
  warnings: [],
  peerIps: [],
  peerAsns: [],
  peerPorts: [],
  peerPasswords: [],
  peerFlagsSeen: new Set(),
});

/** Parses one value of a flag and applies it; returns an error line or undefined. */
function applyValue(state: State, name: string, spec: FlagSpec, value: string | undefined, flag: string, actions?: FlagAction[]): string | undefined {
  let parsed: unknown;
  switch (spec.kind) {
    case 'bool':
      if (value === undefined || TRUE.has(value)) parsed = true;
      else if (FALSE.has(value)) parsed = false;
      else return `${flag}: ${JSON.stringify(value)} is not a boolean (true or false)`;
      break;
    case 'uint': {
      const n = /^\d+$/.test(value!) ? Number(value) : NaN;
      const min = spec.min ?? 0;
      const max = spec.max ?? 4294967295;
      if (!Number.isSafeInteger(n) || n < min || n > max) return `${flag}: ${JSON.stringify(value)} must be an integer ${min}..${max}`;
      parsed = n;
      break;
    }
    case 'duration': {
      const ms = parseGoDuration(value!);
      if (ms === undefined) return `${flag}: ${JSON.stringify(value)} is not a duration (e.g. 30s, 5m0s, 1h30m)`;
      if (spec.min !== undefined && ms < spec.min) return `${flag}: ${value} must be ${spec.min <= 1 ? 'greater than 0' : `at least ${formatGoDuration(spec.min)}`}`;
      if (ms < 0) return `${flag}: ${value} must not be negative`;
      if (spec.max !== undefined && ms > spec.max) return `${flag}: ${value} must be at most ${formatGoDuration(spec.max)}`;
      parsed = ms;
      break;
    }
    case 'list': {
      const items = value!.split(',').map((s) => s.trim()).filter(Boolean);
      parsed = items;
      break;
    }
    case 'string':
      // pflag's empty string is the Go zero value kube-router reads as "not set".
      if (value === '' && !spec.emptyMeans) return undefined;
      parsed = value!;
      break;
  }
  if (spec.action) {
    if (parsed !== false) actions?.push(spec.action);
    return undefined;
  }
  try {
    spec.apply?.(state, parsed as never, flag);
  } catch (err) {
    if (err instanceof FlagValueError) return err.message;
    throw err;
  }
  return undefined;
}

export function parseKubeRouterFlags(args: readonly string[]): FlagsResult {
  const errors: string[] = [];
  const actions: FlagAction[] = [];
  const state = newState();
  const warned = new Set<string>();

  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let name: string;
    let value: string | undefined;
    const long = /^--([A-Za-z0-9][A-Za-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    const short = /^-([A-Za-z])(?:=?(.*))?$/s.exec(arg);
    if (long) {
      name = long[1]!;
      value = long[2];
    } else if (short && SHORT[short[1]!]) {
      name = SHORT[short[1]!]!;
      value = short[2] === '' && !arg.includes('=') ? undefined : short[2];
    } else if (/^-[A-Za-z0-9][A-Za-z0-9-]*/.test(arg)) {
      const bare = arg.replace(/^-/, '').split('=')[0]!;
      errors.push(FLAGS[bare] ? `${arg}: unknown flag (use --${bare})` : `${arg}: unknown flag`);
      continue;
    } else {
      errors.push(`${arg}: unexpected argument (flags start with --)`);
      continue;
    }
    const spec = FLAGS[name];
    if (!spec) {
      errors.push(`--${name}: unknown flag`);
      continue;
    }
    const flag = `--${name}`;
    if (value === undefined && spec.kind !== 'bool') {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith('-') && next.length > 1 && !/^-\d/.test(next))) {
        errors.push(`${flag}: needs a value`);
        continue;
      }
      value = next;
      i++;
    }
    const error = applyValue(state, name, spec, value, flag, actions);
    if (error) {
      errors.push(error);
      continue;
    }
    if (spec.noEffect && !warned.has(name)) {
      warned.add(name);
      state.warnings.push(noEffectWarning(name));
    }
  }

  applyFamilies(state, errors);
  applyPeers(state, errors);
  return { overlay: state.overlay, errors, warnings: state.warnings, actions: [...new Set(actions)] };
}

/**
 * kube-router's defaults as a raw config: every mapped flag at its default
 * value (so the four built-in plugins on, IPv4 only, metrics off, health on
 * 20244, hairpin off, no default deny, strict external IP validation, ...).
 * The base when no config file is read: with it, flags alone configure the
 * agent as they would configure kube-router.
 */
export function kubeRouterDefaults(): RawObject {
  const state = newState();
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (spec.default === undefined || spec.noEffect || spec.action) continue;
    const error = applyValue(state, name, spec, spec.default, `--${name}`);
    if (error) throw new Error(`kube-router default of --${name}: ${error}`);
  }
  applyFamilies(state, []);
  // --run-loadbalancer defaults to false: no section, so the plugin does not run (its other defaults are its own).
  delete (state.overlay.plugins as RawObject).loadbalancer;
  return state.overlay;
}

/**
 * kube-router's environment as config: KUBE_ROUTER_CNI_CONF_FILE names the
 * CNI config file (NODE_NAME, the node's name, is read where the node name
 * is settled). Between the file and the flags.
 */
export function kubeRouterEnv(env: NodeJS.ProcessEnv): RawObject {
  const out: RawObject = {};
  const conf = env.KUBE_ROUTER_CNI_CONF_FILE;
  if (conf) setIn(out, ['plugins', 'cni', 'confPath'], conf);
  return out;
}

/** kube-router's defaults: --enable-ipv4=true, --enable-ipv6=false. */
function applyFamilies(state: State, errors: string[]): void {
  if (state.enableIPv4 === undefined && state.enableIPv6 === undefined) return;
  const v4 = state.enableIPv4 ?? true;
  const v6 = state.enableIPv6 ?? false;
  if (v4 && v6) state.overlay.families = 'dual';
  else if (v4) state.overlay.families = 'ipv4';
  else if (v6) state.overlay.families = 'ipv6';
  else errors.push('--enable-ipv4, --enable-ipv6: both false leaves no address family');
}

/**
 * --peer-router-ips/asns/ports/passwords are parallel lists (kube-router):
 * asns must match ips one to one; ports and passwords, when given, too.
 * Passwords are base64 as in kube-router; they are checked here and passed
 * on encoded (the router plugin decodes them, as it does the annotation's).
 */
function applyPeers(state: State, errors: string[]): void {
  if (state.peerFlagsSeen.size === 0) return;
  const { peerIps: ips, peerAsns: asns, peerPorts: ports, peerPasswords: passwords } = state;
  let ok = true;
  const sameLength = (list: string[], flag: string, required: boolean) => {
    if ((required || state.peerFlagsSeen.has(flag)) && list.length !== ips.length) {
      errors.push(`--${flag}: ${list.length} value(s) for ${ips.length} --peer-router-ips`);
      ok = false;
    }
  };
  sameLength(asns, 'peer-router-asns', true);
  sameLength(ports, 'peer-router-ports', false);
  sameLength(passwords, 'peer-router-passwords', false);

  const peers: RawObject[] = [];
  ips.forEach((ip, i) => {
    const peer: RawObject = {};
    try {
      peer.address = parseIP(ip).address;
    } catch (err) {
      errors.push(`--peer-router-ips: ${err instanceof AddressError ? err.message : String(err)}`);
      ok = false;
    }
    const asnText = asns[i];
    if (asnText !== undefined) {
      const asn = /^\d+$/.test(asnText) ? Number(asnText) : NaN;
      if (!(asn >= 1 && asn <= 4294967295)) {
        errors.push(`--peer-router-asns: ${JSON.stringify(asnText)} must be an ASN 1..4294967295`);
        ok = false;
      }
      peer.asn = asn;
    }
    const portText = ports[i];
    if (portText !== undefined) {
      const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
      if (!(port >= 1 && port <= 65535)) {
        errors.push(`--peer-router-ports: ${JSON.stringify(portText)} must be a port 1..65535`);
        ok = false;
      }
      peer.port = port;
    }
    const b64 = passwords[i];
    if (b64 !== undefined) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
        errors.push(`--peer-router-passwords: value ${i + 1} is not base64 (kube-router passwords are base64-encoded)`);
        ok = false;
      } else peer.password = b64;
    }
    peers.push(peer);
  });
  if (ok) setIn(state.overlay, ['plugins', 'router', 'peerRouters'], peers);
}
