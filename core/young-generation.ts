/**
 * V8's young-generation cap for the long-running agent, one value for both
 * runtimes: the single executable has it built in (build/sea.ts), `node
 * dist/krouter.cjs run` gets it by re-executing itself (process-tuning.ts).
 *
 * Unset, V8 grows semi-spaces to 16 MB in a burst of BGP paths and keeps
 * them (agent RSS with 10,000 routes/family was 227 MB). 2 MB kept RSS low
 * but made the burst GC-bound once the rest of the path got cheaper: with
 * 10,000 routes/family the agent spent ~30 % of its burst CPU collecting,
 * the BMP feed backed up in its socket, and kernel/gobgpd was 1.54x (median
 * of 3). 8 MB: 1.29x, RSS +5 MB (~130 MB); 16 MB brought RSS to 146 MB,
 * too near the 150 MB budget. Idle agents are unaffected: the start-up GC
 * (startup-gc.ts) shrinks the young generation again.
 */
export const SEMI_SPACE_MB = 8;

export const SEMI_SPACE_FLAG = `--max-semi-space-size=${SEMI_SPACE_MB}`;
