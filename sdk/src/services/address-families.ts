import type { Cidr, Family, PerFamily } from '../families.ts';
import { serviceToken } from '../token.ts';

/** What krouter knows about one node's addressing, per family. */
export interface NodeNetwork {
  name: string;
  /** InternalIP then ExternalIP addresses of the node, per family. */
  ips: PerFamily<string[]>;
  /** The first InternalIP (else ExternalIP) of each family. */
  primaryIP: PerFamily<string | undefined>;
  /** spec.podCIDRs, else the `kube-router.io/pod-cidrs` annotation (else spec.podCIDR). */
  podCIDRs: PerFamily<string[]>;
  /** Problems found reading the node (bad CIDR, family not enabled...), one line each. */
  errors: string[];
}

/**
 * The address-family service: the only place plugins learn which families are
 * enabled and which family an address belongs to.
 */
export interface AddressFamilies {
  /** Enabled families, always in the order ipv4, ipv6. */
  readonly enabled: readonly Family[];
  isEnabled(family: Family): boolean;
  /** Family of an IP or CIDR; throws AddressError. */
  familyOf(ipOrCidr: string): Family;
  /** Splits by family, dropping families that are not enabled into `ignored`. */
  split(items: readonly string[]): PerFamily<string[]> & { invalid: string[]; ignored: string[] };
  /** Parses a CIDR and checks that its family is enabled (and is `family` if given). */
  validateCidr(cidr: string, family?: Family): Cidr;
  /** Parses an IP and checks that its family is enabled (and is `family` if given). */
  validateIP(ip: string, family?: Family): string;
  /** Pure reading of any Node object (a Kubernetes V1Node shape). */
  nodeNetwork(node: unknown): NodeNetwork;
  /** This node's name (from config / --hostname-override / hostname). */
  readonly nodeName: string;
  /** This node, read from the Node informer; throws if the node is not known yet. */
  localNode(): NodeNetwork;
}

export const AddressFamilies = serviceToken<AddressFamilies>('address-families', 1);
