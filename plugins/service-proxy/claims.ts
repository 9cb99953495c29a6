import type { Fragment } from './render.ts';

/**
 * Who owns each verdict-map element. Two services may name the same
 * ExternalIP (or LoadBalancer IP) and port — the API server does not prevent
 * it — but a map holds one verdict per key, and a duplicate would fail the
 * whole transaction. The first service keeps the key; the other is told (a
 * problem) and gets it when the first lets go.
 *
 * Owners are kept per map, by the element's own key (a flat string made by
 * the renderer): one entry per element of every service, so no joined
 * `map key` string each.
 */
export class ElementClaims {
  private readonly owners = new Map<string, Map<string, string>>();
  /** Element (`map key`) -> services that wanted it while another owned it. */
  private readonly waiting = new Map<string, Set<string>>();

  reset(): void {
    this.owners.clear();
    this.waiting.clear();
  }

  private ownersOf(map: string): Map<string, string> {
    let m = this.owners.get(map);
    if (!m) this.owners.set(map, (m = new Map()));
    return m;
  }

  /** Drops from `frag` the elements another service owns and claims the rest; returns what was dropped, with its owner. */
  claim(service: string, frag: Fragment): Array<{ map: string; key: string; owner: string }> {
    const lost: Array<{ map: string; key: string; owner: string }> = [];
    for (const [map, els] of frag.elements) {
      const owners = this.ownersOf(map);
      for (const key of [...els.keys()]) {
        const owner = owners.get(key);
        if (owner === undefined || owner === service) {
          owners.set(key, service);
          continue;
        }
        els.delete(key);
        lost.push({ map, key, owner });
        const id = `${map} ${key}`;
        let w = this.waiting.get(id);
        if (!w) this.waiting.set(id, (w = new Set()));
        w.add(service);
      }
    }
    return lost;
  }

  /**
   * Drops from `frag` the elements this service does not own: re-rendered
   * from the service's last state, `frag` is then what was applied for it.
   * (Every element it kept when claiming is its own until it lets go.)
   */
  applied(service: string, frag: Fragment): Fragment {
    for (const [map, els] of frag.elements) {
      const owners = this.owners.get(map);
      for (const key of [...els.keys()]) if (owners?.get(key) !== service) els.delete(key);
    }
    return frag;
  }

  /** Lets go of the service's elements that `next` no longer has; returns the services waiting for any of them. */
  release(service: string, old: Fragment | undefined, next: Fragment | undefined): string[] {
    const retry = new Set<string>();
    for (const [map, els] of old?.elements ?? []) {
      const owners = this.owners.get(map);
      for (const key of els.keys()) {
        if (next?.elements.get(map)?.has(key)) continue;
        if (owners?.get(key) !== service) continue;
        owners.delete(key);
        const id = `${map} ${key}`;
        for (const s of this.waiting.get(id) ?? []) if (s !== service) retry.add(s);
        this.waiting.delete(id);
      }
    }
    return [...retry];
  }
}
