import { z } from 'zod';
import { isCidr, parseUnicastMac } from '@krouter/sdk';

const cidr = z.string().refine(isCidr, { message: 'must be a CIDR with no host bits, e.g. 198.18.0.0/16 or fd00::/48' });

/** A unicast MAC, normalised to lower case. */
const mac = z.string().transform((s, ctx) => {
  try {
    return parseUnicastMac(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be a unicast MAC, e.g. 02:00:00:00:00:01 (${(err as Error).message})` });
    return z.NEVER;
  }
});

/** Linux interface names: 1-15 characters, no slash, no whitespace. */
const ifname = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a Linux interface name (1-15 letters, digits, _ . -)');

export const configSchema = z
  .object({
    /** Set by the host's config file; the plugin does not use it itself. */
    enabled: z.boolean().optional(),
    confPath: z.string().startsWith('/', 'must be an absolute path').default('/etc/cni/net.d/10-kuberouter.conflist'),
    /** The network's name; unset: the existing file's (kube-router's is "mynet"), "kubernetes" for a new file. */
    networkName: z.string().min(1).optional(),
    bridge: ifname.default('kube-bridge'),
    /** The bridge's own MAC; derived from the node name when unset. */
    bridgeMac: mac.optional(),
    mtu: z.union([z.literal('auto'), z.number().int().min(576).max(65535)]).default('auto'),
    ipamDataDir: z.string().startsWith('/', 'must be an absolute path').optional(),
    masquerade: z.boolean().default(true),
    clusterCIDRs: z.array(cidr).default([]),
    hairpinMode: z.boolean().default(true),
    portmap: z.boolean().default(true),
  })
  .strict();

export type CniConfig = z.output<typeof configSchema>;
