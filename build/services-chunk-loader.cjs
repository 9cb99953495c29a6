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
const CHUNK_CACHE = /* CHUNK_CACHE */;

let services;

/**
 * The chunk's text: an asset inside the single executable, else the file
 * next to this bundle. esbuild writes ASCII, so latin1 decoding makes the
 * one-byte string V8 keeps as the script source, with no other copy left
 * behind (getRawAsset is a view of the blob, not a copy).
 */
function chunkSource() {
  const path = require('node:path');
  let sea;
  try {
    sea = require('node:sea');
  } catch {
    // not Node (Deno has no node:sea)
  }
  if (sea && sea.isSea()) {
    const source = Buffer.from(sea.getRawAsset(CHUNK)).toString('latin1');
    let cachedData;
    try {
      cachedData = Buffer.from(sea.getRawAsset(CHUNK_CACHE));
    } catch {
      // a reproducible build has no code cache
    }
    return { source, cachedData, filename: path.join(path.dirname(process.execPath), CHUNK) };
  }
  const filename = path.join(__dirname, CHUNK);
  let source;
  try {
    source = require('node:fs').readFileSync(filename, 'latin1');
  } catch (err) {
    throw new Error(`cannot load the services chunk ${filename} (it belongs next to the bundle): ${err.message}`);
  }
  return { source, filename };
}

function hostRequire(id) {
  return Object.prototype.hasOwnProperty.call(SHARED, id) ? SHARED[id]() : require(id);
}

/** The chunk's parameters; build/sea.ts makes the code cache with the same ones. */
const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

/**
 * The chunk as a CommonJS module function, compiled under its own name for
 * stack traces. With the executable's code cache V8 skips parsing the whole
 * chunk up front (which costs ~10 MB of compiler memory the C heap keeps);
 * a rejected cache (other V8 flags) just means a normal compile.
 */
function compile(source, filename, cachedData) {
  const vm = require('node:vm');
  // compileFunction avoids concatenating a wrapper (another multi-MB string).
  if (typeof vm.compileFunction === 'function') return vm.compileFunction(source, PARAMS, { filename, cachedData });
  return vm.runInThisContext(`(function (${PARAMS.join(', ')}) {${source}\n})`, { filename });
}

exports.loadServicesChunk = function loadServicesChunk() {
  if (services) return services;
  const { source, filename, cachedData } = chunkSource();
  const mod = { exports: {} };
  compile(source, filename, cachedData).call(mod.exports, mod.exports, hostRequire, mod, filename, require('node:path').dirname(filename));
  services = mod.exports;
  return services;
};
