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
import { Exec as ExecImpl } from './services/exec.ts';
import { GobgpService } from './services/gobgp/index.ts';
import { InformersService } from './services/informers/index.ts';
import { NetlinkService } from './services/netlink/index.ts';
import { NftablesService } from './services/nftables.ts';

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
    [Exec, ['exec', () => new ExecImpl()]],
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
    [Netlink, ['netlink', () => new NetlinkService({ logger, ipBinary: config.netlink.ipBinary })]],
    [
      Nftables,
      ['nftables', (s) => new NftablesService({ exec: s.resolve(Exec), logger, nftBinary: config.nftables.nftBinary })],
    ],
    [
      Gobgp,
      [
        'gobgp',
        () =>
          new GobgpService({
            logger,
            metrics,
            gobgpdBinary: config.gobgp.binary,
            socketPath: config.gobgp.socket,
          }),
      ],
    ],
    [
      Informers,
      [
        'informers',
        () =>
          new InformersService({
            logger,
            metrics,
            kubeconfig: config.kubernetes.kubeconfig,
            master: config.kubernetes.master,
            nodeName: config.nodeName,
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
