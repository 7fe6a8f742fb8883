/**
 * The S3 helper: `node s3-copy.mjs --credentials <file|-> --source s3://bucket/prefix --dest <dir>
 * [--reason <file>]` copies every object under the prefix into the directory (keys below the
 * prefix become paths below it), before a task's command starts. Bundled on its own into
 * dist/s3-copy.mjs (with the AWS SDK's S3 client, so the machine needs nothing but Node): the
 * cloud's startup script runs it on the instance, the local provider's supervisor on this machine.
 *
 * A failure is said in one line a user can act on (a refused key, a bucket that does not exist),
 * on stderr and, with --reason, in that file (the startup script's status message for the client);
 * the exit code is then 1.
 */
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { GetObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { parseS3Url, S3AccessSchema, type S3Access } from "./s3-access.ts";

const { values } = parseArgs({
  options: { credentials: { type: "string" }, source: { type: "string" }, dest: { type: "string" }, reason: { type: "string" } },
});
const source = values.source ?? "";

try {
  if (values.credentials === undefined || values.source === undefined || values.dest === undefined) {
    throw new Error("usage: s3-copy --credentials <file|-> --source s3://bucket/prefix --dest <dir> [--reason <file>]");
  }
  const text = values.credentials === "-" ? await readStdin() : await readFile(values.credentials, "utf8");
  const access = S3AccessSchema.parse(JSON.parse(text));
  const copied = await copy(access, values.source, values.dest);
  process.stdout.write(`s3-copy: ${copied.objects} objects (${copied.bytes} bytes) from ${values.source} into ${values.dest}\n`);
} catch (error) {
  const reason = `data mount ${source}: ${describe(error)}`;
  process.stderr.write(`s3-copy: ${reason}\n`);
  if (values.reason !== undefined) await writeFile(values.reason, `${reason}\n`).catch(() => {});
  process.exitCode = 1;
}

async function copy(access: S3Access, url: string, dest: string): Promise<{ objects: number; bytes: number }> {
  const { bucket, prefix } = parseS3Url(url);
  const client = new S3Client({
    region: access.region,
    forcePathStyle: access.forcePathStyle,
    // S3-compatible stores (MinIO, Ceph, R2, …) often lack the newer default checksums.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...(access.endpoint === undefined ? {} : { endpoint: access.endpoint }),
    credentials: { accessKeyId: access.accessKeyId, secretAccessKey: access.secretAccessKey, ...(access.sessionToken === undefined ? {} : { sessionToken: access.sessionToken }) },
  });
  // `s3://bucket/dir` and `s3://bucket/dir/` both mean the objects under dir/.
  const under = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  const root = resolve(dest);
  await mkdir(root, { recursive: true });
  let objects = 0;
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: under, ...(token === undefined ? {} : { ContinuationToken: token }) }));
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined || object.Key.endsWith("/")) continue;
      const target = resolve(root, object.Key.slice(under.length));
      // A key with `..` in it must not write outside the mount.
      if (relative(root, target).startsWith("..") || !target.startsWith(root + sep)) throw new Error(`object key ${JSON.stringify(object.Key)} points outside the mount`);
      await download(client, bucket, object.Key, target);
      objects++;
      bytes += object.Size ?? 0;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  // `s3://bucket/file.txt` names one object: copied under its own name.
  if (objects === 0 && prefix !== "" && !prefix.endsWith("/")) {
    const name = prefix.split("/").pop()!;
    try {
      await download(client, bucket, prefix, join(root, name));
      objects = 1;
    } catch (error) {
      if (!(error instanceof S3ServiceException && (error.name === "NoSuchKey" || error.name === "NotFound"))) throw error;
    }
  }
  return { objects, bytes };
}

/** Written beside and renamed, so a half-copied object never looks whole. */
async function download(client: S3Client, bucket: string, key: string, target: string): Promise<void> {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await mkdir(dirname(target), { recursive: true });
  const part = `${target}.s3-copy-part`;
  try {
    await pipeline(object.Body as Readable, createWriteStream(part));
    await rename(part, target);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}

/** S3's error codes in words, with what to check. */
function describe(error: unknown): string {
  if (error instanceof S3ServiceException) {
    const code = error.name;
    const status = error.$metadata.httpStatusCode;
    switch (code) {
      case "InvalidAccessKeyId":
        return "S3 refused the access key (InvalidAccessKeyId): check AWS_ACCESS_KEY_ID (or the profile's key)";
      case "SignatureDoesNotMatch":
        return "S3 refused the secret key (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY (or the profile's secret)";
      case "ExpiredToken":
      case "TokenRefreshRequired":
        return `the temporary credentials have expired (${code}): refresh them (AWS_SESSION_TOKEN) and run the task again`;
      case "NoSuchBucket":
        return `the bucket does not exist (NoSuchBucket): check the name in ${source}`;
      case "AccessDenied":
      case "Forbidden":
        return `access denied (${code}): the credentials may not read this bucket or prefix`;
      default:
        return `S3 answered ${code}${status === undefined ? "" : ` (HTTP ${status})`}: ${error.message}`;
    }
  }
  const err = error as NodeJS.ErrnoException;
  if (err.code === "ECONNREFUSED" || err.code === "ENOTFOUND" || err.code === "EAI_AGAIN") return `cannot reach S3 (${err.code}): check AWS_ENDPOINT_URL and the network`;
  return err.message ?? String(error);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
