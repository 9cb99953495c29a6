/**
 * Just enough of Kubernetes' protobuf encoding for `kubectl create namespace`,
 * which always sends protobuf (kubectl does not fall back to JSON on 415). Only a
 * Namespace's metadata (name, generateName, labels, annotations) and spec
 * finalizers are read; any other kind is refused so nothing is half-decoded.
 */
import { ApiError, badRequest } from './status.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

type Field = { no: number; wire: number; value: Buffer | bigint };

function varint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw badRequest('protobuf: truncated varint');
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7n;
    if (shift > 63n) throw badRequest('protobuf: varint too long');
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p1] = varint(buf, pos);
    pos = p1;
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [v, p2] = varint(buf, pos);
      out.push({ no, wire, value: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = varint(buf, pos);
      const end = p2 + Number(len);
      if (end > buf.length) throw badRequest('protobuf: truncated field');
      out.push({ no, wire, value: buf.subarray(p2, end) });
      pos = end;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
    } else throw badRequest(`protobuf: unsupported wire type ${wire}`);
  }
  return out;
}

const bytesOf = (fs: Field[], no: number): Buffer[] => fs.filter((f) => f.no === no && f.wire === 2).map((f) => f.value as Buffer);
const str = (fs: Field[], no: number): string | undefined => bytesOf(fs, no)[0]?.toString('utf8');

function map(fs: Field[], no: number): Record<string, string> | undefined {
  const entries = bytesOf(fs, no);
  if (!entries.length) return undefined;
  const out: Record<string, string> = {};
  for (const e of entries) {
    const ef = fields(e);
    out[str(ef, 1) ?? ''] = str(ef, 2) ?? '';
  }
  return out;
}

export const isProtobuf = (buf: Buffer): boolean => buf.subarray(0, 4).equals(MAGIC);

/** Decodes a protobuf request body into the JSON object it stands for. */
export function decodeProtobufBody(buf: Buffer): Record<string, unknown> {
  if (!isProtobuf(buf)) throw badRequest('protobuf: missing the k8s envelope');
  const unknown = fields(buf.subarray(4));
  const typeMeta = fields(bytesOf(unknown, 1)[0] ?? Buffer.alloc(0));
  const apiVersion = str(typeMeta, 1);
  const kind = str(typeMeta, 2);
  if (kind !== 'Namespace' || apiVersion !== 'v1') {
    throw new ApiError(415, 'UnsupportedMediaType', `protobuf bodies are accepted for v1 Namespace only (got ${apiVersion}/${kind}); send JSON, e.g. kubectl create -f`);
  }
  const obj = fields(bytesOf(unknown, 2)[0] ?? Buffer.alloc(0));
  const meta = fields(bytesOf(obj, 1)[0] ?? Buffer.alloc(0));
  const spec = fields(bytesOf(obj, 2)[0] ?? Buffer.alloc(0));
  const metadata: Record<string, unknown> = {};
  const set = (k: string, v: unknown) => v !== undefined && v !== '' && (metadata[k] = v);
  set('name', str(meta, 1));
  set('generateName', str(meta, 2));
  set('labels', map(meta, 11));
  set('annotations', map(meta, 12));
  const finalizers = bytesOf(spec, 1).map((b) => b.toString('utf8'));
  return { apiVersion, kind, metadata, ...(finalizers.length ? { spec: { finalizers } } : {}) };
}
