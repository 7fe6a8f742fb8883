// Binary data crosses as raw bytes (never base64): typed arrays, Buffers, ArrayBuffers, DataViews.
//   npx flow run examples/binary.ts
import { createHash } from "node:crypto";
import { App } from "flow-sdk";

const app = new App("binary");

export const normalize = app.function({ gpu: "a100" }, async (samples: Float32Array, raw: Buffer) => {
  const peak = samples.reduce((max, v) => Math.max(max, Math.abs(v)), 0) || 1;
  return {
    normalized: samples.map((v) => v / peak),
    digest: createHash("sha256").update(raw).digest(),
  };
});

app.localEntrypoint(async () => {
  const samples = Float32Array.from({ length: 1_000_000 }, (_, i) => Math.sin(i / 100) * 3);
  const raw = Buffer.from("flow");
  const { normalized, digest } = await normalize.remote(samples, raw);
  const peak = normalized.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
  console.log(`${normalized.constructor.name} of ${normalized.length}, peak ${peak}`);
  console.log(`sha256(raw) = ${digest.toString("hex")}`);
});
