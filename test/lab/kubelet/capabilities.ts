/**
 * A container's securityContext as a runtime applies it to the process, for
 * the lab kubelet: a privileged container keeps every capability of the
 * (root) kubelet; any other runs with exactly the runtime's default set,
 * less `capabilities.drop`, plus `capabilities.add` — in its bounding,
 * inheritable and ambient sets (and so, as root, its permitted and
 * effective sets), applied by util-linux's `setpriv` right before the
 * container's command. Pure: the lab unit tests check the argv.
 */

export interface SecurityContextLike {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
}

/**
 * What containerd and CRI-O give a container that names no capabilities
 * (containerd's default spec, as Kubernetes' runtimes use it).
 */
export const RUNTIME_DEFAULT_CAPABILITIES: readonly string[] = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'NET_RAW',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
];

/** `NET_ADMIN`, `CAP_NET_ADMIN`, `net_admin` -> `NET_ADMIN`. */
export function capabilityName(name: string): string {
  const upper = name.trim().toUpperCase();
  const bare = upper.startsWith('CAP_') ? upper.slice(4) : upper;
  if (!/^[A-Z_]+$/.test(bare)) throw new Error(`capability ${JSON.stringify(name)}: not a capability name`);
  return bare;
}

/**
 * The capability set a container's process gets, sorted; undefined for a
 * privileged container (every capability: nothing is dropped).
 */
export function containerCapabilities(sc: SecurityContextLike | undefined): string[] | undefined {
  if (sc?.privileged) return undefined;
  const drop = (sc?.capabilities?.drop ?? []).map(capabilityName);
  const add = (sc?.capabilities?.add ?? []).map(capabilityName);
  const base = drop.includes('ALL') ? [] : RUNTIME_DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  if (add.includes('ALL')) return undefined;
  return [...new Set([...base, ...add])].sort();
}

/**
 * The `setpriv` prefix that gives the command exactly that set (empty for a
 * privileged container). `--no-new-privs` when allowPrivilegeEscalation is false.
 */
export function capabilityArgv(sc: SecurityContextLike | undefined): string[] {
  const caps = containerCapabilities(sc);
  if (caps === undefined) return [];
  const list = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
  return [
    'setpriv',
    `--inh-caps=${list}`,
    `--ambient-caps=${list}`,
    `--bounding-set=${list}`,
    ...(sc?.allowPrivilegeEscalation === false ? ['--no-new-privs'] : []),
    '--',
  ];
}

/** Linux capability numbers (linux/capability.h), for reading /proc/PID/status. */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  LINUX_IMMUTABLE: 9,
  NET_BIND_SERVICE: 10,
  NET_BROADCAST: 11,
  NET_ADMIN: 12,
  NET_RAW: 13,
  IPC_LOCK: 14,
  IPC_OWNER: 15,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_PACCT: 20,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  MKNOD: 27,
  LEASE: 28,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  SETFCAP: 31,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
};

/** The names in a /proc/PID/status capability mask (`CapEff:\t0000000000003000`), sorted. */
export function capabilitiesOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  return Object.entries(CAPABILITY_NUMBERS)
    .filter(([, n]) => (mask >> BigInt(n)) & 1n)
    .map(([name]) => name)
    .sort();
}
