/**
 * Generates build/generated/gobgp-descriptor.json: the gobgp gRPC API as a
 * protobufjs Root JSON, read from the .proto files of the distribution
 * package that matches the installed gobgpd (Debian:
 * golang-github-osrg-gobgp-dev). The JSON is embedded in the bundle by
 * esbuild; the .proto files themselves are never copied into the repository.
 *
 * Usage: npm run generate [-- --proto-dir DIR] [-- --out FILE]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';

export const DEFAULT_PROTO_DIR = '/usr/share/gocode/src/github.com/osrg/gobgp/api';
// gobgp.proto alone packs every google.protobuf.Any empty (the NLRI and
// attribute types live in attribute.proto, capabilities in capability.proto),
// so all three are loaded into one root.
export const PROTO_FILES = ['gobgp.proto', 'attribute.proto', 'capability.proto'] as const;

export interface GobgpDescriptorFile {
  /** Version of the gobgpd the protos belong to. */
  gobgpdVersion: string;
  protoDir: string;
  protoFiles: string[];
  /** protobufjs Root JSON (INamespace), including the google well-known types. */
  root: protobuf.INamespace;
}

function gobgpdVersion(): string {
  const tries: Array<[string, string[]]> = [
    ['dpkg-query', ['-W', '-f', '${Version}', 'gobgpd']],
    ['gobgpd', ['--version']],
  ];
  for (const [cmd, args] of tries) {
    try {
      const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (out) return out.replace(/^gobgpd version\s+/, '');
    } catch {
      /* try the next source */
    }
  }
  return 'unknown';
}

export function loadGobgpRoot(protoDir: string): protobuf.Root {
  const missing = PROTO_FILES.filter((f) => !existsSync(path.join(protoDir, f)));
  if (missing.length > 0) {
    throw new Error(
      `gobgp API protos missing in ${protoDir}: ${missing.join(', ')} ` +
        `(install golang-github-osrg-gobgp-dev, the package matching gobgpd, or pass --proto-dir)`,
    );
  }
  const root = new protobuf.Root();
  // gobgp's files import each other by bare name ("gobgp.proto"); google/protobuf/*
  // imports are served by protobufjs's bundled well-known types.
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : path.join(protoDir, path.basename(target)));
  root.loadSync(PROTO_FILES.map((f) => path.join(protoDir, f)), { keepCase: true });
  root.resolveAll();
  if (!root.lookupService('apipb.GobgpApi')) throw new Error(`${protoDir}: no service apipb.GobgpApi in ${PROTO_FILES.join(', ')}`);
  return root;
}

export function generate(protoDir: string, outFile: string): GobgpDescriptorFile {
  const root = loadGobgpRoot(protoDir);
  const file: GobgpDescriptorFile = {
    gobgpdVersion: gobgpdVersion(),
    protoDir,
    protoFiles: [...PROTO_FILES],
    root: root.toJSON({ keepComments: false }) as protobuf.INamespace,
  };
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(file) + '\n');
  return file;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.join(repoRoot, 'build', 'gen-gobgp-descriptor.ts');
if (isMain) {
  const protoDir = argValue('--proto-dir') ?? DEFAULT_PROTO_DIR;
  const outFile = argValue('--out') ?? path.join(repoRoot, 'build', 'generated', 'gobgp-descriptor.json');
  try {
    const file = generate(protoDir, outFile);
    console.log(`wrote ${path.relative(process.cwd(), outFile)} (gobgpd ${file.gobgpdVersion}, from ${protoDir})`);
  } catch (e) {
    console.error(`gen-gobgp-descriptor: ${(e as Error).message}`);
    process.exit(1);
  }
}
