/**
 * The gobgp gRPC API, from the descriptor generated at build time
 * (build/gen-gobgp-descriptor.ts) out of the protos matching the installed
 * gobgpd. Importing the JSON lets esbuild embed it in the bundle, so the
 * executable needs no .proto files at run time.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor from '../../../build/generated/gobgp-descriptor.json' with { type: 'json' };

type RootJson = Parameters<typeof protoLoader.fromJSON>[0];

/** Version of the gobgpd whose protos the descriptor was generated from. */
export const GOBGP_DESCRIPTOR_VERSION: string = (descriptor as { gobgpdVersion: string }).gobgpdVersion;

let clientCtor: grpc.ServiceClientConstructor | undefined;
let packageDefinition: protoLoader.PackageDefinition | undefined;

type AnyMessage = { type_url?: string; value?: Uint8Array };
type AnyToObject = (this: protobuf.Type, message: AnyMessage, options?: protobuf.IConversionOptions, depth?: number) => Record<string, unknown>;

/**
 * protobufjs unpacks every google.protobuf.Any (json: true) with a type
 * lookup through the namespace tree and a `fullName` walk, per message: with
 * gobgp, where every path attribute and NLRI is an Any, that was ~2/3 of the
 * agent's CPU when 10k paths arrive. Same result, with the type and its
 * `@type` text looked up once per type URL.
 */
function cacheAnyTypeLookups(): void {
  const wrapper = protobuf.wrappers['.google.protobuf.Any'] as unknown as { toObject: AnyToObject; cached?: true } | undefined;
  if (!wrapper || wrapper.cached) return;
  const original = wrapper.toObject;
  const cache = new WeakMap<object, Map<string, { type: protobuf.Type; typeName: string } | null>>();
  wrapper.toObject = function (message, options, depth = 0) {
    const url = message?.type_url;
    if (options?.json && url && message.value) {
      let types = cache.get(this);
      if (!types) cache.set(this, (types = new Map()));
      let entry = types.get(url);
      if (entry === undefined) {
        const slash = url.lastIndexOf('/');
        const type = this.lookup(url.slice(slash + 1));
        entry = type instanceof protobuf.Type ? { type, typeName: url.slice(0, slash + 1) + type.fullName.replace(/^\./, '') } : null;
        types.set(url, entry);
      }
      if (entry) {
        const object = (entry.type.toObject as AnyToObject).call(entry.type, entry.type.decode(message.value) as AnyMessage, options, depth + 1);
        object['@type'] = entry.typeName;
        return object;
      }
    }
    return original.call(this, message, options, depth);
  };
  wrapper.cached = true;
}

function gobgpPackageDefinition(): protoLoader.PackageDefinition {
  if (!packageDefinition) {
    cacheAnyTypeLookups();
    packageDefinition = protoLoader.fromJSON((descriptor as unknown as { root: RootJson }).root, {
      keepCase: true,
      // uint64 counters (received/accepted/advertised, timestamps) stay far below 2^53.
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
      // Packs and unpacks google.protobuf.Any as { '@type': 'type.googleapis.com/apipb.X', ...fields }.
      json: true,
    });
  }
  return packageDefinition;
}

/** One GobgpApi method's definition: its path and (de)serializers. */
export function gobgpMethod(rpc: string): protoLoader.MethodDefinition<object, object> | undefined {
  const service = gobgpPackageDefinition()['apipb.GobgpApi'] as Record<string, protoLoader.MethodDefinition<object, object>>;
  return Object.hasOwn(service, rpc) ? service[rpc] : undefined;
}

/** The GobgpApi client constructor (built once). */
export function gobgpApiClientConstructor(): grpc.ServiceClientConstructor {
  if (!clientCtor) {
    const loaded = grpc.loadPackageDefinition(gobgpPackageDefinition()) as unknown as {
      apipb: { GobgpApi: grpc.ServiceClientConstructor };
    };
    clientCtor = loaded.apipb.GobgpApi;
  }
  return clientCtor;
}
