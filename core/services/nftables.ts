import type { ApplyTableOptions, Exec, Logger, NftFamily, NftTableRef, Nftables } from '@krouter/sdk';

/**
 * nftables through `nft -f -`: each write is one transaction, so a failing
 * script changes nothing. krouter only touches tables named `krouter-*`.
 */

export interface NftablesServiceOptions {
  exec: Exec;
  logger: Logger;
  /** Operate inside this named network namespace (`ip netns exec`). */
  netns?: string;
  nftBinary?: string;
}

/** An nft failure, naming the line of the script or table body that failed. */
export class NftError extends Error {
  constructor(
    message: string,
    /** 1-based line of the body (applyTable) or script (applyScript), when nft named one. */
    readonly line?: number,
    readonly lineText?: string,
  ) {
    super(message);
    this.name = 'NftError';
  }
}

const FAMILIES: ReadonlySet<string> = new Set<NftFamily>(['inet', 'ip', 'ip6', 'bridge', 'netdev']);
/** nft also knows `arp`; krouter never owns tables there, but a script naming one must be recognised. */
const NFT_FAMILY_WORDS: ReadonlySet<string> = new Set(['inet', 'ip', 'ip6', 'bridge', 'netdev', 'arp']);
const OWNED_NAME = /^krouter-[A-Za-z0-9_-]{1,240}$/;

// ---------------------------------------------------------------- pure part

/** Refuses a table ref krouter does not own (or that is malformed). */
export function checkOwnedTable(table: NftTableRef): void {
  const text = `${String(table?.family)} ${String(table?.name)}`;
  if (!table || !FAMILIES.has(table.family)) throw new NftError(`nftables table ${text}: unknown family (inet, ip, ip6, bridge, netdev)`);
  if (typeof table.name !== 'string' || !OWNED_NAME.test(table.name)) {
    throw new NftError(`nftables table ${text}: not owned by krouter (names must start with "krouter-" and use A-Z a-z 0-9 _ -)`);
  }
}

interface Statement {
  /** Words of the statement at brace depth 0 (before any block). */
  words: string[];
  /** 1-based line where it starts. */
  line: number;
}

/**
 * Splits a script into top-level statements, skipping comments and quoted
 * strings and tracking braces. Throws on unbalanced braces or quotes, so a
 * body cannot close its table and continue outside it.
 */
