import { parseCidr } from '@krouter/sdk';

/**
 * Taking over an existing CNI config list (kube-router's, an operator's, or
 * our own from an earlier start): pure, existing text + desired list -> new
 * text and a line per change.
 *
 * What we need in the list is set; everything else in the file is kept:
 * - top level: every key stays. `name` stays (host-local keeps its leases
 *   under the network name and runtimes cache results by it, so renaming the
 *   network under running pods would hand out their addresses again) unless
 *   the operator configured one; `cniVersion` stays when the installed
 *   plugins support it (0.3.0 and later carry one address per family).
 * - the `bridge` entry: its keys stay; ours (`bridge`, `isGateway`,
 *   `isDefaultGateway`, `hairpinMode`, `mtu`) are set. Its `ipam` keeps its
 *   keys too, with `type: host-local`, our `dataDir` when configured, and
 *   `ranges` = one range set per family from the node's pod CIDRs. A range
 *   of a subnet we keep keeps its extra keys (`rangeStart`, ...); ranges of
 *   other subnets go, and so do the legacy single-range keys (`subnet`,
 *   `rangeStart`, `rangeEnd`, `gateway`), which host-local would prepend to
 *   `ranges` as one more range.
 * - `portmap`: when wanted, the operator's entry stays with
 *   `capabilities.portMappings` set (ours is added after the bridge when
 *   there is none); when not wanted, it is removed.
 * - every other entry (bandwidth, tuning, ...) stays, in its place; the
 *   bridge comes first, since it creates the interface the rest work on.
 * A file holding a single network config (`type` at the top, no `plugins`)
 * is read as a list of that one plugin.
 */

type Json = Record<string, unknown>;

/** Versions containernetworking-plugins 1.1.1 supports and that carry an address per family. */
export const KEPT_CNI_VERSIONS: ReadonlySet<string> = new Set(['0.3.0', '0.3.1', '0.4.0', '1.0.0']);
export const DEFAULT_NETWORK_NAME = 'kubernetes';
/** Legacy single-range keys of host-local's `ipam` (the `Range` inlined into the IPAM config). */
const LEGACY_RANGE_KEYS = ['subnet', 'rangeStart', 'rangeEnd', 'gateway'] as const;

export interface DesiredRange {
  subnet: string;
  gateway: string;
}

export interface DesiredConflist {
  cniVersion: string;
  /** The configured network name; undefined: keep the file's, or DEFAULT_NETWORK_NAME for a new file. */
  name: string | undefined;
  /** Keys of our bridge entry, `type` and `ipam` excluded. */
  bridge: Json;
  ipam: { dataDir?: string };
  /** One range per enabled family, in family order. */
  ranges: DesiredRange[];
  /** Our portmap entry; undefined: no portmap in the list. */
  portmap: Json | undefined;
}

export interface TakeOver {
  text: string;
  /** One line per change made to an existing file (empty for a new or unchanged file). */
  changes: string[];
  /** Set when the existing text could not be read and is replaced whole. */
  warning?: string;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));

/** A subnet in canonical text, or the raw string when it is not a CIDR. */
function canonical(subnet: unknown): string {
  if (typeof subnet !== 'string') return String(subnet);
  const bare = subnet.trim();
  // host-local accepts a host address with a prefix (198.18.1.1/24): compare by network.
  try {
    return parseCidr(bare, undefined, { allowHostBits: true }).text;
  } catch {
    return bare;
  }
}

/** The existing file as a list, or a warning when it is not one. */
function readExisting(existingText: string | undefined): { list?: Json; warning?: string } {
  if (existingText === undefined || existingText.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(existingText);
  } catch (err) {
    return { warning: `existing CNI config is not valid JSON (${(err as Error).message}); replacing it` };
  }
  if (!isObject(parsed)) return { warning: 'existing CNI config is not a JSON object; replacing it' };
  if (Array.isArray(parsed.plugins)) return { list: parsed };
  if (typeof parsed.type === 'string') {
    // A single network config: its top-level keys stay at the top, the rest is the one plugin.
    const { cniVersion, name, ...plugin } = parsed;
    const list: Json = { plugins: [plugin] };
    if (cniVersion !== undefined) list.cniVersion = cniVersion;
    if (name !== undefined) list.name = name;
    return { list };
  }
  return { warning: 'existing CNI config has neither "plugins" nor "type"; replacing it' };
}

function newList(desired: DesiredConflist): Json {
  const bridge: Json = { type: 'bridge', ...desired.bridge, ipam: newIpam(desired) };
  const plugins: Json[] = [bridge];
  if (desired.portmap) plugins.push(desired.portmap);
  return { cniVersion: desired.cniVersion, name: desired.name ?? DEFAULT_NETWORK_NAME, plugins };
}

function newIpam(desired: DesiredConflist): Json {
  const ipam: Json = { type: 'host-local', ranges: desired.ranges.map((r) => [{ ...r }]) };
  if (desired.ipam.dataDir) ipam.dataDir = desired.ipam.dataDir;
  return ipam;
}

