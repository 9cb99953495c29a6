import type { Family } from './families.ts';

/** One sysctl setting. */
export interface SysctlSetting {
  key: string;
  value: string;
}

/**
 * The kernel settings (sysctl keys) that are named differently per address
 * family, in one place, so plugins that set them for every enabled family
 * never branch on the family.
 */
export interface SysctlFamilyWords {
  /** Routing between interfaces, namespace wide: `net.ipv4.ip_forward`, `net.ipv6.conf.all.forwarding`. */
  readonly forwarding: string;
  /** br_netfilter: bridged frames of this family traverse its netfilter hooks (exists only while br_netfilter is loaded). */
  readonly bridgeNfCall: string;
  /**
   * Per interface: announce its addresses to the link (gratuitous ARP /
   * unsolicited neighbour advertisement) when its MAC changes, so neighbours
   * replace a cached MAC at once instead of waiting for it to go stale.
   */
  announceOnMacChange(dev: string): string;
  /**
   * Per interface: what makes the family's addresses on it usable at once
   * (IPv6: enabled, no duplicate address detection). IPv4 needs nothing.
   */
  usableAtOnce(dev: string): SysctlSetting[];
}

const WORDS: Record<Family, SysctlFamilyWords> = {
  ipv4: {
    forwarding: 'net.ipv4.ip_forward',
    bridgeNfCall: 'net.bridge.bridge-nf-call-iptables',
    announceOnMacChange: (dev) => `net.ipv4.conf.${dev}.arp_notify`,
    usableAtOnce: () => [],
  },
  ipv6: {
    forwarding: 'net.ipv6.conf.all.forwarding',
    bridgeNfCall: 'net.bridge.bridge-nf-call-ip6tables',
    announceOnMacChange: (dev) => `net.ipv6.conf.${dev}.ndisc_notify`,
    usableAtOnce: (dev) => [
      { key: `net.ipv6.conf.${dev}.disable_ipv6`, value: '0' },
      { key: `net.ipv6.conf.${dev}.accept_dad`, value: '0' },
    ],
  },
};

/** Sysctl vocabulary of one family. */
export function sysctlWords(family: Family): SysctlFamilyWords {
  return WORDS[family];
}
