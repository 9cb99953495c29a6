/**
 * Standalone scripted API server: `main.ts --listen HOST:PORT [--listen ...]`.
 * Prints one `listening <url>` line per address; SIGTERM/SIGINT close it.
 */
import { startApiServer } from './index.ts';

function parseListen(value: string): { host: string; port: number } {
  const m = value.match(/^\[?([^\]]+?)\]?:(\d+)$/);
  if (!m) throw new Error(`--listen: expected HOST:PORT (IPv6 as [ADDR]:PORT), got "${value}"`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--listen: port out of range in "${value}"`);
  return { host: m[1]!, port };
}

function parseArgs(argv: string[]): { listen: Array<{ host: string; port: number }>; historyLimit?: number; bookmarkIntervalMs?: number } {
  const listen: Array<{ host: string; port: number }> = [];
  let historyLimit: number | undefined;
  let bookmarkIntervalMs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--listen') listen.push(parseListen(value()));
    else if (a === '--history-limit') historyLimit = Number(value());
    else if (a === '--bookmark-interval-ms') bookmarkIntervalMs = Number(value());
    else throw new Error(`unknown argument "${a}" (usage: --listen HOST:PORT [--listen ...] [--history-limit N] [--bookmark-interval-ms MS])`);
  }
  return { listen, historyLimit, bookmarkIntervalMs };
}

let args: ReturnType<typeof parseArgs>;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
const server = await startApiServer(args);
for (const url of server.urls) process.stdout.write(`listening ${url}\n`);
const stop = (): void => {
  server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
