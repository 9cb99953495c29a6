import { z } from 'zod';
import { AddressError, parseIP } from '@krouter/sdk';
import { LOG_LEVEL_HELP, parseLogLevel } from './log-level.ts';

/** Where the agent reads its config when --config is not given. */
export const DEFAULT_CONFIG_PATH = '/etc/krouter/config.yaml';

export const DEFAULT_METRICS_PORT = 20241;
export const DEFAULT_HEALTH_PORT = 20244;

const port = z.number().int().min(0, 'must be 0..65535').max(65535, 'must be 0..65535');

const ipAddress = z.string().superRefine((value, ctx) => {
  try {
    parseIP(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof AddressError ? err.message : String(err) });
  }
});

const listenKeys = (defaultPort: number) => ({
  /** false: no listener at all (kube-router's --metrics-port=0 / --health-port=0). */
  enabled: z.boolean().default(true),
  // '::' accepts both families (IPv4 as mapped addresses); IPv4-only hosts fall back to 0.0.0.0.
  address: ipAddress.default('::'),
  /** 0 picks a free port (logged at start). */
  port: port.default(defaultPort),
});
const listen = (defaultPort: number) => z.strictObject(listenKeys(defaultPort)).prefault({});

const nonEmpty = z.string().min(1, 'must not be empty');

/**
 * One plugin's section. `enabled` is the host's key; every other key belongs
 * to the plugin and is checked by the plugin's own schema, so the host lets
 * them through here. A section that is present is enabled unless it says
 * `enabled: false`; a built-in plugin without a section does not run.
 */
const pluginSection = z.looseObject({ enabled: z.boolean().default(true) });

const externalPlugin = z.strictObject({
  path: nonEmpty.refine((p) => p.startsWith('/'), 'must be an absolute path'),
  enabled: z.boolean().default(true),
  config: z.record(z.string(), z.unknown()).default({}),
});

export const FAMILY_MODES = ['auto', 'ipv4', 'ipv6', 'dual'] as const;
export type FamilyMode = (typeof FAMILY_MODES)[number];


/** The config file's schema. Every object is strict: an unknown key is an error. */
export const configSchema = z.strictObject({
  /** This node's name; else --hostname-override, NODE_NAME, os.hostname(). */
  nodeName: nonEmpty.optional(),
  /** auto: the families of the Node object's InternalIPs (both until the node is known). */
  families: z.enum(FAMILY_MODES).default('auto'),
  kubernetes: z
    .strictObject({
      kubeconfig: nonEmpty.optional(),
      master: nonEmpty.optional(),
      /** How long plugins wait for the informer caches' first sync before start fails (--cache-sync-timeout). */
      cacheSyncTimeoutSeconds: z.number().int().min(1).max(86400).default(60),
    })
    .prefault({}),
  log: z
    .strictObject({
      /** A level name or kube-router's verbosity number (the same values as -v); read as a level. */
      level: z
        .union([z.string(), z.number()])
        .default('info')
        .transform((value, ctx) => {
          const level = parseLogLevel(value);
          if (level) return level;
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} must be ${LOG_LEVEL_HELP}` });
          return z.NEVER;
        }),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      ...listenKeys(DEFAULT_METRICS_PORT),
      /** The Prometheus endpoint's path (--metrics-path). */
      path: z.string().startsWith('/', 'must start with /').default('/metrics'),
    })
    .prefault({}),
  health: listen(DEFAULT_HEALTH_PORT),
  gobgp: z
    .strictObject({
      binary: nonEmpty.default('gobgpd'),
      socket: nonEmpty.refine((p) => p.startsWith('/'), 'must be an absolute path').default('/run/krouter/gobgp.sock'),
    })
    .prefault({}),
  netlink: z.strictObject({ ipBinary: nonEmpty.default('ip') }).prefault({}),
  nftables: z.strictObject({ nftBinary: nonEmpty.default('nft') }).prefault({}),
  plugins: z
    .record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'plugin names are lower-case letters, digits and dashes'), pluginSection)
    .default({}),
  externalPlugins: z.array(externalPlugin).default([]),
});

export type KrouterConfig = z.output<typeof configSchema>;
export type PluginSection = KrouterConfig['plugins'][string];
export type ExternalPluginConfig = KrouterConfig['externalPlugins'][number];

/** The config with nodeName settled (see resolveNodeName). */
export type ResolvedConfig = KrouterConfig & { nodeName: string };
