/**
 * Command-line flags the way agnhost's (Go, cobra/pflag) subcommands read
 * them: `--name=value`, `--name value`, a single dash too, booleans as bare
 * `--tcp` or `--http=false`; everything else is a positional argument.
 * Pure, so the parsing is unit-tested apart from any socket.
 */

export type FlagKind = 'bool' | 'string' | 'int' | 'duration';
export type FlagSpec = Record<string, { kind: FlagKind; default: boolean | string | number }>;
export type FlagValues = Record<string, boolean | string | number>;

export interface Parsed {
  flags: FlagValues;
  args: string[];
}

const BOOL = new Map([
  ['1', true], ['t', true], ['T', true], ['true', true], ['TRUE', true], ['True', true],
  ['0', false], ['f', false], ['F', false], ['false', false], ['FALSE', false], ['False', false],
]);

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`1s`, `500ms`, `1m30s`, `0`) in milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  const sign = text.startsWith('-') ? -1 : 1;
  if (text.startsWith('-') || text.startsWith('+')) i = 1;
  if (i >= text.length) throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    i = re.lastIndex;
  }
  return sign * total;
}

function convert(name: string, kind: FlagKind, raw: string): boolean | string | number {
  switch (kind) {
    case 'bool': {
      const b = BOOL.get(raw);
      if (b === undefined) throw new Error(`invalid argument ${JSON.stringify(raw)} for "--${name}" flag: strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
      return b;
    }
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw)) throw new Error(`invalid argument ${JSON.stringify(raw)} for "--${name}" flag: strconv.ParseInt: parsing ${JSON.stringify(raw)}: invalid syntax`);
      return Number(raw);
    }
    case 'duration':
      return parseDuration(raw);
    default:
      return raw;
  }
}

/** Flags and positional arguments of `argv` by `spec`; throws with pflag's kind of message on a bad flag. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): Parsed {
  const flags: FlagValues = Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, v.default]));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      args.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const def = spec[name];
    if (!def) throw new Error(`unknown flag: --${name}`);
    if (eq >= 0) flags[name] = convert(name, def.kind, body.slice(eq + 1));
    else if (def.kind === 'bool') flags[name] = true;
    else {
      if (i + 1 >= argv.length) throw new Error(`flag needs an argument: --${name}`);
      flags[name] = convert(name, def.kind, argv[++i]!);
    }
  }
  return { flags, args };
}

/** `host:port` split as Go's net.SplitHostPort does (IPv6 in brackets); throws when it is not one. */
export function splitHostPort(dest: string): { host: string; port: number } {
  const m = /^\[([^\]]*)\]:(\d+)$/.exec(dest) ?? /^([^:[\]]*):(\d+)$/.exec(dest);
  if (!m) throw new Error(`address ${dest}: ${dest.includes(':') ? 'too many colons in address' : 'missing port in address'}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** `host:port` for a client address as Go prints it: IPv6 in brackets, IPv4-mapped IPv6 as plain IPv4. */
export function joinHostPort(host: string, port: number): string {
  const h = host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

/** The pod's hostname: the kubelet sets HOSTNAME to the pod's name (all lab pods share this machine's UTS namespace). */
export function podHostname(env: NodeJS.ProcessEnv, fallback: string): string {
  return env.HOSTNAME || fallback;
}
