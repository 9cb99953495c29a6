import assert from 'node:assert/strict';
import type { BgpRoute } from '@krouter/sdk';
import { LearnedRib } from '../../plugins/router/learned-rib.ts';

const route = (prefix: string, source: string, extra: Partial<BgpRoute> = {}): BgpRoute => ({
  family: prefix.includes(':') ? 'ipv6' : 'ipv4',
  prefix,
  nextHop: source,
  source,
  asPath: [],
  communities: [],
  best: true,
  ...extra,
});

describe('router learned RIB', () => {
  it('follows best and withdraw events per family', () => {
    const rib = new LearnedRib();
    rib.apply({ type: 'best', route: route('198.19.2.0/24', '198.18.0.12') });
    rib.apply({ type: 'best', route: route('fd00:19:0:2::/64', 'fd00:18::c') });
    assert.equal(rib.size('ipv4'), 1);
    assert.equal(rib.size('ipv6'), 1);
    rib.apply({ type: 'withdraw', route: route('198.19.2.0/24', '198.18.0.12') });
    assert.equal(rib.size('ipv4'), 0);
    assert.equal(rib.size('ipv6'), 1);
  });

  it('keeps a newer best when a withdrawal names the path it replaced', () => {
    const rib = new LearnedRib();
    rib.apply({ type: 'best', route: route('198.19.2.0/24', '198.18.0.12') });
    rib.apply({ type: 'best', route: route('198.19.2.0/24', '198.18.0.13') });
    rib.apply({ type: 'withdraw', route: route('198.19.2.0/24', '198.18.0.12') });
    assert.deepEqual(rib.routes('ipv4').map((r) => r.source), ['198.18.0.13']);
  });

  it('replays events that arrive during a relist on top of the fresh read', async () => {
    const rib = new LearnedRib();
    assert.equal(rib.stale, true);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const relist = rib.relist(['ipv4'], async () => {
      await gate;
      // The read was taken before the events below.
      return [route('198.19.2.0/24', '198.18.0.12'), route('198.19.3.0/24', '198.18.0.13')];
    });
    rib.apply({ type: 'withdraw', route: route('198.19.3.0/24', '198.18.0.13') });
    rib.apply({ type: 'best', route: route('198.19.4.0/24', '198.18.0.14') });
    release();
    await relist;
    assert.equal(rib.stale, false);
    assert.deepEqual(rib.routes('ipv4').map((r) => r.prefix).sort(), ['198.19.2.0/24', '198.19.4.0/24']);
  });

  it('ignores non-best paths in a relist', async () => {
    const rib = new LearnedRib();
    await rib.relist(['ipv6'], async () => [route('fd00:19:0:2::/64', 'fd00:18::c', { best: false })]);
    assert.equal(rib.size('ipv6'), 0);
  });
});

describe('router learned RIB: event paths', () => {
  it('treats a best event as best even when the path flag is unset (gobgpd watch stream)', () => {
    const rib = new LearnedRib();
    rib.apply({ type: 'best', route: route('198.19.2.0/24', '198.18.0.12', { best: false }) });
    assert.equal(rib.routes('ipv4')[0]!.best, true);
  });
});
