/**
 * A thin promise wrapper over the GobgpApi grpc-js client: every unary and
 * server-streaming call gets a deadline, and every error names the RPC.
 */
import * as grpc from '@grpc/grpc-js';
import { gobgpApiClientConstructor, gobgpMethod } from './descriptor.ts';

/** A failed gobgp RPC: names the method and carries the gRPC status code. */
export class GobgpRpcError extends Error {
  constructor(
    readonly rpc: string,
    readonly code: number | undefined,
    detail: string,
  ) {
    super(`gobgp ${rpc}: ${detail}`);
    this.name = 'GobgpRpcError';
  }
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type UnaryMethod = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall;
type StreamMethod = (req: unknown, opts: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

function rpcError(rpc: string, e: Partial<grpc.ServiceError>): GobgpRpcError {
  const status = e.code !== undefined ? grpc.status[e.code] : undefined;
  const detail = e.details || e.message || 'unknown error';
  return new GobgpRpcError(rpc, e.code, status ? `${status}: ${detail}` : detail);
}

export interface WatchHandle {
  cancel(): void;
}

export class GobgpClient {
  private readonly client: grpc.Client & Record<string, unknown>;

  constructor(
    readonly socketPath: string,
    private readonly defaultTimeoutMs = 10_000,
  ) {
    const Ctor = gobgpApiClientConstructor();
    this.client = new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      // Reconnect quickly after gobgpd restarts instead of grpc's long default backoff.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    }) as grpc.Client & Record<string, unknown>;
  }

  private method<T>(rpc: string): T {
    const fn = this.client[rpc];
    if (typeof fn !== 'function') throw new GobgpRpcError(rpc, undefined, 'no such method in the gobgp API descriptor');
    return (fn as (...a: unknown[]) => unknown).bind(this.client) as T;
  }

  /** A unary call with a deadline. */
  unary<Res = Record<string, unknown>>(rpc: string, request: object, timeoutMs = this.defaultTimeoutMs): Promise<Res> {
    return new Promise((resolve, reject) => {
      let fn: UnaryMethod;
      try {
        fn = this.method<UnaryMethod>(rpc);
      } catch (e) {
        reject(e);
        return;
      }
      fn(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(rpcError(rpc, err));
        else resolve(res as Res);
      });
    });
  }

  /**
   * A server-streaming call collected into an array, with a deadline for the
   * whole stream. `decode`, when given, replaces the generic response decoder
   * (it gets each message's bytes; a throw fails the call).
   */
  collect<Item = Record<string, unknown>>(
    rpc: string,
    request: object,
    timeoutMs = this.defaultTimeoutMs,
    decode?: (bytes: Buffer) => Item,
  ): Promise<Item[]> {
    return new Promise((resolve, reject) => {
      let call: grpc.ClientReadableStream<unknown>;
      try {
        call = this.serverStream(rpc, request, { deadline: Date.now() + timeoutMs }, decode);
      } catch (e) {
        reject(e);
        return;
      }
      const items: Item[] = [];
      call.on('data', (d) => items.push(d as Item));
      call.on('error', (e: grpc.ServiceError) => reject(rpcError(rpc, e)));
      call.on('end', () => resolve(items));
    });
  }

  /** A server-streaming call, through the generic decoder or `decode` (given the generic one too). */
  private serverStream(
    rpc: string,
    request: object,
    options: grpc.CallOptions,
    decode?: (bytes: Buffer, generic: (bytes: Buffer) => unknown) => unknown,
  ): grpc.ClientReadableStream<unknown> {
    if (!decode) return this.method<StreamMethod>(rpc)(request, options);
    const def = gobgpMethod(rpc);
    if (!def) throw new GobgpRpcError(rpc, undefined, 'no such method in the gobgp API descriptor');
    const generic = def.responseDeserialize;
    return this.client.makeServerStreamRequest(def.path, def.requestSerialize, (b: Buffer) => decode(b, generic), request, options);
  }

  /**
   * A long-lived server stream (no deadline). `onEnd` gets the error that
   * ended it, or undefined when it ended cleanly or was cancelled.
   * `decode`, when given, replaces the generic response decoder: it gets
   * each message's bytes and also receives the generic decoder, for the
   * messages it leaves to it. A throw there ends the stream with an error.
   */
  stream<Item = Record<string, unknown>>(
    rpc: string,
    request: object,
    onData: (item: Item) => void,
    onEnd: (err?: GobgpRpcError) => void,
    decode?: (bytes: Buffer, generic: (bytes: Buffer) => unknown) => Item,
  ): WatchHandle {
    const call = this.serverStream(rpc, request, {}, decode);
    let cancelled = false;
    let ended = false;
    const finish = (err?: GobgpRpcError) => {
      if (ended) return;
      ended = true;
      onEnd(cancelled ? undefined : err);
    };
    call.on('data', (d) => onData(d as Item));
    call.on('error', (e: grpc.ServiceError) => finish(e.code === grpc.status.CANCELLED && cancelled ? undefined : rpcError(rpc, e)));
    call.on('end', () => finish());
    return {
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}

/** What the service needs of gobgpd's API (a fake gobgpd implements it in unit tests). */
export type GobgpApi = Pick<GobgpClient, 'unary' | 'collect' | 'stream' | 'close'>;
