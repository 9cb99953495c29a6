import { AddressError, KROUTER_ROUTE_PROTOCOL, MacError, parseCidr, parseIP, parseUnicastMac } from '@krouter/sdk';
import type { Cidr, Family, NetlinkOp, Route, Rule } from '@krouter/sdk';

/**
 * Pure rendering of one NetlinkOp into one `ip -batch` line.
 *
 * Validation here is strict on purpose: `ip` exits (ending the whole batch
 * process) on many argument errors such as an address of the wrong family,
 * so anything that can be checked without the kernel is checked here and
 * reported as an error of that op only.
 */

/** Which batch process a line must go to. */
export type Channel = 'main' | 'ipv6';

export interface RenderedOp {
  line: string;
  /**
   * `ip -batch` has no per-line family switch and `rule` falls back to IPv4
   * when no family is given, so IPv6 rules go to a child started with `-6`.
   */
  channel: Channel;
  /**
   * True for lines whose failure can make `ip` exit instead of reporting an
   * error (it resolves these device names while parsing arguments). The
   * batch runner fences such lines with markers so a fatal failure is pinned
   * on exactly this op.
   */
  fatalOnError: boolean;
  /**
   * True when the line can run at the same time as concurrent lines of the
   * other channel: a route whose destination and gateway are of one family
   * touches nothing the other family's routes depend on. Everything else
   * (links, addresses, rules, IPv4 routes over an IPv6 gateway) is a barrier.
   */
  concurrent?: boolean;
}

export class OpValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpValidationError';
  }
}

const U32_MAX = 0xffffffff;

/** Linux interface names: 1..15 bytes, no '/', ':' or whitespace; we also refuse a leading '-'. */
export function checkLinkName(name: unknown, what = 'link name'): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(name) || name === '.' || name === '..') {
    throw new OpValidationError(`invalid ${what} ${JSON.stringify(name)} (1-15 characters of A-Z a-z 0-9 _ . -)`);
  }
  return name;
}

function checkInt(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OpValidationError(`invalid ${what} ${JSON.stringify(value)} (integer ${min}..${max})`);
  }
  return value;
}

// No closures in these helpers: they run for every route of a large batch.
function addressOf(what: string, text: string): { family: Family; address: string } {
  try {
    return parseIP(text);
  } catch (e) {
    if (e instanceof AddressError) throw new OpValidationError(`invalid ${what} ${e.message}`);
    throw e;
  }
}

function prefixOf(what: string, text: string): Cidr {
  try {
    return parseCidr(text);
  } catch (e) {
    if (e instanceof AddressError) throw new OpValidationError(`invalid ${what} ${e.message}`);
    throw e;
  }
}

function wrapAddress<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof AddressError) throw new OpValidationError(`invalid ${what} ${e.message}`);
    throw e;
  }
}

const ROUTE_TYPES = new Set(['unicast', 'blackhole', 'unreachable', 'local']);

/** Describes a route for error messages, e.g. `route 198.18.0.0/24 table 100`. */
export function describeRoute(route: Route): string {
  const parts = [`route ${String(route?.dst)}`];
  if (route?.via) parts.push(`via ${route.via}`);
  if (route?.dev) parts.push(`dev ${route.dev}`);
  if (route?.table !== undefined) parts.push(`table ${route.table}`);
  return parts.join(' ');
}

function renderRoute(verb: 'replace' | 'delete', route: Route): RenderedOp {
  if (!route || typeof route !== 'object') throw new OpValidationError('missing route');
  try {
    return renderRouteLine(verb, route);
  } catch (e) {
    // The route's description is built only on failure: this runs for every route of a large batch.
    if (e instanceof OpValidationError) throw new OpValidationError(`${describeRoute(route)}: ${e.message}`);
    throw e;
  }
}

