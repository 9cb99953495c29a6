/** Pure helpers for sysctl keys. */

/**
 * Validates a key such as `net.ipv4.ip_forward` or the slash form
 * `net/ipv4/conf/eth0.100/forwarding` (needed when a link name has a dot)
 * and returns its path under /proc/sys.
 */
export function sysctlPath(key: string): string {
  if (typeof key !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/.test(key)) {
    throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  }
  const parts = key.includes('/') ? key.split('/') : key.split('.');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  return `/proc/sys/${parts.join('/')}`;
}

export function checkSysctlValue(key: string, value: string | number): string {
  const text = String(value);
  if (/[\n\0]/.test(text) || (typeof value === 'number' && !Number.isFinite(value))) {
    throw new Error(`invalid value ${JSON.stringify(text)} for sysctl ${key}`);
  }
  return text;
}
