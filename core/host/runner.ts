import type { Health, Logger, Metrics, PluginContext, PluginInstance } from '@krouter/sdk';
import type { AgentServices } from '../container.ts';
import type { PreparedPlugin } from './prepare.ts';

/** A plugin that failed to start (or to be cleaned up); the agent exits non-zero. */
export class PluginError extends Error {
  readonly exitCode = 1;
  constructor(
    readonly plugin: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PluginError';
  }
}

export interface RunnerOptions {
  plugins: readonly PreparedPlugin[];
  services: AgentServices;
  logger: Logger;
  metrics: Metrics;
  health: Health;
  nodeName: string;
}

interface Running {
  name: string;
  instance: PluginInstance;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Starts plugins in order and stops them in reverse. Start is all or
 * nothing: when one plugin fails, the ones already started are stopped
 * (newest first) and the error names the plugin that failed.
 */
export class PluginRunner {
  private readonly abort = new AbortController();
  private running: Running[] = [];

  constructor(private readonly options: RunnerOptions) {}

  /** Aborted when the agent stops. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  private context(plugin: PreparedPlugin): PluginContext<unknown> {
    const name = plugin.definition.name;
    return {
      name,
      config: plugin.config,
      logger: this.options.logger.child({ plugin: name }),
      metrics: this.options.metrics,
      health: this.options.health,
      signal: this.abort.signal,
      nodeName: this.options.nodeName,
    };
  }

  /** Resolves a plugin's `requires` from the container (creating those services on first use). */
  private async resolve(plugin: PreparedPlugin): Promise<Record<string, unknown>> {
    const deps: Record<string, unknown> = {};
    await this.options.services.load(Object.values(plugin.definition.requires ?? {}));
    for (const [key, token] of Object.entries(plugin.definition.requires ?? {})) {
      try {
        deps[key] = this.options.services.resolve(token);
      } catch (err) {
        throw new Error(`requires.${key} (${token.description}): ${message(err)}`, { cause: err });
      }
    }
    await this.options.services.settle();
    return deps;
  }

  async start(): Promise<void> {
    const { logger } = this.options;
    for (const plugin of this.options.plugins) {
      const name = plugin.definition.name;
      logger.info('plugin starting', { plugin: name, origin: plugin.origin });
      try {
        const deps = await this.resolve(plugin);
        const instance = await plugin.definition.start(this.context(plugin), deps as never);
        if (!instance || typeof instance.stop !== 'function') throw new Error('start() did not return an instance with stop()');
        this.running.push({ name, instance });
        logger.info('plugin started', { plugin: name });
      } catch (err) {
        logger.error('plugin failed to start', { plugin: name, error: message(err) });
        await this.stop();
        throw new PluginError(name, `plugin ${name} failed to start: ${message(err)}`, { cause: err });
      }
    }
  }

  /** Aborts the signal and stops running plugins newest first; a failing stop is logged and the rest still stop. */
  async stop(): Promise<void> {
    this.abort.abort();
    const { logger } = this.options;
    while (this.running.length) {
      const { name, instance } = this.running.pop()!;
      logger.info('plugin stopping', { plugin: name });
      try {
        await instance.stop();
        logger.info('plugin stopped', { plugin: name });
      } catch (err) {
        logger.error('plugin stop failed', { plugin: name, error: message(err) });
      }
    }
  }

  /** Names of the running plugins, in start order. */
  runningPlugins(): string[] {
    return this.running.map((r) => r.name);
  }

  /** Each running plugin's status() (or `{}`); a failing one reports its error. */
  async status(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const { name, instance } of this.running) {
      try {
        out[name] = (await instance.status?.()) ?? {};
      } catch (err) {
        out[name] = { error: message(err) };
      }
    }
    return out;
  }

  /**
   * `krouter cleanup`: calls each plugin's cleanup() newest first, without
   * starting it. Every plugin is tried; the first failure is thrown at the end.
   */
  async cleanup(): Promise<void> {
    const { logger } = this.options;
    let first: PluginError | undefined;
    for (const plugin of [...this.options.plugins].reverse()) {
      const name = plugin.definition.name;
      if (!plugin.definition.cleanup) {
        logger.info('plugin has nothing to clean up', { plugin: name });
        continue;
      }
      try {
        logger.info('plugin cleaning up', { plugin: name });
        const deps = await this.resolve(plugin);
        await plugin.definition.cleanup(this.context(plugin), deps as never);
        logger.info('plugin cleaned up', { plugin: name });
      } catch (err) {
        logger.error('plugin cleanup failed', { plugin: name, error: message(err) });
        first ??= new PluginError(name, `plugin ${name} cleanup failed: ${message(err)}`, { cause: err });
      }
    }
    this.abort.abort();
    if (first) throw first;
  }
}