/** A route goes to its destination family's process, so both families' routes are written at once. */
function renderRouteLine(verb: 'replace' | 'delete', route: Route): RenderedOp {
  const dst = prefixOf('destination', route.dst);
  const family = dst.family;
  let concurrent = true;
  let line = `route ${verb} `;
  const type = route.type ?? 'unicast';
  if (type !== 'unicast') {
    if (!ROUTE_TYPES.has(type)) throw new OpValidationError(`unknown route type ${JSON.stringify(type)}`);
    line += `${type} `;
  }
  line += dst.text;
  if (route.via !== undefined) {
    const via = addressOf('gateway', route.via);
    const extended = via.family === 'ipv6' && family === 'ipv4' && route.extendedNexthop === true;
    if (via.family !== family && !extended) throw new OpValidationError(`gateway ${route.via} is ${via.family} but the destination is ${family}`);
    if (type !== 'unicast') throw new OpValidationError(`a ${type} route cannot have a gateway`);
    line += extended ? ` via inet6 ${via.address}` : ` via ${via.address}`;
    if (extended) concurrent = false;
  }
  if (route.dev !== undefined) line += ` dev ${checkLinkName(route.dev, 'device')}`;
  if (route.onlink) {
    if (route.via === undefined) throw new OpValidationError('onlink needs a gateway');
    line += ' onlink';
  }
  if (route.table !== undefined) line += ` table ${checkInt(route.table, 'table', 1, U32_MAX)}`;
  if (route.metric !== undefined) line += ` metric ${checkInt(route.metric, 'metric', 0, U32_MAX)}`;
  line += ` proto ${route.protocol === undefined ? KROUTER_ROUTE_PROTOCOL : checkInt(route.protocol, 'protocol', 0, 255)}`;
  if (route.src !== undefined) {
    const src = addressOf('source', route.src);
    if (src.family !== family) throw new OpValidationError(`source ${route.src} is ${src.family} but the destination is ${family}`);
    line += ` src ${src.address}`;
  }
  if (route.mtu !== undefined) line += ` mtu ${checkInt(route.mtu, 'mtu', 68, 65535)}`;
  if (verb === 'replace' && type === 'unicast' && route.via === undefined && route.dev === undefined) {
    throw new OpValidationError('a unicast route needs a gateway or a device');
  }
  return { line, channel: channelFor(family), fatalOnError: false, concurrent };
}

function renderAddress(verb: 'replace' | 'delete', dev: string, cidr: string, noDad?: boolean): string {
  checkLinkName(dev, 'device');
  // An interface address may have host bits set (that is the point of it).
  const parsed = wrapAddress(`address on ${dev}:`, () => {
    if (typeof cidr !== 'string' || !cidr.includes('/')) throw new AddressError(String(cidr), 'not a CIDR (address/length)');
    const address = parseIP(cidr.slice(0, cidr.indexOf('/'))).address;
    const c = parseCidr(cidr, undefined, { allowHostBits: true });
    return { family: c.family, text: `${address}/${c.prefixLength}` };
  });
  const parts = ['address', verb, parsed.text, 'dev', dev];
  if (verb === 'replace' && noDad && parsed.family === 'ipv6') parts.push('nodad');
  return parts.join(' ');
}

function ruleFamilyCheck(rule: Rule, field: 'from' | 'to'): string | undefined {
  const value = rule[field];
  if (value === undefined) return undefined;
  const c = wrapAddress(`${field} of rule priority ${rule.priority}:`, () => parseCidr(value));
  if (c.family !== rule.family) {
    throw new OpValidationError(`rule priority ${rule.priority}: ${field} ${value} is ${c.family} but the rule is ${rule.family}`);
  }
  return c.text;
}

function renderRule(verb: 'add' | 'delete', rule: Rule): RenderedOp {
  if (!rule || typeof rule !== 'object') throw new OpValidationError('missing rule');
  if (rule.family !== 'ipv4' && rule.family !== 'ipv6') {
    throw new OpValidationError(`rule: unknown family ${JSON.stringify((rule as { family?: unknown }).family)}`);
  }
  const parts = ['rule', verb, 'priority', String(checkInt(rule.priority, 'rule priority', 0, U32_MAX))];
  const from = ruleFamilyCheck(rule, 'from');
  const to = ruleFamilyCheck(rule, 'to');
  if (from) parts.push('from', from);
  if (to) parts.push('to', to);
  if (rule.fwmark !== undefined) {
    parts.push('fwmark', `0x${checkInt(rule.fwmark, `fwmark of rule priority ${rule.priority}`, 0, U32_MAX).toString(16)}`);
  }
  parts.push('table', String(checkInt(rule.table, `table of rule priority ${rule.priority}`, 1, U32_MAX)));
  return { line: parts.join(' '), channel: channelFor(rule.family), fatalOnError: false };
}