function mergeIpam(existing: unknown, desired: DesiredConflist, changes: string[]): Json {
  const old: Json = isObject(existing) ? existing : {};
  if (!isObject(existing)) changes.push('bridge: ipam added');
  // Ranges present now, by subnet: the range sets, then the legacy single range.
  const known = new Map<string, Json>();
  const oldSubnets: string[] = [];
  if (Array.isArray(old.ranges)) {
    for (const set of old.ranges) {
      for (const r of Array.isArray(set) ? set : []) {
        if (!isObject(r)) continue;
        const key = canonical(r.subnet);
        oldSubnets.push(key);
        if (!known.has(key)) known.set(key, r);
      }
    }
  }
  const legacy: Json = {};
  for (const k of LEGACY_RANGE_KEYS) if (old[k] !== undefined) legacy[k] = old[k];
  if (legacy.subnet !== undefined) {
    const key = canonical(legacy.subnet);
    oldSubnets.push(key);
    if (!known.has(key)) known.set(key, legacy);
  }
  const rest = Object.fromEntries(Object.entries(old).filter(([k]) => !(LEGACY_RANGE_KEYS as readonly string[]).includes(k)));
  for (const k of LEGACY_RANGE_KEYS) if (old[k] !== undefined) changes.push(`bridge: legacy ipam.${k} ${show(old[k])} folded into ranges`);

  const ranges = desired.ranges.map((d) => {
    const kept = known.get(canonical(d.subnet));
    return [{ ...(kept ?? {}), subnet: d.subnet, gateway: d.gateway }];
  });
  const wanted = new Set(desired.ranges.map((d) => canonical(d.subnet)));
  for (const s of new Set(oldSubnets)) if (!wanted.has(s)) changes.push(`bridge: ipam range ${s} removed (not a pod CIDR of this node)`);
  for (const d of desired.ranges) {
    const before = known.get(canonical(d.subnet));
    if (!before) changes.push(`bridge: ipam range ${d.subnet} added`);
    else if (before.gateway !== d.gateway) changes.push(`bridge: ipam range ${d.subnet} gateway ${show(before.gateway)} -> ${show(d.gateway)}`);
  }

  const ipam: Json = { ...rest, type: 'host-local' };
  if (rest.type !== undefined && rest.type !== 'host-local') changes.push(`bridge: ipam type ${show(rest.type)} -> "host-local"`);
  if (desired.ipam.dataDir) {
    if (rest.dataDir !== desired.ipam.dataDir) changes.push(`bridge: ipam dataDir ${show(rest.dataDir)} -> ${show(desired.ipam.dataDir)}`);
    ipam.dataDir = desired.ipam.dataDir;
  }
  ipam.ranges = ranges;
  return ipam;
}

/** The new text of the CNI config list file, given what it holds now (undefined: no file). */
export function takeOverConflist(existingText: string | undefined, desired: DesiredConflist): TakeOver {
  const { list: existing, warning } = readExisting(existingText);
  if (!existing) return { text: JSON.stringify(newList(desired), null, 2) + '\n', changes: [], warning };
  const changes: string[] = [];

  // Top level: every key stays; the version and name only change when they must.
  const top: Json = { ...existing };
  const version = KEPT_CNI_VERSIONS.has(String(existing.cniVersion)) ? existing.cniVersion : desired.cniVersion;
  if (version !== existing.cniVersion) changes.push(`cniVersion ${show(existing.cniVersion)} -> ${show(version)} (the installed plugins need 0.3.0 or later)`);
  top.cniVersion = version;
  const name = desired.name ?? (typeof existing.name === 'string' && existing.name !== '' ? existing.name : DEFAULT_NETWORK_NAME);
  if (name !== existing.name) changes.push(`name ${show(existing.name)} -> ${show(name)}`);
  top.name = name;

  const entries = (existing.plugins as unknown[]).filter(isObject);
  const bridges = entries.filter((p) => p.type === 'bridge');
  if (bridges.length > 1) changes.push(`${bridges.length - 1} more "bridge" entr${bridges.length > 2 ? 'ies' : 'y'} removed (one interface per pod)`);
  const oldBridge = bridges[0];
  let bridge: Json;
  if (!oldBridge) {
    changes.push('bridge entry added');
    bridge = { type: 'bridge', ...desired.bridge, ipam: newIpam(desired) };
  } else {
    bridge = { ...oldBridge };
    for (const [k, v] of Object.entries(desired.bridge)) {
      if (JSON.stringify(oldBridge[k]) !== JSON.stringify(v)) changes.push(`bridge: ${k} ${show(oldBridge[k])} -> ${show(v)}`);
      bridge[k] = v;
    }
    bridge.ipam = mergeIpam(oldBridge.ipam, desired, changes);
  }

  const others: Json[] = [];
  let portmapSeen = false;
  for (const p of entries) {
    if (p.type === 'bridge') continue;
    if (p.type === 'portmap') {
      if (!desired.portmap) {
        changes.push('portmap entry removed (portmap is off)');
        continue;
      }
      if (portmapSeen) {
        changes.push('duplicate portmap entry removed');
        continue;
      }
      portmapSeen = true;
      const caps = isObject(p.capabilities) ? p.capabilities : {};
      if (caps.portMappings !== true) changes.push('portmap: capabilities.portMappings set');
      const merged: Json = { ...desired.portmap, ...p, capabilities: { ...caps, portMappings: true } };
      for (const k of Object.keys(desired.portmap)) if (!(k in p)) changes.push(`portmap: ${k} ${show(desired.portmap[k])} added`);
      others.push(merged);
      continue;
    }
    others.push(p);
  }
  if (desired.portmap && !portmapSeen) {
    changes.push('portmap entry added');
    others.unshift(desired.portmap);
  }
  if (oldBridge && entries[0] !== oldBridge) changes.push('bridge entry moved first');
  const dropped = (existing.plugins as unknown[]).length - entries.length;
  if (dropped) changes.push(`${dropped} list entr${dropped > 1 ? 'ies' : 'y'} that were not objects removed`);

  top.plugins = [bridge, ...others];
  return { text: JSON.stringify(top, null, 2) + '\n', changes, warning };
}
