import { AddressError, ALL_FAMILIES, parseCidr, parseIP, splitByFamily, type Cidr, type Family, type PerFamily } from '../families.ts';
import { POD_CIDRS_ANNOTATION, readNodeNetwork } from '../node-network.ts';
import type { AddressFamilies, NodeNetwork } from '../services/address-families.ts';
import type { Informer, V1Node } from '../services/informers.ts';

export interface FakeAddressFamiliesOptions {
  /** Enabled families; default both. */
  enabled?: readonly Family[];
  nodeName?: string;
  /** Where localNode() reads this node from (e.g. FakeInformers.nodes). */
  nodes?: Pick<Informer<V1Node>, 'get'>;
  annotationKey?: string;
}

/** The address-family service over a configurable set of enabled families, with the SDK's pure node reading. */
export class FakeAddressFamilies implements AddressFamilies {
  readonly enabled: readonly Family[];
  readonly nodeName: string;
  private readonly nodes?: Pick<Informer<V1Node>, 'get'>;
  private readonly annotationKey: string;

  constructor(opts: FakeAddressFamiliesOptions = {}) {
    const wanted = new Set(opts.enabled ?? ALL_FAMILIES);
    this.enabled = ALL_FAMILIES.filter((f) => wanted.has(f));
    if (this.enabled.length === 0) throw new Error('FakeAddressFamilies: at least one family must be enabled');
    this.nodeName = opts.nodeName ?? 'node-1';
    this.nodes = opts.nodes;
    this.annotationKey = opts.annotationKey ?? POD_CIDRS_ANNOTATION;
  }

  isEnabled(family: Family): boolean {
    return this.enabled.includes(family);
  }

  familyOf(ipOrCidr: string): Family {
    return ipOrCidr.includes('/')
      ? parseCidr(ipOrCidr, undefined, { allowHostBits: true }).family
      : parseIP(ipOrCidr).family;
  }

  split(items: readonly string[]): PerFamily<string[]> & { invalid: string[]; ignored: string[] } {
    const s = splitByFamily(items);
    const ignored: string[] = [];
    for (const f of ALL_FAMILIES) {
      if (!this.isEnabled(f)) {
        ignored.push(...s[f]);
        s[f] = [];
      }
    }
    return { ...s, ignored };
  }

  validateCidr(cidr: string, family?: Family): Cidr {
    const c = parseCidr(cidr, family);
    if (!this.isEnabled(c.family)) throw new AddressError(cidr, `${c.family} is not an enabled family`);
    return c;
  }

  validateIP(ip: string, family?: Family): string {
    const a = parseIP(ip, family);
    if (!this.isEnabled(a.family)) throw new AddressError(ip, `${a.family} is not an enabled family`);
    return a.address;
  }

  nodeNetwork(node: unknown): NodeNetwork {
    return readNodeNetwork(node, this.enabled, this.annotationKey);
  }

  localNode(): NodeNetwork {
    const node = this.nodes?.get(this.nodeName);
    if (!node) throw new Error(`node ${JSON.stringify(this.nodeName)} is not known yet`);
    return this.nodeNetwork(node);
  }
}