function channelFor(family: Family): Channel {
  return family === 'ipv6' ? 'ipv6' : 'main';
}

/** `address MAC` for a link's own address; a malformed or non-unicast MAC is refused naming the link. */
function macPart(mac: string | undefined, name: string): string[] {
  if (mac === undefined) return [];
  try {
    return ['address', parseUnicastMac(mac)];
  } catch (e) {
    if (e instanceof MacError) throw new OpValidationError(`invalid MAC of ${name} ${e.message}`);
    throw e;
  }
}

function mtuPart(mtu: number | undefined, name: string): string[] {
  return mtu === undefined ? [] : ['mtu', String(checkInt(mtu, `mtu of ${name}`, 68, 65535))];
}

/** Renders one op; throws OpValidationError naming the object when the op is malformed. */
/** A line for the main ip process. A module function, not a closure per op: see renderOp. */
function main(line: string, fatalOnError = false): RenderedOp {
  return { line, channel: 'main', fatalOnError };
}

/** Renders one op (called per route of a large batch: no closures created per call). */
export function renderOp(op: NetlinkOp): RenderedOp {
  switch (op?.op) {
    case 'route.replace':
      return renderRoute('replace', op.route);
    case 'route.delete':
      return renderRoute('delete', op.route);
    case 'addr.replace':
      return main(renderAddress('replace', op.dev, op.cidr, op.noDad));
    case 'addr.delete':
      return main(renderAddress('delete', op.dev, op.cidr));
    case 'link.bridge': {
      const name = checkLinkName(op.name);
      return main(['link', 'add', 'name', name, ...macPart(op.mac, name), ...mtuPart(op.mtu, name), 'type', 'bridge'].join(' '));
    }
    case 'link.veth': {
      const name = checkLinkName(op.name);
      const peer = checkLinkName(op.peer, `peer name of ${name}`);
      const mtu = mtuPart(op.mtu, name);
      return main(['link', 'add', 'name', name, ...mtu, 'type', 'veth', 'peer', 'name', peer, ...mtu].join(' '));
    }
    case 'link.vxlan': {
      const name = checkLinkName(op.name);
      const parts = ['link', 'add', 'name', name, ...mtuPart(op.mtu, name), 'type', 'vxlan'];
      parts.push('id', String(checkInt(op.vni, `vni of ${name}`, 0, 0xffffff)));
      if (op.dev !== undefined) parts.push('dev', checkLinkName(op.dev, `underlay device of ${name}`));
      if (op.local !== undefined) parts.push('local', wrapAddress(`local address of ${name}:`, () => parseIP(op.local!)).address);
      parts.push('dstport', String(checkInt(op.port ?? 4789, `port of ${name}`, 1, 65535)));
      if (op.learning !== undefined) parts.push(op.learning ? 'learning' : 'nolearning');
      // A missing underlay device makes ip exit rather than report.
      return main(parts.join(' '), op.dev !== undefined);
    }
    case 'link.set': {
      const name = checkLinkName(op.name);
      const parts = ['link', 'set', 'dev', name];
      if (op.up !== undefined) parts.push(op.up ? 'up' : 'down');
      parts.push(...macPart(op.mac, name));
      parts.push(...mtuPart(op.mtu, name));
      if (op.master === null) parts.push('nomaster');
      else if (op.master !== undefined) parts.push('master', checkLinkName(op.master, `master of ${name}`));
      if (parts.length === 4) throw new OpValidationError(`link.set ${name}: nothing to set`);
      // A missing master device makes ip exit rather than report.
      return main(parts.join(' '), typeof op.master === 'string');
    }
    case 'link.delete':
      return main(`link delete dev ${checkLinkName(op.name)}`);
    case 'rule.add':
      return renderRule('add', op.rule);
    case 'rule.delete':
      return renderRule('delete', op.rule);
    default:
      throw new OpValidationError(`unknown op ${JSON.stringify((op as { op?: unknown })?.op)}`);
  }
}
