// First: `krouter run` may re-execute itself with its memory settings, before anything else is loaded.
import './process-tuning.ts';
// tsyringe needs the Reflect metadata polyfill before it is first imported.
import 'reflect-metadata';
import { main } from './cli.ts';

// No top-level await: this file is bundled to CommonJS for the single executable.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`krouter: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
