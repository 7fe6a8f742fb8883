/**
 * What an S3 data mount needs to read its bucket: credentials and where S3 is. Resolved on the
 * user's machine (both providers), from the user's own AWS settings, and handed to the S3 helper
 * (s3-copy.ts) — over SFTP on the cloud, through a pipe locally — never written into a startup
 * script, an API request or a task record.
 *
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) from the
 * environment; with a profile (the mount's `options.profile`, else AWS_PROFILE) or without those
 * variables, the AWS SDK's default chain (shared config and credentials files, SSO, …).
 * Endpoint: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (an S3-compatible store; path-style
 * addressing then), else AWS itself. Region: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
 */
import * as z from "zod";
import { ValidationError } from "../../errors.ts";

export const S3AccessSchema = z.strictObject({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
  region: z.string().min(1),
  endpoint: z.url().optional(),
  forcePathStyle: z.boolean(),
});
export type S3Access = z.output<typeof S3AccessSchema>;

/** `s3://bucket/prefix` → its parts; the prefix may be empty (the whole bucket). */
export function parseS3Url(source: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(source);
  if (match === null) throw new ValidationError(`${JSON.stringify(source)} is not an s3://bucket/prefix URL.`);
  return { bucket: match[1]!, prefix: match[2]! };
}

/**
 * The access for `field` (e.g. `dataMounts[0]`, for the error): throws a ValidationError naming it
 * when there are no credentials to be found.
 */
export async function resolveS3Access(env: NodeJS.ProcessEnv, options: { field: string; profile?: string }): Promise<S3Access> {
  const endpoint = env["AWS_ENDPOINT_URL_S3"] || env["AWS_ENDPOINT_URL"] || undefined;
  const region = env["AWS_REGION"] || env["AWS_DEFAULT_REGION"] || "us-east-1";
  const place = { region, ...(endpoint === undefined ? {} : { endpoint }), forcePathStyle: endpoint !== undefined };
  const accessKeyId = env["AWS_ACCESS_KEY_ID"];
  const secretAccessKey = env["AWS_SECRET_ACCESS_KEY"];
  if (options.profile === undefined && accessKeyId && secretAccessKey) {
    const sessionToken = env["AWS_SESSION_TOKEN"] || undefined;
    return { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }), ...place };
  }
  const profile = options.profile ?? (env["AWS_PROFILE"] || undefined);
  try {
    // Loaded only for S3 mounts: the AWS SDK's chain reads ~/.aws/credentials, ~/.aws/config, SSO caches, …
    const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
    const found = await defaultProvider(profile === undefined ? {} : { profile })();
    return {
      accessKeyId: found.accessKeyId,
      secretAccessKey: found.secretAccessKey,
      ...(found.sessionToken === undefined ? {} : { sessionToken: found.sessionToken }),
      ...place,
    };
  } catch (error) {
    throw new ValidationError(`${options.field} reads from S3, but no AWS credentials were found${profile === undefined ? "" : ` for profile ${JSON.stringify(profile)}`}: ${(error as Error).message}`, {
      issues: [{ path: options.field, message: "needs AWS credentials" }],
      suggestions: [
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)",
        "or name a profile of ~/.aws/credentials with AWS_PROFILE or the mount's `options: { profile: … }`",
      ],
      errorCode: "s3_credentials_missing",
    });
  }
}
