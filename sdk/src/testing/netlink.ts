import { familyOf, parseCidr, parseIP, type Family } from '../families.ts';
import { parseUnicastMac } from '../mac.ts';
import {
  KROUTER_ROUTE_PROTOCOL,
  type Address,
  type ApplyResult,
  type Link,
  type Netlink,
  type NetlinkOp,
  type OpError,
  type Route,
  type RouteFilter,
  type Rule,
} from '../services/netlink.ts';

const MAIN_TABLE = 254;

export interface FakeNetlinkOptions {
  /** Extra links besides `lo` (index assigned when absent). */
  links?: Array<Partial<Link> & { name: string }>;
  addresses?: Address[];
  /** Sysctls that exist besides the defaults (e.g. bridge-nf-call keys when br_netfilter is "loaded"). */
  sysctls?: Record<string, string>;
}

/**
 * Netlink in memory: links, addresses, routes, rules and sysctls of one
 * pretend namespace. apply() validates each op as the kernel would refuse it
 * (missing device, wrong-family gateway, host bits, duplicates, missing
 * objects on delete), reports failures per op and still applies the rest, as
 * the host's `ip -force -batch` does. Every batch is recorded in `batches`.
 *
 * MACs behave as Linux's do: links made by apply() get a generated address,
 * and a bridge whose address was never set explicitly (at creation or with
 * link.set) carries the lowest MAC among its ports, changing as ports join
 * and leave.
 */
export class FakeNetlink implements Netlink {
  readonly links = new Map<string, Link>();
  readonly addresses: Address[] = [];
  readonly routes: Route[] = [];
  readonly rules: Rule[] = [];
  readonly sysctls = new Map<string, string>([
    ['net.ipv4.ip_forward', '0'],
    ['net.ipv6.conf.all.forwarding', '0'],
    ['net.ipv6.conf.all.disable_ipv6', '0'],
    ['net.ipv6.conf.default.accept_dad', '1'],
    ['net.ipv6.conf.default.disable_ipv6', '0'],
  ]);
  /** Every apply() call's ops, in order. */
  readonly batches: NetlinkOp[][] = [];
  /** Peers of veth pairs, both directions. */
  private readonly peers = new Map<string, string>();
  /** Links whose MAC was set explicitly: a bridge among them no longer follows its ports. */
  private readonly macSet = new Set<string>();
  private nextIndex = 1;

  constructor(opts: FakeNetlinkOptions = {}) {
    this.addLink({ name: 'lo', kind: undefined, mtu: 65536, up: true });
    for (const l of opts.links ?? []) this.addLink(l);
    for (const a of opts.addresses ?? []) this.addresses.push(this.normaliseAddress(a.dev, a.cidr, a.scope));
    for (const [k, v] of Object.entries(opts.sysctls ?? {})) this.sysctls.set(k, v);
  }

  /** Adds a link directly (test setup), bypassing apply(). */
  addLink(link: Partial<Link> & { name: string }): Link {
    const full: Link = { index: this.nextIndex, mtu: 1500, up: false, ...link };
    this.nextIndex = Math.max(this.nextIndex, full.index) + 1;
    this.links.set(full.name, full);
    return full;
  }

  private normaliseAddress(dev: string, cidr: string, scope?: string): Address {
    const c = parseCidr(cidr, undefined, { allowHostBits: true });
    const addr = parseIP(cidr.split('/')[0]!).address;
    return { dev, family: c.family, cidr: `${addr}/${c.prefixLength}`, scope: scope ?? (addr.startsWith('fe80:') ? 'link' : 'global') };
  }

  private requireLink(name: string): Link {
    const l = this.links.get(name);
    if (!l) throw new Error(`Cannot find device "${name}"`);
    return l;
  }

  private routeKey(r: Route): string {
    return `${r.table ?? MAIN_TABLE}|${parseCidr(r.dst).text}|${r.metric ?? 0}`;
  }

  private checkRoute(r: Route): Route {
    if (r.dst === 'default') throw new Error('dst "default" is not allowed; use 0.0.0.0/0 or ::/0');
    const dst = parseCidr(r.dst); // throws on host bits or bad text
    if (r.via !== undefined) {
      const via = familyOf(r.via);
      const extended = dst.family === 'ipv4' && via === 'ipv6' && r.extendedNexthop === true;
      if (via !== dst.family && !extended) throw new Error(`via ${r.via} is ${via} but dst ${r.dst} is ${dst.family}`);
    }
    if (r.src !== undefined && familyOf(r.src) !== dst.family) throw new Error(`src ${r.src} is not ${dst.family}`);
    if (r.dev !== undefined) this.requireLink(r.dev);
    const type = r.type ?? 'unicast';
    if (type === 'unicast' && r.via === undefined && r.dev === undefined) throw new Error(`route ${r.dst}: needs dev or via`);
    return { ...r, dst: dst.text, protocol: r.protocol ?? KROUTER_ROUTE_PROTOCOL };
  }

