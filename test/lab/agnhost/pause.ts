/** `agnhost pause`: do nothing until SIGINT or SIGTERM, then exit 0. */
import { untilTerminated } from './signals.ts';

export async function run(): Promise<number> {
  // A pending signal listener alone does not keep Node's event loop alive.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await untilTerminated();
  clearInterval(keepAlive);
  return 0;
}
