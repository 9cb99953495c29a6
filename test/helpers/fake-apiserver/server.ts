/** HTTP front of the scripted API server: routing, list/watch, writes, patches, discovery. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, SERVER_VERSION } from './discovery.ts';
import { jsonPatch, mergePatch } from './patch.ts';
import { decodeProtobufBody } from './protobuf.ts';
import { RESOURCES, apiVersionOf, findResource, type ResourceDef } from './resources.ts';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { ApiError, badRequest, statusObject } from './status.ts';
import type { KubeObject, StoreEvent, Store } from './store.ts';
import { toTable, wantsTable } from './table.ts';

export interface ServerOptions {
  /** Interval of BOOKMARK events on watches that allow them. */
  bookmarkIntervalMs: number;
}

interface Target {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Legacy `/watch/` path prefix. */
  watchPath: boolean;
}

const MAX_BODY = 8 * 1024 * 1024;

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The request body as text (JSON); protobuf only where kubectl insists on it. */
async function readBody(req: IncomingMessage): Promise<string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type === 'application/vnd.kubernetes.protobuf') return JSON.stringify(decodeProtobufBody(await readRaw(req)));
  if (type === 'application/cbor' || type === 'application/yaml') {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json (got ${type})`);
  }
  return (await readRaw(req)).toString('utf8');
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Splits `/api/v1/...` or `/apis/G/V/...` into a resource target. */
function parseTarget(segments: string[]): Target | undefined {
  let group = '';
  let version: string;
  let rest: string[];
  if (segments[0] === 'api') {
    version = segments[1]!;
    rest = segments.slice(2);
  } else {
    group = segments[1]!;
    version = segments[2]!;
    rest = segments.slice(3);
  }
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const def = findResource(group, version, rest[2]!);
    if (def?.namespaced) return { def, namespace: rest[1], name: rest[3], subresource: rest[4], watchPath };
  }
  const def = findResource(group, version, rest[0] ?? '');
  if (!def || rest.length > 3) return undefined;
  return { def, name: rest[1], subresource: rest[2], watchPath };
}

const isTrue = (v: string | null): boolean => v === 'true' || v === '1';

export class Handler {
  /** Open watch responses, ended on close. */
  private readonly open = new Set<ServerResponse>();

  constructor(
    private readonly store: Store,
    private readonly opts: ServerOptions,
  ) {}

  closeAll(): void {
    for (const res of this.open) res.end();
    this.open.clear();
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) send(res, err.code, err.toStatus());
      else send(res, 500, statusObject(500, 'InternalError', `internal error: ${(err as Error).message ?? String(err)}`));
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://lab');
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const path = '/' + segments.join('/');

    if (method === 'GET') {
      if (path === '/version') return send(res, 200, SERVER_VERSION);
      if (path === '/healthz' || path === '/readyz' || path === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return void res.end('ok');
      }
      if (path === '/api') return send(res, 200, apiVersions());
      if (path === '/apis') return send(res, 200, apiGroupList());
      if (path === '/api/v1') return send(res, 200, apiResourceList('', 'v1'));
      if (segments[0] === 'apis' && segments.length === 2) {
        const g = apiGroup(segments[1]!);
        if (g) return send(res, 200, g);
      }
      if (segments[0] === 'apis' && segments.length === 3) {
        const l = apiResourceList(segments[1]!, segments[2]!);
        if (l) return send(res, 200, l);
      }
    }
    // /openapi/v2, /openapi/v3 and anything else unknown: a clean 404 so clients fall back.
    const target = (segments[0] === 'api' && segments.length >= 3) || (segments[0] === 'apis' && segments.length >= 4) ? parseTarget(segments) : undefined;
    if (!target) return send(res, 404, statusObject(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`));

    const { def, name, subresource } = target;
    const namespace = def.namespaced ? target.namespace : undefined;
    if (subresource !== undefined && !(subresource === 'status' && def.status)) {
      return send(res, 404, statusObject(404, 'NotFound', `the server could not find the requested resource (subresource ${subresource} of ${def.plural})`));
    }
    const dryRun = url.searchParams.getAll('dryRun').includes('All');
    const verb = this.verbOf(method, name, url, target.watchPath);
    if (!def.verbs.includes(verb)) {
      return send(res, 405, statusObject(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${verb} ${def.plural})`));
    }

    switch (verb) {
      case 'list':
        return this.list(req, res, def, namespace, url);
      case 'watch':
        return this.watch(req, res, def, namespace, url, name);
      case 'get': {
        const obj = this.store.get(def, namespace, name!);
        if (wantsTable(req.headers.accept)) return send(res, 200, toTable(def, [obj], obj.metadata.resourceVersion, url.searchParams.get('includeObject')));
        return send(res, 200, obj);
      }
      case 'create': {
        if (name !== undefined) return send(res, 405, statusObject(405, 'MethodNotAllowed', 'POST to an object path is not allowed'));
        const body = parseJson(await readBody(req), 'the request body');
        return send(res, dryRun ? 200 : 201, this.store.create(def, namespace, body, { dryRun }));
      }
      case 'update': {
        const body = parseJson(await readBody(req), 'the request body');
        return send(res, 200, this.store.update(def, namespace, name!, body, { dryRun, subresource: subresource as 'status' | undefined }));
      }
      case 'patch':
        return send(res, 200, await this.patch(req, def, namespace, name!, subresource, dryRun));
      case 'delete': {
        const text = await readBody(req);
        const opts = text.trim() ? (parseJson(text, 'DeleteOptions') as { preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: string[] }) : {};
        const obj = this.store.delete(def, namespace, name!, { preconditions: opts.preconditions, dryRun: dryRun || (opts.dryRun ?? []).includes('All') });
        return send(res, 200, obj);
      }
      case 'deletecollection': {
        const match = this.matcher(def, url);
        const items = this.store.list(def, namespace).filter(match).map((o) => this.store.delete(def, o.metadata.namespace, o.metadata.name, { dryRun }));
        return send(res, 200, { kind: `${def.kind}List`, apiVersion: apiVersionOf(def), metadata: { resourceVersion: this.store.currentRv() }, items });
      }
    }
    return send(res, 405, statusObject(405, 'MethodNotAllowed', `method ${method} not allowed`));
  }

  private verbOf(method: string, name: string | undefined, url: URL, watchPath: boolean): string {
    switch (method) {
      case 'GET':
        if (watchPath || isTrue(url.searchParams.get('watch'))) return 'watch';
        return name === undefined ? 'list' : 'get';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return name === undefined ? 'deletecollection' : 'delete';
      default:
        return method.toLowerCase();
    }
  }

  private matcher(def: ResourceDef, url: URL): (o: KubeObject) => boolean {
    const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector'), ['metadata.name', 'metadata.namespace', ...def.fields], def.plural);
    return (o) => matchLabels(labels, o.metadata?.labels) && matchFields(fields, o);
  }

  private list(req: IncomingMessage, res: ServerResponse, def: ResourceDef, namespace: string | undefined, url: URL): void {
    const match = this.matcher(def, url);
    const rv = url.searchParams.get('resourceVersion');
    const rvMatch = url.searchParams.get('resourceVersionMatch');
    let items: KubeObject[];
    let listRv = this.store.currentRv();
    if (rvMatch === 'Exact') {
      if (!rv) throw badRequest('resourceVersionMatch=Exact needs a resourceVersion');
      items = this.store.listAt(def, namespace, Number(rv));
      listRv = rv;
    } else {
      if (rv && rv !== '0' && Number(rv) > Number(listRv)) throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${listRv}`);
      items = this.store.list(def, namespace);
    }
    // Deterministic order like etcd's key order: namespace, then name. `limit` is
    // ignored: returning everything without a continue token is a valid answer.
    items = items.filter(match).sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    if (wantsTable(req.headers.accept)) return send(res, 200, toTable(def, items, listRv, url.searchParams.get('includeObject')));
    send(res, 200, { kind: `${def.kind}List`, apiVersion: apiVersionOf(def), metadata: { resourceVersion: listRv }, items });
  }

  private async patch(req: IncomingMessage, def: ResourceDef, namespace: string | undefined, name: string, subresource: string | undefined, dryRun: boolean): Promise<KubeObject> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (type !== 'application/merge-patch+json' && type !== 'application/json-patch+json') {
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format (${type || 'none'}) - accepted media types include: application/json-patch+json, application/merge-patch+json (strategic merge patch and apply patch are not supported by this server)`,
      );
    }
    const patchBody = parseJson(await readBody(req), 'the patch');
    const current = this.store.get(def, namespace, name);
    const patched = type === 'application/merge-patch+json' ? mergePatch(current, patchBody) : jsonPatch(current, patchBody);
    if (!patched || typeof patched !== 'object' || Array.isArray(patched)) throw badRequest('the patch does not produce an object');
    return this.store.update(def, namespace, name, patched, { dryRun, subresource: subresource as 'status' | undefined });
  }

  private watch(req: IncomingMessage, res: ServerResponse, def: ResourceDef, namespace: string | undefined, url: URL, name: string | undefined): void {
    const labelsMatch = this.matcher(def, url);
    const match = name === undefined ? labelsMatch : (o: KubeObject) => o.metadata.name === name && labelsMatch(o);
    const bookmarks = isTrue(url.searchParams.get('allowWatchBookmarks'));
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const table = wantsTable(req.headers.accept);
    const includeObject = url.searchParams.get('includeObject');
    const sendInitialEvents = isTrue(url.searchParams.get('sendInitialEvents'));
    let rv = url.searchParams.get('resourceVersion') ?? undefined;
    if (sendInitialEvents) rv = '0';

    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    const write = (type: string, object: unknown): void => {
      if (!res.writableEnded) res.write(JSON.stringify({ type, object }) + '\n');
    };
    const bookmark = (annotations?: Record<string, string>): void =>
      write('BOOKMARK', { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: this.store.currentRv(), ...(annotations ? { annotations } : {}) } });
    const out = (o: KubeObject): unknown => (table ? toTable(def, [o], o.metadata.resourceVersion, includeObject) : o);

    let stop = (): void => {};
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      stop();
      for (const t of timers) clearInterval(t);
      this.open.delete(res);
      if (!res.writableEnded) res.end();
    };
    this.open.add(res);
    res.on('close', finish);

    const sink = {
      // Selector transitions, as kube-apiserver sends them: an object that starts
      // matching arrives as ADDED, one that stops matching as DELETED.
      event: (ev: StoreEvent): void => {
        const now = match(ev.object);
        if (ev.type === 'MODIFIED') {
          const before = ev.old ? match(ev.old) : false;
          if (now && before) write('MODIFIED', out(ev.object));
          else if (now) write('ADDED', out(ev.object));
          else if (before) write('DELETED', out(ev.object));
        } else if (ev.type === 'DELETED') {
          if (ev.old ? match(ev.old) : now) write('DELETED', out(ev.object));
        } else if (now) write('ADDED', out(ev.object));
      },
      close: finish,
    };
    try {
      stop = this.store.watch(def, namespace, rv, sink);
    } catch (err) {
      if (err instanceof ApiError) {
        write('ERROR', err.toStatus());
        return finish();
      }
      throw err;
    }
    if (sendInitialEvents || bookmarks) {
      if (sendInitialEvents) bookmark({ 'k8s.io/initial-events-end': 'true' });
    }
    if (bookmarks) timers.push(setInterval(() => bookmark(), this.opts.bookmarkIntervalMs));
    if (timeoutSeconds > 0) timers.push(setTimeout(finish, timeoutSeconds * 1000));
  }
}

export { RESOURCES };
