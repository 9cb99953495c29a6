import assert from 'node:assert/strict';
import { firstNonAscii } from '../../build/ascii.ts';

describe('bundle ASCII check (build/ascii.ts)', () => {
  it('accepts pure ASCII, escapes included', () => {
    assert.equal(firstNonAscii('const re = /(ns|\\u00b5s)/;\nlet a = 1;\n'), undefined);
    assert.equal(firstNonAscii(''), undefined);
  });

  it('names the line, column and escape of the first non-ASCII character', () => {
    const bad = firstNonAscii('let a = 1;\nconst re = /(ns|µs|μs)/;\n');
    assert.deepEqual(
      { line: bad?.line, column: bad?.column, escape: bad?.escape },
      { line: 2, column: 17, escape: '\\u00b5' },
    );
    assert.match(bad!.context, /ns\|µs/);
  });

  it('refuses a Latin-1 character too (the rule is ASCII)', () => {
    assert.equal(firstNonAscii('x = "\u00e9"')?.escape, '\\u00e9');
  });
});
