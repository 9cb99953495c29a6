/**
 * `agnhost test-webserver [--port N]`: agnhost's is a file server of the
 * image's root directory; tests only check that it answers (dual-stack
 * connectivity: `curl http://POD:80`). The lab's answers `/` with an empty
 * directory listing and every other path with 404: it does not hand this
 * machine's own root filesystem to the pod network.
 */
import http from 'node:http';
import { parseFlags, type FlagSpec } from './flags.ts';
import { untilTerminated } from './signals.ts';

export const FLAGS: FlagSpec = { port: { kind: 'int', default: 80 } };

/** Status and body for a request path (pure). */
export function answer(path: string): { status: number; body: string } {
  return path === '/' || path === '' ? { status: 200, body: '<pre>\n</pre>\n' } : { status: 404, body: '404 page not found\n' };
}

export async function run(argv: string[]): Promise<number> {
  const port = Number(parseFlags(argv, FLAGS).flags.port);
  http
    .createServer((req, res) => {
      const a = answer(new URL(req.url ?? '/', 'http://x').pathname);
      res.writeHead(a.status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'private', 'Access-Control-Allow-Origin': '*' });
      res.end(a.body);
    })
    .on('error', (e) => {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    })
    .listen(port, '::');
  await untilTerminated();
  return 0;
}