export function topLevelStatements(script: string): Statement[] {
  const out: Statement[] = [];
  let depth = 0;
  let line = 1;
  let head = '';
  let headLine = 1;
  let inHead = true;
  const flush = () => {
    const words = head.trim().split(/\s+/).filter(Boolean);
    if (words.length) out.push({ words, line: headLine });
    head = '';
    inHead = true;
  };
  // Only quotes, comments, braces, newlines (and at the top level `;` and `\`) matter: jump
  // between them, taking the text in between as one chunk (a table body is megabytes at tens
  // of thousands of services).
  const inBlock = /["#{}\n]/g;
  const atTop = /["#{}\n;\\]/g;
  for (let i = 0; i < script.length; i++) {
    const special = depth > 0 ? inBlock : atTop;
    special.lastIndex = i;
    const m = special.exec(script);
    const next = m ? m.index : script.length;
    if (depth === 0 && next > i) {
      const chunk = script.slice(i, next);
      if (!inHead) {
        const k = chunk.search(/\S/);
        if (k < 0) {
          head += chunk;
        } else {
          // Text after a block on the same statement line: check it as a statement of its own.
          head += chunk.slice(0, k);
          flush();
          headLine = line;
          head += chunk.slice(k);
        }
      } else {
        if (!head.trim()) headLine = line;
        head += chunk;
      }
    }
    if (!m) break;
    i = next;
    const c = script[i]!;
    if (c === '"') {
      const end = script.indexOf('"', i + 1);
      const nl = script.indexOf('\n', i + 1);
      if (end < 0 || (nl >= 0 && nl < end)) throw new NftError(`unterminated string on line ${line}`, line);
      if (depth === 0 && inHead) head += script.slice(i, end + 1);
      i = end;
      continue;
    }
    if (c === '#') {
      const nl = script.indexOf('\n', i);
      i = (nl < 0 ? script.length : nl) - 1;
      continue;
    }
    if (c === '\\' && script[i + 1] === '\n') {
      // line continuation
      line++;
      i++;
      if (depth === 0 && inHead) head += ' ';
      continue;
    }
    if (c === '{') {
      if (depth === 0) inHead = false;
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth < 0) throw new NftError(`unbalanced "}" on line ${line}`, line);
    } else if (depth === 0 && (c === '\n' || c === ';')) {
      flush();
    } else if (depth === 0) {
      if (!inHead && !/\s/.test(c)) {
        // Text after a block on the same statement line: check it as a statement of its own.
        flush();
        headLine = line;
      }
      if (!head.trim()) headLine = line;
      head += c;
    }
    if (c === '\n') line++;
  }
  if (depth !== 0) throw new NftError(`unbalanced "{": ${depth} block(s) not closed at the end`, line);
  flush();
  return out;
}

const VERBS: ReadonlySet<string> = new Set(['add', 'create', 'insert', 'replace', 'delete', 'flush']);
const OBJECTS: ReadonlySet<string> = new Set(['table', 'chain', 'set', 'map', 'element', 'rule', 'flowtable', 'counter', 'quota', 'limit']);

/**
 * Checks that every top-level statement of a script addresses a table krouter
 * owns: `table F N {...}` blocks and `VERB OBJECT [F] N ...` commands. Anything
 * else (flush ruleset, include, define, list, handles, variables) is refused.
 */
export function checkScriptOwnership(script: string): void {
  for (const { words, line } of topLevelStatements(script)) {
    const where = `line ${line} (${words.join(' ')})`;
    let i = 0;
    if (words[0] === 'table') {
      i = 1;
    } else {
      if (!VERBS.has(words[0]!)) throw new NftError(`nft script ${where}: only add/create/insert/replace/delete/flush of krouter tables' objects or table blocks are allowed`, line);
      if (!OBJECTS.has(words[1] ?? '')) throw new NftError(`nft script ${where}: "${words[0]} ${words[1] ?? ''}" does not name a table's object`, line);
      i = 2;
    }
    let family = 'ip'; // nft's default family
    if (NFT_FAMILY_WORDS.has(words[i] ?? '')) family = words[i++]!;
    const name = words[i];
    if (name === undefined || !OWNED_NAME.test(name)) {
      throw new NftError(`nft script ${where}: table ${family} ${name ?? '(none)'} is not owned by krouter`, line);
    }
    if (!FAMILIES.has(family)) throw new NftError(`nft script ${where}: family ${family} is not one krouter uses`, line);
  }
}

/** The one-transaction replacement script; the body starts on line BODY_FIRST_LINE. */
export function renderTableScript(table: NftTableRef, body: string): string {
  checkOwnedTable(table);
  if (typeof body !== 'string') throw new NftError(`nftables table ${table.family} ${table.name}: body must be a string`);
  try {
    // The body must stay inside the table's braces.
    topLevelStatements(body);
  } catch (e) {
    throw new NftError(`nftables table ${table.family} ${table.name}: body ${(e as Error).message}`, (e as NftError).line);
  }
  const t = `${table.family} ${table.name}`;
  // `table {}` creates it if missing, so `delete` always succeeds; then the new table.
  return `table ${t} {}\ndelete table ${t}\ntable ${t} {\n${body}\n}\n`;
}
export const BODY_FIRST_LINE = 4;

/** A table's chains, sets and maps by name, as the kernel lists them. */
export interface TableObjects {
  chains: readonly string[];
  sets: readonly string[];
  maps: readonly string[];
}

/** Statements of a body that declare stateful objects, by their leading words. */
const OBJECT_KINDS: ReadonlyArray<readonly string[]> = [['ct', 'timeout'], ['ct', 'helper'], ['ct', 'expectation'], ['counter'], ['quota'], ['limit'], ['secmark'], ['synproxy']];

/** The stateful objects a body declares: kind words, name, and the line that declares it alone. */
function bodyObjects(body: string): Array<{ kind: string; name: string; text: string }> | undefined {
  const lines = body.split('\n');
  const out: Array<{ kind: string; name: string; text: string }> = [];
  for (const { words, line } of topLevelStatements(body)) {
    const kind = OBJECT_KINDS.find((k) => k.every((w, i) => words[i] === w));
    if (!kind) continue;
    const text = lines[line - 1]!;
    // Declared again ahead of the body, so it must stand alone on its line.
    if (topLevelStatements(text).length !== 1) return undefined;
    out.push({ kind: kind.join(' '), name: words[kind.length]!, text });
  }
  return out;
}

/**
 * The one-transaction replacement that keeps the elements of the sets in
 * `keep` (which must exist in `existing`): every chain and map of the table
 * is flushed and deleted, and every other set deleted, so nothing the body
 * declares again is left with old content; the body then declares it all,
 * and declaring a kept set adds nothing to it. Stateful objects the body
 * declares are declared and deleted first (declaring an existing object does
 * not change it), so the body's declaration holds. Undefined when a body's
 * object does not stand alone on its line (the caller replaces the table
 * whole). The body starts on the returned line.
 */
export function renderKeepingTableScript(
  table: NftTableRef,
  body: string,
  existing: TableObjects,
  keep: ReadonlySet<string>,
): { script: string; bodyFirstLine: number } | undefined {
  checkOwnedTable(table);
  topLevelStatements(body);
  const objects = bodyObjects(body);
  if (!objects) return undefined;
  const t = `${table.family} ${table.name}`;
  const head = [
    ...(objects.length ? [`table ${t} {`, ...objects.map((o) => o.text), '}'] : []),
    ...existing.chains.map((c) => `flush chain ${t} ${c}`),
    ...existing.maps.map((m) => `flush map ${t} ${m}`),
    ...existing.maps.map((m) => `delete map ${t} ${m}`),
    ...existing.chains.map((c) => `delete chain ${t} ${c}`),
    ...existing.sets.filter((x) => !keep.has(x)).map((x) => `delete set ${t} ${x}`),
    ...objects.map((o) => `delete ${o.kind} ${t} ${o.name}`),
    `table ${t} {`,
  ];
  return { script: `${head.join('\n')}\n${body}\n}\n`, bodyFirstLine: head.length + 1 };
}

export interface NftDiagnostic {
  line: number;
  message: string;
}

/** Reads `/dev/stdin:LINE:COL-COL: Error: message` lines from nft's stderr. */
export function parseNftErrors(stderr: string): NftDiagnostic[] {
  const out: NftDiagnostic[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^(?:\/dev\/stdin|-):(\d+):[\d-]+: (Error: .*)$/.exec(l.trim());
    if (m) out.push({ line: Number(m[1]), message: m[2]! });
  }
  return out;
}

/** Builds the NftError for a failed script: the first error, with our own copy of the offending line. */
export function describeNftFailure(what: string, script: string, stderr: string, firstLine = 1): NftError {
  const lines = script.split('\n');
  const diags = parseNftErrors(stderr);
  const first = diags[0];
  if (!first) {
    const text = stderr.trim().split('\n').filter(Boolean).slice(0, 3).join(' | ') || 'nft failed without a message';
    return new NftError(`${what}: ${text}`);
  }
  const relative = first.line - firstLine + 1;
  const text = lines[first.line - 1] ?? '';
  const more = diags.length > 1 ? ` (and ${diags.length - 1} more error(s))` : '';
  const where = relative >= 1 ? `line ${relative}` : `line ${first.line} of the transaction`;
  return new NftError(`${what}: ${where}: ${first.message}: ${JSON.stringify(text.trim())}${more}`, relative >= 1 ? relative : undefined, text);
}

// ---------------------------------------------------------------- kernel edge

export class NftablesService implements Nftables {
  private readonly logger: Logger;
  private readonly nft: string;

  constructor(private readonly opts: NftablesServiceOptions) {
    this.logger = opts.logger.child({ service: 'nftables' });
    this.nft = opts.nftBinary ?? 'nft';
  }

  private command(args: string[]): [string, string[]] {
    return this.opts.netns ? ['ip', ['netns', 'exec', this.opts.netns, this.nft, ...args]] : [this.nft, args];
  }

  private async run(args: string[], input?: string) {
    const [cmd, argv] = this.command(args);
    return this.opts.exec.run(cmd, argv, { input, allowFailure: true });
  }

  async applyTable(table: NftTableRef, body: string, options?: ApplyTableOptions): Promise<void> {
    const script = renderTableScript(table, body);
    const keep = new Set(options?.keepSets ?? []);
    if (keep.size && (await this.applyKeepingSets(table, body, keep))) return;
    const r = await this.run(['-f', '-'], script);
    if (r.code !== 0) {
      throw describeNftFailure(`nftables table ${table.family} ${table.name}: body`, script, r.stderr, BODY_FIRST_LINE);
    }
    this.logger.debug('nftables table applied', { table: `${table.family} ${table.name}`, bytes: body.length });
  }

  /**
   * The replacement that keeps the kernel's elements of the `keep` sets the
   * table holds. False when there is nothing to keep (no table, none of the
   * sets) or it could not be done; the caller then replaces the table whole.
   */
  private async applyKeepingSets(table: NftTableRef, body: string, keep: ReadonlySet<string>): Promise<boolean> {
    if (!(await this.tableExists(table))) return false;
    const existing = await this.tableObjects(table);
    const kept = existing.sets.filter((x) => keep.has(x));
    if (!kept.length) return false;
    const t = `${table.family} ${table.name}`;
    const rendered = renderKeepingTableScript(table, body, existing, keep);
    if (!rendered) {
      this.logger.warn('nftables table replaced whole: a stateful object of its body shares its line with another statement; the kernel-filled sets start empty', { table: t, sets: kept.length });
      return false;
    }
    const r = await this.run(['-f', '-'], rendered.script);
    if (r.code === 0) {
      this.logger.debug('nftables table applied, kernel-filled sets kept', { table: t, bytes: body.length, keptSets: kept.length });
      return true;
    }
    // A kept set the body declares differently (another type) fails the transaction, which then
    // changed nothing: the whole replacement still applies the body, without the kept elements.
    const error = describeNftFailure(`nftables table ${t}: body`, rendered.script, r.stderr, rendered.bodyFirstLine);
    this.logger.warn('nftables table replaced whole: keeping its kernel-filled sets failed; they start empty', { table: t, sets: kept.length, error: error.message });
    return false;
  }

  /** The names of a table's chains, sets and maps (no rules, no elements: cheap at any size). */
  async tableObjects(table: NftTableRef): Promise<TableObjects> {
    checkOwnedTable(table);
    const list = async (args: string[], kind: 'chain' | 'set' | 'map') => {
      const r = await this.run(['-j', ...args, table.family]);
      if (r.code !== 0) throw new NftError(`nftables table ${table.family} ${table.name}: list ${kind}s failed: ${r.stderr.trim()}`);
      const items = (JSON.parse(r.stdout) as { nftables?: Array<Record<string, { table?: string; name?: string } | undefined>> }).nftables ?? [];
      return items.flatMap((e) => (e[kind]?.table === table.name && e[kind]?.name !== undefined ? [e[kind]!.name!] : []));
    };
    const [chains, sets, maps] = await Promise.all([list(['list', 'chains'], 'chain'), list(['-t', 'list', 'sets'], 'set'), list(['-t', 'list', 'maps'], 'map')]);
    return { chains, sets, maps };
  }

  async applyScript(script: string): Promise<void> {
    if (typeof script !== 'string') throw new NftError('nft script must be a string');
    checkScriptOwnership(script);
    const r = await this.run(['-f', '-'], script);
    if (r.code !== 0) throw describeNftFailure('nft script', script, r.stderr);
  }

  async listTable(table: NftTableRef): Promise<unknown | undefined> {
    checkOwnedTable(table);
    const r = await this.run(['-j', 'list', 'table', table.family, table.name]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined; // no such table
      throw new NftError(`nftables table ${table.family} ${table.name}: list failed: ${r.stderr.trim()}`);
    }
    return JSON.parse(r.stdout);
  }

  async deleteTable(table: NftTableRef): Promise<void> {
    checkOwnedTable(table);
    const t = `${table.family} ${table.name}`;
    // Declaring it first makes the delete succeed whether or not it exists, in one transaction.
    const script = `table ${t} {}\ndelete table ${t}\n`;
    const r = await this.run(['-f', '-'], script);
    if (r.code !== 0) throw describeNftFailure(`nftables table ${t}: delete`, script, r.stderr);
  }

  async tableExists(table: NftTableRef): Promise<boolean> {
    checkOwnedTable(table);
    // nft 1.0.6's `list tables` reads every rule of the ruleset first (1.7 s beside 10,000
    // dual-stack Services). A delete in check mode (-c: the kernel validates the transaction and
    // never commits it) answers from the table alone.
    const r = await this.run(['-c', 'delete', 'table', table.family, table.name]);
    if (r.code === 0) return true;
    if (/No such file or directory/.test(r.stderr)) return false;
    throw new NftError(`nftables table ${table.family} ${table.name}: existence check failed: ${r.stderr.trim()}`);
  }
}
