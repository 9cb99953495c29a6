import { z } from 'zod';
import { hostPrefixLength, hostRange, parseCidr } from '@krouter/sdk';

/** Go-style durations, as kube-router's --loadbalancer-sync-period takes them: `1m`, `30s`, `1h30m`, `500ms`. */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration text; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  // Micro as a \u escape: the bundle must stay ASCII (build/ascii.ts).
  const re = /(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  if (!text) return undefined;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === text.length ? total : undefined;
}

const cidr = z.string().superRefine((text, ctx) => {
  try {
    parseCidr(text.trim());
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be a CIDR with no host bits, e.g. 198.18.100.0/24 or fd00:100::/112 (${(err as Error).message})` });
  }
});

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text.trim());
  if (ms === undefined || ms < 1000) {
    ctx.addIssue({ code: 'custom', message: `must be a duration of at least 1s, e.g. "1m", "30s" or "1h30m" (got ${JSON.stringify(text)})` });
    return z.NEVER;
  }
  return ms;
});

export const loadBalancerConfigSchema = z
  .object({
    /** Set by the host's config file (or --run-loadbalancer); the plugin does not use it itself. */
    enabled: z.boolean().optional(),
    /** Prefixes of either family to hand out from (--loadbalancer-ip-range); at least one per family to serve. */
    ipRanges: z.array(cidr).min(1, 'at least one range is needed (CIDRs of either family, e.g. [198.18.100.0/24, fd00:100::/112])'),
    /** Also serve LoadBalancer Services without a loadBalancerClass (or with class "default") (--loadbalancer-default-class). */
    defaultClass: z.boolean().default(true),
    /** Full resync period (--loadbalancer-sync-period), as milliseconds once parsed. */
    syncPeriod: duration.prefault('1m'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // Overlapping ranges would count addresses twice; name the later one.
    const spans = cfg.ipRanges.map((text) => {
      try {
        const c = parseCidr(text.trim());
        const r = hostRange(c.text);
        const bits = hostPrefixLength(c.family);
        const first = r.first - (bits - c.prefixLength >= 2 ? 1n : 0n);
        return { family: c.family, text: c.text, first, last: first + (1n << BigInt(bits - c.prefixLength)) - 1n };
      } catch {
        return undefined;
      }
    });
    spans.forEach((a, i) => {
      if (!a) return;
      const earlier = spans.slice(0, i).find((b) => b && b.family === a.family && b.first <= a.last && a.first <= b.last);
      if (earlier) ctx.addIssue({ code: 'custom', path: ['ipRanges', i], message: `${a.text} overlaps ${earlier.text}; list each address once` });
    });
  });

export type LoadBalancerConfig = z.output<typeof loadBalancerConfigSchema>;
