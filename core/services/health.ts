import type { Health as HealthService, HealthStatus } from '@krouter/sdk';

interface Component {
  maxSilenceMs: number;
  lastBeat?: number;
  reported: HealthStatus;
}

/** Per-component heartbeats; `/healthz` is healthy when every component is. */
export class Health implements HealthService {
  private readonly components = new Map<string, Component>();

  constructor(private readonly now: () => number = Date.now) {}

  register(component: string, maxSilenceMs: number): void {
    this.components.set(component, { maxSilenceMs, lastBeat: this.now(), reported: { healthy: true } });
  }

  beat(component: string): void {
    const c = this.components.get(component);
    if (c) c.lastBeat = this.now();
  }

  report(component: string, status: HealthStatus): void {
    const c = this.components.get(component);
    if (c) c.reported = status;
    else this.components.set(component, { maxSilenceMs: Infinity, lastBeat: this.now(), reported: status });
  }

  unregister(component: string): void {
    this.components.delete(component);
  }

  status(): { healthy: boolean; components: Record<string, HealthStatus & { lastBeat?: number }> } {
    const now = this.now();
    const components: Record<string, HealthStatus & { lastBeat?: number }> = {};
    let healthy = true;
    for (const [name, c] of this.components) {
      const silent = c.lastBeat !== undefined && now - c.lastBeat > c.maxSilenceMs;
      const status: HealthStatus = !c.reported.healthy
        ? c.reported
        : silent
          ? { healthy: false, detail: `no heartbeat for ${Math.round((now - (c.lastBeat ?? 0)) / 1000)}s` }
          : { healthy: true };
      if (!status.healthy) healthy = false;
      components[name] = { ...status, lastBeat: c.lastBeat };
    }
    return { healthy, components };
  }
}