  private ruleMatches(a: Rule, b: Rule): boolean {
    return a.family === b.family && a.priority === b.priority && a.from === b.from && a.to === b.to && a.fwmark === b.fwmark && a.table === b.table;
  }

  private applyOne(op: NetlinkOp): void {
    switch (op.op) {
      case 'route.replace': {
        const r = this.checkRoute(op.route);
        const key = this.routeKey(r);
        const i = this.routes.findIndex((x) => this.routeKey(x) === key);
        if (i >= 0) this.routes[i] = r;
        else this.routes.push(r);
        return;
      }
      case 'route.delete': {
        const key = this.routeKey(this.checkRoute(op.route));
        const i = this.routes.findIndex((x) => this.routeKey(x) === key);
        if (i < 0) throw new Error(`RTNETLINK answers: No such process (route ${op.route.dst})`);
        this.routes.splice(i, 1);
        return;
      }
      case 'addr.replace': {
        this.requireLink(op.dev);
        const a = this.normaliseAddress(op.dev, op.cidr);
        const ip = a.cidr.split('/')[0];
        const i = this.addresses.findIndex((x) => x.dev === op.dev && x.cidr.split('/')[0] === ip);
        if (i >= 0) this.addresses[i] = a;
        else this.addresses.push(a);
        return;
      }
      case 'addr.delete': {
        this.requireLink(op.dev);
        const a = this.normaliseAddress(op.dev, op.cidr);
        const i = this.addresses.findIndex((x) => x.dev === op.dev && x.cidr === a.cidr);
        if (i < 0) throw new Error(`RTNETLINK answers: Cannot assign requested address (${op.cidr} on ${op.dev})`);
        this.addresses.splice(i, 1);
        return;
      }
      case 'link.bridge':
      case 'link.vxlan': {
        if (this.links.has(op.name)) throw new Error(`RTNETLINK answers: File exists (${op.name})`);
        if (op.op === 'link.vxlan' && op.dev !== undefined) this.requireLink(op.dev);
        const mac = op.op === 'link.bridge' && op.mac !== undefined ? parseUnicastMac(op.mac) : undefined;
        const link = this.addLink({ name: op.name, kind: op.op === 'link.bridge' ? 'bridge' : 'vxlan', mtu: op.mtu ?? 1500, mac: mac ?? this.generatedMac() });
        if (mac) this.macSet.add(link.name);
        return;
      }
      case 'link.veth': {
        for (const n of [op.name, op.peer]) if (this.links.has(n)) throw new Error(`RTNETLINK answers: File exists (${n})`);
        this.addLink({ name: op.name, kind: 'veth', mtu: op.mtu ?? 1500, mac: this.generatedMac() });
        this.addLink({ name: op.peer, kind: 'veth', mtu: op.mtu ?? 1500, mac: this.generatedMac() });
        this.peers.set(op.name, op.peer).set(op.peer, op.name);
        return;
      }
      case 'link.set': {
        const l = this.requireLink(op.name);
        if (op.master) {
          const m = this.requireLink(op.master);
          if (m.kind !== 'bridge') throw new Error(`${op.master} is not a bridge`);
        }
        if (op.mtu !== undefined && (op.mtu < 68 || op.mtu > 65535)) throw new Error(`mtu ${op.mtu} out of range`);
        const mac = op.mac === undefined ? undefined : parseUnicastMac(op.mac);
        const oldMaster = l.master;
        if (op.up !== undefined) l.up = op.up;
        if (op.mtu !== undefined) l.mtu = op.mtu;
        if (mac !== undefined) {
          l.mac = mac;
          this.macSet.add(l.name);
        }
        if (op.master === null) delete l.master;
        else if (op.master !== undefined) l.master = op.master;
        for (const bridge of new Set([oldMaster, l.master])) if (bridge) this.followPorts(bridge);
        return;
      }
      case 'link.delete': {
        this.requireLink(op.name);
        const peer = this.peers.get(op.name);
        for (const name of peer ? [op.name, peer] : [op.name]) this.removeLink(name);
        return;
      }
      case 'rule.add': {
        if (this.rules.some((r) => this.ruleMatches(r, op.rule))) throw new Error('RTNETLINK answers: File exists (rule)');
        this.rules.push({ ...op.rule });
        return;
      }
      case 'rule.delete': {
        const i = this.rules.findIndex((r) => this.ruleMatches(r, op.rule));
        if (i < 0) throw new Error('RTNETLINK answers: No such file or directory (rule)');
        this.rules.splice(i, 1);
        return;
      }
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }

  private removeLink(name: string) {
    const master = this.links.get(name)?.master;
    this.links.delete(name);
    this.peers.delete(name);
    this.macSet.delete(name);
    for (let i = this.addresses.length - 1; i >= 0; i--) if (this.addresses[i]!.dev === name) this.addresses.splice(i, 1);
    for (let i = this.routes.length - 1; i >= 0; i--) if (this.routes[i]!.dev === name) this.routes.splice(i, 1);
    for (const l of this.links.values()) if (l.master === name) delete l.master;
    if (master) this.followPorts(master);
  }

  /** A distinct locally administered MAC per link made, as the kernel's random ones are. */
  private generatedMac(): string {
    const n = this.nextIndex;
    return `02:fa:${[n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
  }

  /**
   * Linux's rule (br_stp_recalculate_bridge_id) for a bridge whose MAC was
   * never set explicitly: it takes the lowest MAC among its ports, and all
   * zeros once the last port has left.
   */
  private followPorts(bridgeName: string): void {
    const bridge = this.links.get(bridgeName);
    if (!bridge || bridge.kind !== 'bridge' || this.macSet.has(bridgeName)) return;
    const ports = [...this.links.values()].filter((l) => l.master === bridgeName && l.mac).map((l) => l.mac!).sort();
    bridge.mac = ports[0] ?? '00:00:00:00:00:00';
  }

  async apply(ops: readonly NetlinkOp[]): Promise<ApplyResult> {
    this.batches.push(structuredClone([...ops]));
    const errors: OpError[] = [];
    ops.forEach((op, index) => {
      try {
        this.applyOne(op);
      } catch (err) {
        errors.push({ index, op, message: err instanceof Error ? err.message : String(err) });
      }
    });
    return { ok: errors.length === 0, errors };
  }

  async listLinks(): Promise<Link[]> {
    return [...this.links.values()].map((l) => ({ ...l }));
  }
  async getLink(name: string): Promise<Link | undefined> {
    const l = this.links.get(name);
    return l && { ...l };
  }
  async listAddresses(dev?: string): Promise<Address[]> {
    return this.addresses.filter((a) => dev === undefined || a.dev === dev).map((a) => ({ ...a }));
  }
  async listRoutes(filter: RouteFilter): Promise<Route[]> {
    const protocol = filter.protocol ?? KROUTER_ROUTE_PROTOCOL;
    return this.routes
      .filter((r) => familyOf(r.dst) === filter.family)
      .filter((r) => protocol === 'all' || r.protocol === protocol)
      .filter((r) => (r.table ?? MAIN_TABLE) === (filter.table ?? MAIN_TABLE))
      .map((r) => ({ ...r }));
  }
  async listRules(family: Family): Promise<Rule[]> {
    return this.rules.filter((r) => r.family === family).map((r) => ({ ...r }));
  }

  /** Per-interface keys (net.ipv{4,6}.conf.<dev>.*) exist while the link does. */
  private sysctlExists(key: string): boolean {
    if (this.sysctls.has(key)) return true;
    const m = /^net\.ipv[46]\.(?:conf|neigh)\.([^.]+)\.[a-z0-9_]+$/.exec(key);
    return !!m && (this.links.has(m[1]!) || m[1] === 'all' || m[1] === 'default');
  }

  async getSysctl(key: string): Promise<string> {
    if (!this.sysctlExists(key)) throw new Error(`sysctl ${key}: No such file or directory`);
    if (this.sysctls.has(key)) return this.sysctls.get(key)!;
    // A new interface starts with the family's `default` value.
    const parts = key.split('.');
    return this.sysctls.get([...parts.slice(0, 3), 'default', ...parts.slice(4)].join('.')) ?? '0';
  }
  async setSysctl(key: string, value: string | number): Promise<void> {
    if (!this.sysctlExists(key)) throw new Error(`sysctl ${key}: No such file or directory`);
    this.sysctls.set(key, String(value));
  }
}
