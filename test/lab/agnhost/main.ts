/**
 * The lab's agnhost: `agnhost SUBCOMMAND [flags]`, as Kubernetes' e2e test
 * image answers them, for the subcommands network tests use. Each
 * subcommand is its own module; this file only dispatches.
 */
const SUBCOMMANDS: Record<string, () => Promise<{ run(args: string[]): Promise<number | void> }>> = {
  connect: () => import('./connect.ts'),
  netexec: () => import('./netexec.ts'),
  pause: () => import('./pause.ts'),
  porter: () => import('./porter.ts'),
  'serve-hostname': () => import('./serve-hostname.ts'),
  'test-webserver': () => import('./test-webserver.ts'),
};

async function main(argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  const load = sub ? SUBCOMMANDS[sub] : undefined;
  if (!load) {
    process.stderr.write(`agnhost: unknown or missing subcommand ${JSON.stringify(sub ?? '')}; the lab's agnhost provides: ${Object.keys(SUBCOMMANDS).sort().join(', ')}\n`);
    return 1;
  }
  return (await (await load()).run(args)) ?? 0;
}

// Exit as soon as the subcommand is done: servers it opened must not keep the process alive after SIGTERM.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  },
);
