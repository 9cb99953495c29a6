import { AddressError, parseIP } from '@krouter/sdk';

/**
 * kube-router's command-line flags, mapped onto the config file's keys so an
 * existing kube-router DaemonSet can switch binaries. Pure: arguments in,
 * a partial raw config (the "overlay", merged over the file) and errors out.
 *
 * Syntax as kube-router's (pflag): `--flag=value` or `--flag value`; boolean
 * flags are `--flag` or `--flag=true|false`; list flags take comma-separated
 * values and may repeat. `-v N` / `--v=N` set the log level.
 */

export type RawObject = Record<string, unknown>;

export interface FlagsResult {
  /** Partial config; flags override the file. */
  overlay: RawObject;
  /** One line per problem, each naming the flag. */
  errors: string[];
}

type Kind = 'bool' | 'string' | 'int' | 'list';

interface FlagSpec {
  kind: Kind;
  /** For ints: inclusive bounds. */
  min?: number;
  max?: number;
  /** Writes the parsed value into the collected state. */
  apply(state: State, value: never): void;
}

/** Values gathered while parsing; combined into the overlay at the end. */
interface State {
  overlay: RawObject;
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

const set =
  (...path: string[]) =>
  (state: State, value: unknown) =>
    setIn(state.overlay, path, value);

const router = (...path: string[]) => set('plugins', 'router', ...path);

const peerList = (field: 'peerIps' | 'peerAsns' | 'peerPorts' | 'peerPasswords', flag: string) => (state: State, value: string[]) => {
  state[field].push(...value);
  state.peerFlagsSeen.add(flag);
};

const FLAGS: Record<string, FlagSpec> = {
  'run-router': { kind: 'bool', apply: set('plugins', 'router', 'enabled') },
  'run-service-proxy': { kind: 'bool', apply: set('plugins', 'service-proxy', 'enabled') },
  'run-firewall': { kind: 'bool', apply: set('plugins', 'firewall', 'enabled') },
  'enable-cni': { kind: 'bool', apply: set('plugins', 'cni', 'enabled') },
  'enable-ipv4': { kind: 'bool', apply: (s, v: boolean) => void (s.enableIPv4 = v) },
  'enable-ipv6': { kind: 'bool', apply: (s, v: boolean) => void (s.enableIPv6 = v) },
  kubeconfig: { kind: 'string', apply: set('kubernetes', 'kubeconfig') },
  master: { kind: 'string', apply: set('kubernetes', 'master') },
  'hostname-override': { kind: 'string', apply: set('nodeName') },
  'cluster-asn': { kind: 'int', min: 1, max: 4294967295, apply: router('clusterAsn') },
  'peer-router-ips': { kind: 'list', apply: peerList('peerIps', 'peer-router-ips') },
  'peer-router-asns': { kind: 'list', apply: peerList('peerAsns', 'peer-router-asns') },
  'peer-router-ports': { kind: 'list', apply: peerList('peerPorts', 'peer-router-ports') },
  'peer-router-passwords': { kind: 'list', apply: peerList('peerPasswords', 'peer-router-passwords') },
  'peer-router-passwords-file': { kind: 'string', apply: router('peerRouterPasswordsFile') },
  'peer-router-multihop-ttl': { kind: 'int', min: 1, max: 255, apply: router('peerMultihopTtl') },
  'advertise-cluster-ip': { kind: 'bool', apply: router('advertiseClusterIP') },
  'advertise-external-ip': { kind: 'bool', apply: router('advertiseExternalIP') },
  'advertise-loadbalancer-ip': { kind: 'bool', apply: router('advertiseLoadBalancerIP') },
  'advertise-pod-cidr': { kind: 'bool', apply: router('advertisePodCidr') },
  'override-nexthop': { kind: 'bool', apply: router('overrideNexthop') },
  'router-id': { kind: 'string', apply: router('routerId') },
  'bgp-port': { kind: 'int', min: 1, max: 65535, apply: router('bgpPort') },
  'nodes-full-mesh': { kind: 'bool', apply: router('nodesFullMesh') },
  'bgp-graceful-restart': { kind: 'bool', apply: router('gracefulRestart', 'enabled') },
  'metrics-port': { kind: 'int', min: 0, max: 65535, apply: set('metrics', 'port') },
  'health-port': { kind: 'int', min: 0, max: 65535, apply: set('health', 'port') },
  v: { kind: 'string', apply: (s, v: string) => setIn(s.overlay, ['log', 'level'], v) },
};

/** The flag names accepted, for help text. */
export const KUBE_ROUTER_FLAGS: readonly string[] = Object.keys(FLAGS);

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/** klog-style verbosity (0 = info, 1+ = debug) or a level name. */
function logLevelOf(value: string): string | undefined {
  if (/^\d+$/.test(value)) return Number(value) >= 1 ? 'debug' : 'info';
  return ['debug', 'info', 'warn', 'error'].includes(value) ? value : undefined;
}

export function parseKubeRouterFlags(args: readonly string[]): FlagsResult {
  const errors: string[] = [];
  const state: State = {
    overlay: {},
    peerIps: [],
    peerAsns: [],
    peerPorts: [],
    peerPasswords: [],
    peerFlagsSeen: new Set(),
  };

  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const match = /^--?([A-Za-z0-9][A-Za-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!match) {
      errors.push(`${arg}: unexpected argument (flags start with --)`);
      continue;
    }
    const name = match[1]!;
    let value = match[2];
    // Single-dash is only kube-router's `-v`; everything else is `--name`.
    if (arg.startsWith('-') && !arg.startsWith('--') && name !== 'v') {
      errors.push(`${arg}: unknown flag (use --${name})`);
      continue;
    }
    const spec = FLAGS[name];
    if (!spec) {
      errors.push(`--${name}: unknown flag`);
      continue;
    }
    if (value === undefined && spec.kind !== 'bool') {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith('-') && next.length > 1 && !/^-\d/.test(next))) {
        errors.push(`--${name}: needs a value`);
        continue;
      }
      value = next;
      i++;
    }
    const flag = `--${name}`;
    switch (spec.kind) {
      case 'bool': {
        if (value === undefined || TRUE.has(value)) spec.apply(state, true as never);
        else if (FALSE.has(value)) spec.apply(state, false as never);
        else errors.push(`${flag}: ${JSON.stringify(value)} is not a boolean (true or false)`);
        break;
      }
      case 'int': {
        const n = /^\d+$/.test(value!) ? Number(value) : NaN;
        if (!Number.isSafeInteger(n) || n < (spec.min ?? 0) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) {
          errors.push(`${flag}: ${JSON.stringify(value)} must be an integer ${spec.min ?? 0}..${spec.max}`);
        } else spec.apply(state, n as never);
        break;
      }
      case 'list':
        spec.apply(state, value!.split(',').map((s) => s.trim()).filter(Boolean) as never);
        break;
      case 'string': {
        if (value === '') errors.push(`${flag}: must not be empty`);
        else if (name === 'v') {
          const level = logLevelOf(value!);
          if (level) spec.apply(state, level as never);
          else errors.push(`${flag}: ${JSON.stringify(value)} must be a verbosity number or debug|info|warn|error`);
        } else spec.apply(state, value as never);
        break;
      }
    }
  }

  applyFamilies(state, errors);
  applyPeers(state, errors);
  return { overlay: state.overlay, errors };
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
