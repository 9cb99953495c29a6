import assert from 'node:assert/strict';
import { ProblemLog } from '../../plugins/router/problem-log.ts';

describe('router problem log', () => {
  const setup = () => {
    const emitted: string[] = [];
    return { log: new ProblemLog((m, node) => emitted.push(`${node}: ${m}`)), emitted };
  };

  it('a problem found by every sync is reported once', () => {
    const { log, emitted } = setup();
    for (let i = 0; i < 3; i++) {
      log.beginRound();
      log.report('bad asn', 'node-2');
      log.endRound();
    }
    assert.deepEqual(emitted, ['node-2: bad asn']);
  });

  it('a problem fixed and then back is reported again; fixed ones are forgotten', () => {
    const { log, emitted } = setup();
    log.beginRound();
    log.report('bad asn', 'node-2');
    log.report('bad peer', 'node-1');
    log.endRound();
    log.beginRound();
    log.report('bad peer', 'node-1');
    log.endRound();
    assert.equal(log.size, 1);
    log.beginRound();
    log.report('bad asn', 'node-2');
    log.report('bad peer', 'node-1');
    log.endRound();
    assert.deepEqual(emitted, ['node-2: bad asn', 'node-1: bad peer', 'node-2: bad asn']);
  });

  it('a round that never ended (the sync threw) forgets nothing', () => {
    const { log, emitted } = setup();
    log.beginRound();
    log.report('bad asn', 'node-2');
    log.endRound();
    log.beginRound(); // throws before reporting
    log.beginRound();
    log.report('bad asn', 'node-2');
    log.endRound();
    assert.deepEqual(emitted, ['node-2: bad asn']);
  });

  it('reports outside a round are not repeated until a round ends without them', () => {
    const { log, emitted } = setup();
    log.report('route 198.18.5.0/24: File exists', 'node-1');
    log.report('route 198.18.5.0/24: File exists', 'node-1');
    log.beginRound();
    log.endRound();
    log.report('route 198.18.5.0/24: File exists', 'node-1');
    assert.deepEqual(emitted, ['node-1: route 198.18.5.0/24: File exists', 'node-1: route 198.18.5.0/24: File exists']);
  });
});
