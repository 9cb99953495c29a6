import assert from 'node:assert/strict';
import { isPlugin } from '@krouter/sdk';
import { builtins } from '../../core/host/builtins.ts';
import { lazyBuiltin, loadBuiltin } from '../../core/host/prepare.ts';

describe('built-in plugin list (core/host/builtins.ts)', () => {
  it('every entry loads a plugin named as listed', async () => {
    assert.ok(builtins.length > 0);
    for (const [i, entry] of builtins.entries()) {
      const plugin = await loadBuiltin(entry, i);
      assert.ok(isPlugin(plugin));
      assert.equal(plugin.name, (entry as { lazyBuiltin: string }).lazyBuiltin);
    }
  });

  it('a lazy entry whose module names another plugin is refused, naming both', async () => {
    const entry = lazyBuiltin('cni', () => import('../../plugins/router/index.ts'));
    await assert.rejects(loadBuiltin(entry), /built-in plugin cni is named router/);
  });

  it('a lazy entry without a plugin export is refused', async () => {
    await assert.rejects(loadBuiltin(lazyBuiltin('x', async () => ({}))), /built-in plugin x has no definePlugin default export/);
  });
});
