/**
 * `require("flow-sdk")`: the package's "require" export (built to dist/index.cjs).
 *
 * If this installation's ES module copy of the SDK is loaded in the process already, its exports
 * are returned, so CommonJS code shares one SDK with it: one registry, one codec, one set of
 * classes (`instanceof` holds). That is always so under `flow run`, whose CLI loads that copy
 * before the user's file (commands/run.ts). Otherwise the CommonJS build is loaded
 * (dist/cjs/index.cjs, the same source bundled as CommonJS).
 *
 * Node's own require() of ES modules (Node 20.19+) is not used for this: under async loader hooks
 * such as tsx's it fails ("request for './chunk-….js' is not in cache"), and older Node 20 lacks it.
 */
import path = require("node:path");
import url = require("node:url");

// Keep in step with LOADED_COPY_KEY in index.ts: the key names the ES module entry's own URL.
const loadedCopy = (globalThis as Record<symbol, unknown>)[Symbol.for(`flow-sdk.loaded-copy ${url.pathToFileURL(path.join(__dirname, "index.js")).href}`)];

export = loadedCopy ?? require("./cjs/index.cjs");
