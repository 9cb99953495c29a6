/** The logger's levels as -v sets them: what each level writes, and the core's trace lines (commands run). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { levelOfVerbosity, type LogLevel } from '../../core/config/log-level.ts';
import { Exec } from '../../core/services/exec.ts';
import { Logger } from '../../core/services/logger.ts';

function capture(level: LogLevel) {
  const lines: Array<{ level: string; msg: string } & Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: Logger.create(level, sink), lines };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('log levels', () => {
  it('writes what each -v level admits: 0 info, 2 debug, 4 trace', async () => {
    const seen: Record<number, string[]> = {};
    for (const v of [0, 2, 4]) {
      const { logger, lines } = capture(levelOfVerbosity(v));
      logger.trace('t');
      logger.debug('d');
      logger.info('i');
      logger.warn('w');
      logger.error('e');
      await flush();
      seen[v] = lines.map((l) => l.level);
    }
    assert.deepEqual(seen, {
      0: ['info', 'warn', 'error'],
      2: ['debug', 'info', 'warn', 'error'],
      4: ['trace', 'debug', 'info', 'warn', 'error'],
    });
  });

  it('logs each command run at trace, not below', async () => {
    for (const [level, expected] of [['trace', 1], ['debug', 0]] as const) {
      const { logger, lines } = capture(level);
      await new Exec(logger.child({ service: 'exec' })).run(process.execPath, ['-e', 'process.exit(3)'], { allowFailure: true });
      await flush();
      const runs = lines.filter((l) => l.msg === 'command run');
      assert.equal(runs.length, expected, `${level}: ${JSON.stringify(lines)}`);
      if (expected) assert.deepEqual([runs[0]!.command, runs[0]!.args, runs[0]!.code, runs[0]!.service], [process.execPath, '-e process.exit(3)', 3, 'exec']);
    }
  });
});
