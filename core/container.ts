import 'reflect-metadata';
import { container as rootContainer, instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import {
  AddressFamilies,
  Exec,
  Gobgp,
  Health,
  Informers,
  Logger,
  Metrics,
  Netlink,
  Nftables,
  type ServiceToken,
} from '@krouter/sdk';
import type { ResolvedConfig } from './config/schema.ts';
import { AddressFamiliesService } from './services/address-families.ts';
import { Exec as ExecImpl, type TraceLog } from './services/exec.ts';

/**
 * The heavy services' classes, loaded on demand: gRPC + protobuf (gobgp) and
 * the Kubernetes client (informers) cost tens of MB of memory and start-up
 * time, so an agent whose plugins do not need them never evaluates them.
 * esbuild keeps these modules in the same bundle and runs them on first import.
 */
const serviceClasses: {
  gobgp?: typeof import('./services/gobgp/index.ts').GobgpService;
  informers?: typeof import('./services/informers/index.ts').InformersService;
  netlink?: typeof import('./services/netlink/index.ts').NetlinkService;
  nftables?: typeof import('./services/nftables.ts').NftablesService;
} = {};

const serviceModuleLoaders = new Map<symbol, () => Promise<void>>([
  [Gobgp, async () => void (serviceClasses.gobgp ??= (await import('./services/gobgp/index.ts')).GobgpService)],
  [Informers, async () => void (serviceClasses.informers ??= (await import('./services/informers/index.ts')).InformersService)],
  [Netlink, async () => void (serviceClasses.netlink ??= (await import('./services/netlink/index.ts')).NetlinkService)],
  [Nftables, async () => void (serviceClasses.nftables ??= (await import('./services/nftables.ts')).NftablesService)],
]);

/** Services a service resolves itself, whose modules must be loaded with it. */
const serviceNeeds = new Map<symbol, symbol[]>([[AddressFamilies, [Informers]]]);

/** Loads the modules behind these tokens (and what they need); resolve() requires it. */
export async function loadServiceModules(tokens: Iterable<symbol>): Promise<void> {
  const pending = [...tokens];
  const seen = new Set<symbol>();
  while (pending.length) {
    const token = pending.pop()!;
    if (seen.has(token)) continue;
    seen.add(token);
    await serviceModuleLoaders.get(token)?.();
    pending.push(...(serviceNeeds.get(token) ?? []));
  }
}

function loaded<T>(cls: T | undefined, name: string): T {
  if (!cls) throw new Error(`the ${name} service module is not loaded (loadServiceModules before resolve)`);
  return cls;
}

/** Builds one service; may resolve the services it needs from `services`. */
export type ServiceFactory = (services: AgentServices) => unknown;

export interface AgentServicesOptions {
  config: ResolvedConfig;
  logger: Logger;
  metrics: Metrics;
  health: Health;
  /** Replaces or adds factories by token (tests use fakes here). */
  overrides?: ReadonlyMap<symbol, ServiceFactory>;
}

interface Closable {
  close(): Promise<void> | void;
}
interface Settles {
  settle(): Promise<void>;
}

/**
 * One agent's services: a tsyringe child container with every service under
 * its SDK token as a lazy singleton, so an agent whose plugins need no BGP
 * starts no gobgpd, one without Netlink users no `ip` child, and so on.
 * close() closes every service that was created, newest first.
 */
export class AgentServices {
  readonly container: DependencyContainer;
  private readonly names = new Map<symbol, string>();
  private readonly created: Array<{ name: string; instance: unknown }> = [];
  private closed = false;

  constructor(readonly logger: Logger) {
    this.container = rootContainer.createChildContainer();
  }

  /** Registers a lazy singleton under a token (replacing an earlier registration). */
  register(token: symbol, name: string, factory: ServiceFactory): void {
    this.names.set(token, name);
    this.container.register(token, {
      useFactory: instanceCachingFactory(() => {
        if (this.closed) throw new Error(`service ${name} requested after the agent stopped`);
        const instance = factory(this);
        this.created.push({ name, instance });
        this.logger.debug('service created', { service: name });
        return instance;
      }),
    });
  }

  has(token: symbol): boolean {
    return this.names.has(token);
  }

  /** Name of the service behind a token, e.g. `netlink`. */
  nameOf(token: symbol): string | undefined {
    return this.names.get(token);
  }

  /** Loads the code of the services behind these tokens; call before resolve(). */
  async load(tokens: Iterable<symbol>): Promise<void> {
    await loadServiceModules([...tokens].filter((t) => this.has(t)));
  }

  resolve<T>(token: ServiceToken<T>): T {
    if (!this.has(token)) throw new Error(`no service registered for ${token.description ?? String(token)}`);
    return this.container.resolve<T>(token);
  }

  /** Names of the services created so far, in creation order. */
  createdServices(): string[] {
    return this.created.map((c) => c.name);
  }

  /** Lets created services finish asynchronous set-up (e.g. learn this node's families). */
  async settle(): Promise<void> {
    for (const { instance } of [...this.created]) {
      if (typeof (instance as Partial<Settles>)?.settle === 'function') await (instance as Settles).settle();
    }
  }

  /** Closes every created service that has close(), newest first; errors are logged, not thrown. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { name, instance } of [...this.created].reverse()) {
      if (typeof (instance as Partial<Closable>)?.close !== 'function') continue;
      try {
        await (instance as Closable).close();
        this.logger.info('service closed', { service: name });
      } catch (err) {
        this.logger.error('service close failed', { service: name, error: (err as Error).message });
      }
    }
    this.container.clearInstances();
  }
}

/** The service factories of a real agent, by token. */
export function defaultFactories(options: AgentServicesOptions): Map<symbol, [string, ServiceFactory]> {
  const { config, logger, metrics, health } = options;
  const log = (service: string) => logger.child({ service });
  const factories = new Map<symbol, [string, ServiceFactory]>([
    [Logger, ['logger', () => logger]],
    [Metrics, ['metrics', () => metrics]],
    [Health, ['health', () => health]],
    [Exec, ['exec', () => new ExecImpl(log('exec') as TraceLog)]],
    [
      AddressFamilies,
      [
        'address-families',
        (s) =>
          new AddressFamiliesService({
            mode: config.families,
            nodeName: config.nodeName,
            informers: s.has(Informers) ? () => s.resolve(Informers) : undefined,
            logger: log('address-families'),
          }),
      ],
    ],
    [Netlink, ['netlink', () => new (loaded(serviceClasses.netlink, 'netlink'))({ logger, ipBinary: config.netlink.ipBinary })]],
    [
      Nftables,
      ['nftables', (s) => new (loaded(serviceClasses.nftables, 'nftables'))({ exec: s.resolve(Exec), logger, nftBinary: config.nftables.nftBinary })],
    ],
    [
      Gobgp,
      [
        'gobgp',
        () =>
          new (loaded(serviceClasses.gobgp, 'gobgp'))({
            logger,
            metrics,
            gobgpdBinary: config.gobgp.binary,
            socketPath: config.gobgp.socket,
            prepareSocketDir: true,
          }),
      ],
    ],
    [
      Informers,
      [
        'informers',
        () =>
          new (loaded(serviceClasses.informers, 'informers'))({
            logger,
            metrics,
            kubeconfig: config.kubernetes.kubeconfig,
            master: config.kubernetes.master,
            nodeName: config.nodeName,
            cacheSyncTimeoutMs: config.kubernetes.cacheSyncTimeoutSeconds * 1000,
          }),
      ],
    ],
  ]);
  return factories;
}

/** Builds an agent's services; nothing is created until first resolved. */
export function createAgentServices(options: AgentServicesOptions): AgentServices {
  const services = new AgentServices(options.logger);
  for (const [token, [name, factory]] of defaultFactories(options)) services.register(token, name, factory);
  for (const [token, factory] of options.overrides ?? []) {
    services.register(token, services.nameOf(token) ?? token.description ?? 'service', factory);
  }
  return services;
}
