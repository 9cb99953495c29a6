/**
 * Keeping secrets (BGP passwords) out of logs and status. Two nets:
 * - fields whose key names a secret (`password`, `auth_password`,
 *   `AuthPassword`, `secret`, `token`, ...) are replaced wherever they sit
 *   in a log line's fields, gobgpd's own JSON lines included;
 * - values the agent knows to be secret (each BGP peer's password, as given
 *   and base64-encoded) are registered here when they reach the gobgp
 *   service, and cut out of every logged string and every rejection message
 *   passed to plugins, whatever echoes them (gobgpd's errors, its log).
 */

export const REDACTED = '[redacted]';

/** Secrets shorter than this are not scrubbed from text (too likely to be ordinary words). */
const MIN_SECRET_LENGTH = 4;
/** Bound on what is remembered (a password changed keeps its old value redacted). */
const MAX_SECRETS = 4096;

const known = new Set<string>();
/** Longest first, so a secret containing another is cut whole. */
let ordered: string[] = [];

/** Registers a value (and its base64 form) that must never be logged. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < MIN_SECRET_LENGTH) return;
  let added = false;
  for (const v of [value, Buffer.from(value, 'utf8').toString('base64')]) {
    if (known.has(v) || known.size >= MAX_SECRETS) continue;
    known.add(v);
    added = true;
  }
  if (added) ordered = [...known].sort((a, b) => b.length - a.length);
}

/** Forgets every registered secret (tests). */
export function clearSecrets(): void {
  known.clear();
  ordered = [];
}

/** Text with every registered secret replaced by [redacted]. */
export function scrubSecrets(text: string): string {
  if (ordered.length === 0 || text.length < MIN_SECRET_LENGTH) return text;
  let out = text;
  for (const s of ordered) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** Whether a field name names a secret: password, passwd, auth_password, AuthPassword, secret, token (plural too). */
export function isSecretKey(key: string): boolean {
  return /(password|passwd|secret|token)s?$/.test(key.toLowerCase().replace(/[^a-z]/g, ''));
}

const MAX_DEPTH = 8;

/**
 * A log line's fields with secret-named keys replaced and registered
 * secrets cut out of strings; the same object when nothing changed.
 */
export function redactFields<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return scrubSecrets(value) as T;
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return value;
  if (value instanceof Error) {
    const message = scrubSecrets(value.message);
    return (message === value.message ? value : Object.assign(new Error(message), { name: value.name })) as T;
  }
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const r = redactFields(v, depth + 1);
      if (r !== v) changed = true;
      return r;
    });
    return (changed ? out : value) as T;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const r = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redactFields(v, depth + 1);
    if (r !== v) changed = true;
    out[k] = r;
  }
  return (changed ? out : value) as T;
}
