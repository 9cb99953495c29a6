import type { PluginContext } from '../plugin.ts';
import { FakeHealth, MemoryLogger, MemoryMetrics } from './basics.ts';

export interface TestContext<C> {
  ctx: PluginContext<C>;
  /** Abort to simulate the agent stopping. */
  abort: AbortController;
  logger: MemoryLogger;
  metrics: MemoryMetrics;
  health: FakeHealth;
}

/** A PluginContext over in-memory logger, metrics and health. */
export function createTestContext<C>(config: C, opts: { name?: string; nodeName?: string } = {}): TestContext<C> {
  const abort = new AbortController();
  const name = opts.name ?? 'test-plugin';
  const root = new MemoryLogger();
  const logger = root.child({ plugin: name });
  const metrics = new MemoryMetrics();
  const health = new FakeHealth();
  const ctx: PluginContext<C> = {
    name,
    config,
    logger,
    metrics,
    health,
    signal: abort.signal,
    nodeName: opts.nodeName ?? 'node-1',
  };
  return { ctx, abort, logger, metrics, health };
}
