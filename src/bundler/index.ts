/** The bundler: turns the module that defines remote functions into a code archive, and back. */
export { buildArchive, type BundleOptions, type CodeArchive } from "./build.ts";
export type { ExternalPackage } from "./externals.ts";
export { Manifest } from "./manifest.ts";
export { unpackArchive } from "./unpack.ts";
