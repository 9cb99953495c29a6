import {
  ALL_FAMILIES,
  AddressError,
  parseCidr,
  parseIP,
  readNodeNetwork,
  splitByFamily,
  familyOf as sdkFamilyOf,
  type AddressFamilies,
  type Cidr,
  type Family,
  type Informers,
  type Logger,
  type NodeNetwork,
  type PerFamily,
} from '@krouter/sdk';
import type { FamilyMode } from '../config/schema.ts';

/** Families from a mode; `auto` has none of its own (see nodeFamilies). */
export function familiesOfMode(mode: Exclude<FamilyMode, 'auto'>): Family[] {
  return mode === 'dual' ? ['ipv4', 'ipv6'] : [mode];
}

/** The few Node fields read here; any V1Node fits. */
interface NodeLike {
  status?: { addresses?: Array<{ type?: string; address?: string }> };
}

/** Families of the node's InternalIP addresses (ExternalIP if it has none), in ipv4, ipv6 order. */
export function nodeFamilies(node: unknown): Family[] {
  const addresses = (node as NodeLike | undefined)?.status?.addresses ?? [];
  for (const type of ['InternalIP', 'ExternalIP']) {
    const found = new Set<Family>();
    for (const a of addresses) {
      if (a.type !== type || typeof a.address !== 'string') continue;
      try {
        found.add(parseIP(a.address).family);
      } catch {
        /* a bad address is reported by nodeNetwork */
      }
    }
    if (found.size) return ALL_FAMILIES.filter((f) => found.has(f));
  }
  return [];
}

export interface AddressFamiliesOptions {
  mode: FamilyMode;
  nodeName: string;
  /** Gives the informers on first need, so the service alone starts no watch. */
  informers?: () => Informers;
  logger?: Logger;
}

/**
 * The address-family service. With `families: auto` the enabled families are
 * those of this node's InternalIPs; until the node is known, both (and the
 * answer is fixed once the node has been read, so it never changes under a
 * running plugin).
 */
export class AddressFamiliesService implements AddressFamilies {
  readonly nodeName: string;
  private fixed: Family[] | undefined;

  constructor(private readonly options: AddressFamiliesOptions) {
    this.nodeName = options.nodeName;
    if (options.mode !== 'auto') this.fixed = familiesOfMode(options.mode);
  }

  get enabled(): readonly Family[] {
    if (this.fixed) return this.fixed;
    const node = this.options.informers?.().nodes.get(this.nodeName);
    const found = node ? nodeFamilies(node) : [];
    if (found.length) {
      this.fixed = found;
      this.options.logger?.info('address families from the node', { node: this.nodeName, families: found });
      return found;
    }
    return ALL_FAMILIES;
  }

  /**
   * For `auto`: waits (up to timeoutMs) for the node to be in the informer
   * cache so plugins start with the node's families. Called by the host
   * before plugins start.
   */
  async settle(timeoutMs = 30_000): Promise<void> {
    if (this.fixed || !this.options.informers) return;
    const informers = this.options.informers();
    void informers.nodes; // first access starts the node watch that waitForSync waits for
    try {
      await informers.waitForSync(timeoutMs);
    } catch (err) {
      this.options.logger?.warn('node not known yet; using both families until it is', { error: (err as Error).message });
    }
    if (this.enabled.length === 2 && !this.fixed) {
      this.options.logger?.warn('node has no usable InternalIP yet; both families enabled', { node: this.nodeName });
    }
  }

  isEnabled(family: Family): boolean {
    return this.enabled.includes(family);
  }

  familyOf(ipOrCidr: string): Family {
    return sdkFamilyOf(ipOrCidr);
  }

  split(items: readonly string[]): PerFamily<string[]> & { invalid: string[]; ignored: string[] } {
    const s = splitByFamily(items);
    const out = { ipv4: [] as string[], ipv6: [] as string[], invalid: s.invalid, ignored: [] as string[] };
    for (const family of ALL_FAMILIES) (this.isEnabled(family) ? out[family] : out.ignored).push(...s[family]);
    return out;
  }

  private checkEnabled(input: string, family: Family, expect?: Family): void {
    if (expect && family !== expect) throw new AddressError(input, `is ${family}, expected ${expect}`);
    if (!this.isEnabled(family)) {
      throw new AddressError(input, `family ${family} is not enabled on this node (enabled: ${this.enabled.join(', ')})`);
    }
  }

  validateCidr(cidr: string, family?: Family): Cidr {
    const parsed = parseCidr(cidr);
    this.checkEnabled(cidr, parsed.family, family);
    return parsed;
  }

  validateIP(ip: string, family?: Family): string {
    const parsed = parseIP(ip);
    this.checkEnabled(ip, parsed.family, family);
    return parsed.address;
  }

  nodeNetwork(node: unknown): NodeNetwork {
    return readNodeNetwork(node, this.enabled);
  }

  localNode(): NodeNetwork {
    if (!this.options.informers) throw new Error(`node ${this.nodeName} is not known: no Kubernetes informers`);
    const node = this.options.informers().nodes.get(this.nodeName);
    if (!node) throw new Error(`node ${this.nodeName} is not in the node cache (yet)`);
    return this.nodeNetwork(node);
  }
}
