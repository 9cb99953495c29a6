import { execFileSync } from 'node:child_process';

/**
 * Network namespaces for tests. Every namespace a test makes is registered
 * here and deleted by `deleteAllTestNetns()` (called from a root hook and on
 * process exit), also when a test fails.
 */
const created = new Set<string>();

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Creates a fresh namespace named `krt-<tag>-<pid>-<n>` with lo up. */
let counter = 0;
export function createNetns(tag: string): string {
  const name = `krt-${tag}-${process.pid}-${counter++}`.slice(0, 60);
  sh('ip', ['netns', 'add', name]);
  created.add(name);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function deleteNetns(name: string): void {
  try {
    sh('ip', ['netns', 'delete', name]);
  } catch {
    /* already gone */
  }
  created.delete(name);
}

export function deleteAllTestNetns(): void {
  for (const name of [...created]) deleteNetns(name);
}

/** Runs a command inside the namespace and returns stdout. */
export function inNetns(ns: string, cmd: string, args: string[], input?: string): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

/** Joins two namespaces with a veth pair (names must be ≤ 15 chars). */
export function linkNetns(nsA: string, ifA: string, nsB: string, ifB: string): void {
  sh('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
  sh('ip', ['-n', nsA, 'link', 'set', ifA, 'up']);
  sh('ip', ['-n', nsB, 'link', 'set', ifB, 'up']);
}

/** Adds an address with duplicate-address detection off (IPv6 usable at once). */
export function addAddress(ns: string, dev: string, cidr: string): void {
  const args = ['-n', ns, 'addr', 'add', cidr, 'dev', dev];
  if (cidr.includes(':')) args.push('nodad');
  sh('ip', args);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Fails loudly (never skips) when a root-only test runs without root. */
export function requireRoot(): void {
  if (!isRoot()) throw new Error('this test needs root (CI runs as root); run it with sudo');
}

process.on('exit', deleteAllTestNetns);
