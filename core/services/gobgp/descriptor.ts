/**
 * The gobgp gRPC API, from the descriptor generated at build time
 * (build/gen-gobgp-descriptor.ts) out of the protos matching the installed
 * gobgpd. Importing the JSON lets esbuild embed it in the bundle, so the
 * executable needs no .proto files at run time.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import descriptor from '../../../build/generated/gobgp-descriptor.json' with { type: 'json' };

type RootJson = Parameters<typeof protoLoader.fromJSON>[0];

/** Version of the gobgpd whose protos the descriptor was generated from. */
export const GOBGP_DESCRIPTOR_VERSION: string = (descriptor as { gobgpdVersion: string }).gobgpdVersion;

let clientCtor: grpc.ServiceClientConstructor | undefined;

/** The GobgpApi client constructor (built once). */
export function gobgpApiClientConstructor(): grpc.ServiceClientConstructor {
  if (!clientCtor) {
    const packageDefinition = protoLoader.fromJSON((descriptor as unknown as { root: RootJson }).root, {
      keepCase: true,
      // uint64 counters (received/accepted/advertised, timestamps) stay far below 2^53.
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
      // Packs and unpacks google.protobuf.Any as { '@type': 'type.googleapis.com/apipb.X', ...fields }.
      json: true,
    });
    const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
      apipb: { GobgpApi: grpc.ServiceClientConstructor };
    };
    clientCtor = loaded.apipb.GobgpApi;
  }
  return clientCtor;
}
