import assert from 'node:assert/strict';
import { tunedExec } from '../../core/process-tuning.ts';

const base = { platform: 'linux', execArgv: [] as string[], execPath: '/usr/bin/node', env: { PATH: '/bin' } as Record<string, string | undefined>, sea: false };

describe('process tuning (krouter run re-executes itself once with its memory settings)', () => {
  it('adds the malloc threshold and the semi-space flag to `node krouter.cjs run`', () => {
    const exec = tunedExec({ ...base, argv: ['/usr/bin/node', '/opt/krouter.cjs', 'run', '--config', 'c.yaml'] });
    assert.deepEqual(exec?.args, ['/usr/bin/node', '--max-semi-space-size=8', '/opt/krouter.cjs', 'run', '--config', 'c.yaml']);
    assert.equal(exec?.env.GLIBC_TUNABLES, 'glibc.malloc.mmap_threshold=16384');
    assert.equal(exec?.env.PATH, '/bin');
  });

  it('keeps the single executable’s arguments and only adds the environment', () => {
    const exec = tunedExec({ ...base, sea: true, execPath: '/usr/bin/krouter', argv: ['/usr/bin/krouter', '/usr/bin/krouter', 'run'] });
    assert.deepEqual(exec?.args, ['/usr/bin/krouter', 'run']);
    assert.equal(exec?.env.GLIBC_TUNABLES, 'glibc.malloc.mmap_threshold=16384');
  });

  it('does nothing once tuned, for other subcommands, off Linux, and keeps an operator’s settings', () => {
    const tuned = { ...base, execArgv: ['--max-semi-space-size=2'], env: { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=16384' } };
    assert.equal(tunedExec({ ...tuned, argv: ['n', 's', 'run'] }), undefined);
    assert.equal(tunedExec({ ...base, argv: ['n', 's', 'version'] }), undefined);
    assert.equal(tunedExec({ ...base, platform: 'darwin', argv: ['n', 's', 'run'] }), undefined);
    const own = tunedExec({ ...base, execArgv: ['--max-semi-space-size=8'], env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, argv: ['n', 's', 'run'] });
    assert.deepEqual(own?.args, ['/usr/bin/node', '--max-semi-space-size=8', 's', 'run']);
    assert.equal(own?.env.GLIBC_TUNABLES, 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=16384');
  });
});
