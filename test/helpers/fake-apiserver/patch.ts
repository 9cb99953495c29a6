/** JSON merge patch (RFC 7386) and JSON patch (RFC 6902), pure functions on plain JSON values. */
import { ApiError, badRequest } from './status.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObject = (v: unknown): v is Record<string, Json> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** RFC 7386: objects merge recursively, null deletes, anything else (arrays too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

export interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`json patch: invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr: unknown[], token: string, forInsert: boolean, pointer: string): number {
  if (forInsert && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new ApiError(422, 'Invalid', `json patch: invalid array index "${token}" in "${pointer}"`);
  const i = Number(token);
  if (i > arr.length || (!forInsert && i === arr.length)) throw new ApiError(422, 'Invalid', `json patch: array index ${i} out of bounds in "${pointer}"`);
  return i;
}

/** Returns the container and last token for a pointer, failing when a parent does not exist. */
function locate(doc: unknown, pointer: string): { parent: unknown; token: string } {
  const tokens = parsePointer(pointer);
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, pointer)];
    else if (isObject(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else throw new ApiError(422, 'Invalid', `json patch: path "${pointer}" does not exist`);
  }
  return { parent: cur, token: tokens[tokens.length - 1]! };
}

function getAt(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  const { parent, token } = locate(doc, pointer);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, token, false, pointer)];
  if (isObject(parent) && Object.prototype.hasOwnProperty.call(parent, token)) return parent[token];
  throw new ApiError(422, 'Invalid', `json patch: path "${pointer}" does not exist`);
}

function addAt(doc: unknown, pointer: string, value: unknown): unknown {
  if (pointer === '') return value;
  const { parent, token } = locate(doc, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, token, true, pointer), 0, value);
  else if (isObject(parent)) (parent as Record<string, unknown>)[token] = value;
  else throw new ApiError(422, 'Invalid', `json patch: cannot add at "${pointer}": parent is not a container`);
  return doc;
}

function removeAt(doc: unknown, pointer: string): unknown {
  if (pointer === '') throw new ApiError(422, 'Invalid', 'json patch: cannot remove the whole document');
  const { parent, token } = locate(doc, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, token, false, pointer), 1);
  else if (isObject(parent) && Object.prototype.hasOwnProperty.call(parent, token)) delete parent[token];
  else throw new ApiError(422, 'Invalid', `json patch: cannot remove "${pointer}": it does not exist`);
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 6902: applies all operations or none (works on a copy). */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch: the patch must be a JSON array of operations');
  let doc = structuredClone(target);
  ops.forEach((raw, i) => {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw badRequest(`json patch: operation ${i} needs string "op" and "path"`);
    }
    const op = raw as unknown as JsonPatchOp;
    const needsValue = op.op === 'add' || op.op === 'replace' || op.op === 'test';
    if (needsValue && !Object.prototype.hasOwnProperty.call(raw, 'value')) throw badRequest(`json patch: operation ${i} (${op.op}) needs "value"`);
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string') throw badRequest(`json patch: operation ${i} (${op.op}) needs "from"`);
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, structuredClone(op.value));
        break;
      case 'remove':
        doc = removeAt(doc, op.path);
        break;
      case 'replace':
        getAt(doc, op.path); // must exist
        if (op.path === '') doc = structuredClone(op.value);
        else doc = addAt(removeAt(doc, op.path), op.path, structuredClone(op.value));
        break;
      case 'move': {
        if (op.path !== op.from && op.path.startsWith(op.from! + '/')) throw new ApiError(422, 'Invalid', `json patch: cannot move "${op.from}" into its own child "${op.path}"`);
        const v = getAt(doc, op.from!);
        doc = addAt(removeAt(doc, op.from!), op.path, v);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, structuredClone(getAt(doc, op.from!)));
        break;
      case 'test':
        if (!deepEqual(getAt(doc, op.path), op.value)) throw new ApiError(422, 'Invalid', `json patch: test operation ${i} failed at "${op.path}"`);
        break;
      default:
        throw badRequest(`json patch: operation ${i} has unknown op "${op.op}"`);
    }
  });
  return doc;
}
