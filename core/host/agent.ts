import { AddressFamilies, type Logger as LoggerService } from '@krouter/sdk';
import type { LoadedConfig } from '../config/load.ts';
import { createAgentServices, type AgentServices, type ServiceFactory } from '../container.ts';
import { startHttp, type HttpServers } from '../http.ts';
import { startHeapSettle } from '../heap-settle.ts';
import { Health } from '../services/health.ts';
import { Logger } from '../services/logger.ts';
import { Metrics } from '../services/metrics.ts';
import { scheduleStartupGc } from '../startup-gc.ts';
import { preparePlugins } from './prepare.ts';
import { PluginRunner } from './runner.ts';

export interface AgentOptions {
  loaded: LoadedConfig;
  builtins: readonly unknown[];
  version: string;
  logger?: LoggerService;
  /** Test fakes by token. */
  overrides?: ReadonlyMap<symbol, ServiceFactory>;
  /** Command-line warnings (kube-router flags with no effect here), logged once each at start. */
  warnings?: readonly string[];
}

/**
 * One running agent: services, HTTP endpoints and plugins. start() is all or
 * nothing; stop() undoes it (plugins newest first, then services, then HTTP).
 */
export class Agent {
  readonly logger: LoggerService;
  readonly metrics = new Metrics();
  readonly health = new Health();
  readonly services: AgentServices;
  private runner?: PluginRunner;
  private http?: HttpServers;

  constructor(private readonly options: AgentOptions) {
    const { config } = options.loaded;
    this.logger = options.logger ?? Logger.create(config.log.level);
    this.services = createAgentServices({
      config,
      logger: this.logger,
      metrics: this.metrics,
      health: this.health,
      overrides: options.overrides,
    });
  }

  /** Enabled families as far as known (without creating the service). */
  private families(): readonly string[] | string {
    const created = this.services.createdServices().includes('address-families');
    return created ? this.services.resolve(AddressFamilies).enabled : this.options.loaded.config.families;
  }

  async status(): Promise<unknown> {
    return {
      node: this.options.loaded.config.nodeName,
      version: this.options.version,
      families: this.families(),
      plugins: (await this.runner?.status()) ?? {},
    };
  }

  /** Loads and checks plugins (ConfigError on problems) without starting anything. */
  async prepare() {
    const { config, source } = this.options.loaded;
    return preparePlugins({ config, source, builtins: this.options.builtins, provides: (t) => this.services.has(t) });
  }

  async start(): Promise<void> {
    const { config } = this.options.loaded;
    this.logWarnings();
    this.logger.info('krouter starting', {
      version: this.options.version,
      node: config.nodeName,
      families: config.families,
      config: this.options.loaded.source.file,
    });
    const plugins = await this.prepare();
    this.logger.info('plugins loaded', { plugins: plugins.map((p) => ({ name: p.definition.name, origin: p.origin })) });
    this.http = await startHttp({
      metrics: config.metrics,
      health: config.health,
      logger: this.logger,
      renderMetrics: () => this.metrics.render(),
      healthStatus: () => this.health.status(),
      status: () => this.status(),
    });
    this.runner = new PluginRunner({
      plugins,
      services: this.services,
      logger: this.logger,
      metrics: this.metrics,
      health: this.health,
      nodeName: config.nodeName,
    });
    try {
      await this.runner.start();
    } catch (err) {
      await this.closeServices();
      throw err;
    }
    this.logger.info('krouter running', { plugins: this.runner.runningPlugins(), services: this.services.createdServices() });
  }

  private async closeServices(): Promise<void> {
    await this.services.close();
    await this.http?.close();
    this.http = undefined;
  }

  get urls(): HttpServers['urls'] | undefined {
    return this.http?.urls;
  }

  async stop(): Promise<void> {
    this.logger.info('krouter stopping');
    await this.runner?.stop();
    await this.closeServices();
    this.logger.info('krouter stopped');
  }

  private logWarnings(): void {
    for (const warning of this.options.warnings ?? []) this.logger.warn(warning);
  }

  /** `krouter cleanup`: every enabled plugin's cleanup(), then services closed. */
  async cleanup(): Promise<void> {
    this.logWarnings();
    const plugins = await this.prepare();
    const runner = new PluginRunner({
      plugins,
      services: this.services,
      logger: this.logger,
      metrics: this.metrics,
      health: this.health,
      nodeName: this.options.loaded.config.nodeName,
    });
    try {
      await runner.cleanup();
    } finally {
      await this.services.close();
    }
  }
}

/**
 * `krouter run`: starts the agent and runs until SIGTERM/SIGINT; the first
 * signal stops it cleanly (exit 0; a signal during start-up stops it once
 * started), a second forces exit. Returns the exit code.
 */
export async function runUntilSignal(agent: Agent): Promise<number> {
  let requestStop!: (signal: NodeJS.Signals) => void;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => (requestStop = resolve));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      agent.logger.warn('second signal, exiting at once', { signal });
      process.exit(1);
    }
    agent.logger.info('signal received, stopping', { signal });
    requestStop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Runs until a signal even when nothing else holds the event loop (no plugin, metrics and health off).
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  let stopSettle = () => undefined as void;
  let cancelGc: (() => void) | undefined;
  try {
    await agent.start();
    // Once after start-up (its garbage), then after each burst of work (the heap it grew).
    cancelGc = scheduleStartupGc(undefined, undefined, (r) => agent.logger.debug('start-up garbage collected', r));
    stopSettle = startHeapSettle(agent.logger);
    await stopRequested;
    await agent.stop();
    return 0;
  } finally {
    stopSettle();
    cancelGc?.();
    clearInterval(keepAlive);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
