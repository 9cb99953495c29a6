/** Resolves at SIGTERM or SIGINT: a server subcommand then exits 0, as agnhost's do on pod deletion. */
export function untilTerminated(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}
