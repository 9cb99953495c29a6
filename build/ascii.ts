/**
 * The bundles must be pure ASCII. V8 stores a script's source as a heap
 * string, one byte per character only when every character fits in
 * Latin-1; one Greek mu (U+03BC) in a regular expression (esbuild escapes
 * non-ASCII text in strings, not in regex literals) made the ~1 MB main
 * bundle a two-byte string, +1 MB of idle RSS. ASCII is the simple rule:
 * the build fails on any other character and says where, so the source can
 * spell it as a `\u` escape.
 */

export interface NonAsciiCharacter {
  /** 1-based, as editors count. */
  line: number;
  column: number;
  /** The character as a `\u` escape. */
  escape: string;
  /** The text around it, for the error message. */
  context: string;
}

/** The first character of `text` outside ASCII, or undefined. Pure. */
export function firstNonAscii(text: string): NonAsciiCharacter | undefined {
  // eslint-disable-next-line no-control-regex
  const m = /[^\x00-\x7f]/.exec(text);
  if (!m) return undefined;
  const before = text.slice(0, m.index);
  const lineStart = before.lastIndexOf('\n') + 1;
  return {
    line: before.split('\n').length,
    column: m.index - lineStart + 1,
    escape: `\\u${m[0].charCodeAt(0).toString(16).padStart(4, '0')}`,
    context: text.slice(Math.max(lineStart, m.index - 40), m.index + 20),
  };
}
