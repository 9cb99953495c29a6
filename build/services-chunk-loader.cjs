'use strict';
/*
 * Part of the main bundle (see build/services-chunk.ts; the placeholders are
 * filled in at build time): compiles the services chunk the first time one
 * of its modules is imported, and hands it the modules it shares with the
 * main bundle.
 */

/** Shared module id -> its exports in the main bundle. */
const SHARED = /* SHARED */;
const CHUNK = /* CHUNK */;

let services;

/** The chunk's text: an asset inside the single executable, else the file next to this bundle. */
function chunkSource() {
  let sea;
  try {
    sea = require('node:sea');
  } catch {
    // not Node (Deno has no node:sea)
  }
  if (sea && sea.isSea()) return { source: sea.getAsset(CHUNK, 'utf8'), filename: require('node:path').join(require('node:path').dirname(process.execPath), CHUNK) };
  const filename = require('node:path').join(__dirname, CHUNK);
  let source;
  try {
    source = require('node:fs').readFileSync(filename, 'utf8');
  } catch (err) {
    throw new Error(`cannot load the services chunk ${filename} (it belongs next to the bundle): ${err.message}`);
  }
  return { source, filename };
}

function hostRequire(id) {
  return Object.prototype.hasOwnProperty.call(SHARED, id) ? SHARED[id]() : require(id);
}

exports.loadServicesChunk = function loadServicesChunk() {
  if (services) return services;
  const { source, filename } = chunkSource();
  // The CommonJS wrapper, compiled under the chunk's own name for stack traces.
  const wrapper = require('node:vm').runInThisContext(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename },
  );
  const mod = { exports: {} };
  wrapper.call(mod.exports, mod.exports, hostRequire, mod, filename, require('node:path').dirname(filename));
  services = mod.exports;
  return services;
};
