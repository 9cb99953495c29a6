import { z } from 'zod';

export const firewallConfigSchema = z
  .object({
    /** Set by the host's config file (or --run-firewall); the plugin does not use it itself. */
    enabled: z.boolean().optional(),
    /**
     * Drop traffic of this node's pod addresses the firewall has not judged
     * yet (--netpol-default-deny), so a new pod is never open before its
     * policies are programmed.
     */
    defaultDeny: z.boolean().default(true),
    /** Log denied packets through nft's log statement, rate-limited. */
    log: z
      .object({
        enabled: z.boolean().default(false),
        ratePerSecond: z.number().int().min(1).max(10000).default(10),
      })
      .strict()
      .prefault({}),
    /**
     * How often the denied-packet counters are read into metrics; 0 disables.
     * Each read lists the whole table (the nftables service reads tables,
     * not counters alone): ~2.5 s of nft at 10,000 pods x 1,000 policies.
     */
    countersIntervalSeconds: z.number().int().min(0).max(3600).default(60),
    /** Full resync period (repairs drift); 0 disables. */
    resyncSeconds: z.number().int().min(0).default(300),
  })
  .strict();

export type FirewallConfig = z.output<typeof firewallConfigSchema>;
