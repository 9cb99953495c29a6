import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { DEFAULT_PROTO_DIR, generate } from '../../build/gen-gobgp-descriptor.ts';
import { GOBGP_DESCRIPTOR_VERSION, gobgpApiClientConstructor } from '../../core/services/gobgp/descriptor.ts';
import { encodePath } from '../../core/services/gobgp/encode.ts';
import descriptor from '../../build/generated/gobgp-descriptor.json' with { type: 'json' };

describe('gobgp API descriptor', () => {
  it('generates a Root JSON with the API, the attribute types and the google well-known types', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'krouter-gobgp-desc-'));
    try {
      const out = path.join(dir, 'd.json');
      const file = generate(DEFAULT_PROTO_DIR, out);
      const parsed = JSON.parse(readFileSync(out, 'utf8'));
      assert.equal(parsed.gobgpdVersion, file.gobgpdVersion);
      assert.match(parsed.gobgpdVersion, /^\d+\.\d+/);
      const apipb = parsed.root.nested.apipb.nested;
      assert.ok(apipb.GobgpApi.methods.AddPath);
      assert.ok(apipb.IPAddressPrefix && apipb.MpReachNLRIAttribute, 'attribute.proto loaded');
      assert.ok(apipb.ExtendedNexthopCapability, 'capability.proto loaded');
      assert.ok(parsed.root.nested.google.nested.protobuf.nested.Any);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says which package to install when the protos are missing', () => {
    assert.throws(() => generate('/nonexistent/gobgp/api', '/nonexistent/out.json'), /golang-github-osrg-gobgp-dev/);
  });

  it('builds the client and packs google.protobuf.Any with its type URL (IPv6 path round trip)', () => {
    assert.equal(typeof gobgpApiClientConstructor(), 'function');
    assert.ok(GOBGP_DESCRIPTOR_VERSION);
    const def = protoLoader.fromJSON((descriptor as { root: Parameters<typeof protoLoader.fromJSON>[0] }).root, {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
      json: true,
    });
    const addPath = (def['apipb.GobgpApi'] as Record<string, protoLoader.MethodDefinition<object, object>>).AddPath!;
    const { path: apiPath } = encodePath({ prefix: 'fd00:10::/64', nextHop: 'fd00:18::1' });
    const wire = addPath.requestSerialize({ table_type: 'GLOBAL', path: apiPath });
    // An Any packed empty would lose the type URL ("invalid empty type URL" in gobgpd).
    assert.ok(wire.includes(Buffer.from('type.googleapis.com/apipb.MpReachNLRIAttribute')));
    const back = addPath.requestDeserialize(wire) as { path: { nlri: Record<string, unknown>; pattrs: Array<Record<string, unknown>> } };
    assert.deepEqual(back.path.nlri, { '@type': 'type.googleapis.com/apipb.IPAddressPrefix', prefix: 'fd00:10::', prefix_len: 64 });
    const mp = back.path.pattrs.find((a) => a['@type'] === 'type.googleapis.com/apipb.MpReachNLRIAttribute')!;
    assert.deepEqual(mp.next_hops, ['fd00:18::1']);
    assert.deepEqual(mp.family, { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' });
  });
});
