/**
 * What every FCP operation needs, resolved once per process: the validated config (and where each
 * value came from), the API client, the project's FID, and an SSH key the API knows about.
 *
 * Built for nothing: the config is loaded and checked on first use, so a client that may never
 * touch the cloud (`new Flow()` with `provider: fcp` but no key yet, a CLI command that only
 * parses flags) does not fail until it does.
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { DEFAULT_SOURCE, loadConfig, requireCloudConfig, type LoadedConfig } from "../../config/load-config.ts";
import type { CloudConfig } from "../../config/flow-config.ts";
import { catalogFromApi, type InstanceTypeModel } from "../../instance-types/from-api.ts";
import type { InstanceCatalog } from "../../instance-types/catalog.ts";
import { FcpClient } from "./api/client.ts";
import type { ConfiguredRegion } from "./placement.ts";
import { defaultKeysDir, ensureProjectKey, loadPrivateKey, type SshKeyPair } from "./ssh/ssh-keys.ts";

export interface FcpContextOptions {
  /** Defaults to loadConfig() on first use: explicit > FLOW_* env > project config > ~/.flow/config.yaml. */
  config?: LoadedConfig;
  /** Where that loadConfig() reads FLOW_* settings; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Flow's state directory (FLOW_HOME, else ~/.flow); the generated per-project key lives in its keys/. */
  flowHome?: string;
  /** A private key of the user's own to log in with instead of the generated one; FLOW_SSH_KEY / `ssh_key:` otherwise. */
  sshKeyPath?: string;
  /** How often to ask the API about a bid or instance while waiting. */
  pollIntervalMs?: number;
  /** Progress for people waiting on a GPU: "bid placed", "instance running", … */
  onProgress?: (message: string) => void;
}

export interface RegisteredKey {
  /** The key's FID, for a bid's launch_specification.ssh_keys. */
  fid: string;
  pair: SshKeyPair;
}

export class FcpContext {
  readonly pollIntervalMs: number;
  readonly progress: (message: string) => void;
  readonly #options: FcpContextOptions;
  #cloud: { config: CloudConfig; sources: LoadedConfig["sources"]; client: FcpClient } | undefined;
  #project: Promise<string> | undefined;
  #key: Promise<RegisteredKey> | undefined;
  #types: Promise<InstanceTypeModel[]> | undefined;

  constructor(options: FcpContextOptions = {}) {
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.progress = options.onProgress ?? (() => {});
    this.#options = options;
  }

  /** The config with its credentials: a missing API key or project throws here, on first use. */
  get config(): CloudConfig {
    return this.#resolved().config;
  }

  /** Where each setting came from (FLOW_API_KEY, a config file's path, …), for messages. */
  get sources(): LoadedConfig["sources"] {
    return this.#resolved().sources;
  }

  get client(): FcpClient {
    return this.#resolved().client;
  }

  #resolved(): { config: CloudConfig; sources: LoadedConfig["sources"]; client: FcpClient } {
    if (this.#cloud === undefined) {
      const { env } = this.#options;
      const loaded = this.#options.config ?? loadConfig(env === undefined ? {} : { env });
      const config = requireCloudConfig(loaded);
      const client = new FcpClient({ apiUrl: config.apiUrl, apiKey: config.apiKey, apiKeySource: loaded.sources.apiKey });
      this.#cloud = { config, sources: loaded.sources, client };
    }
    return this.#cloud;
  }

  /** The region the user asked for, if any; the built-in default is no preference. */
  get preferredRegion(): string | undefined {
    return this.configuredRegion?.region;
  }

  /** The configured region and where it is set (FLOW_REGION, a config file's path), if any. */
  get configuredRegion(): ConfiguredRegion | undefined {
    return this.sources.region === DEFAULT_SOURCE ? undefined : { region: this.config.region, source: this.sources.region };
  }

  /** The configured project (a name or a FID) as the FID the API wants. */
  projectFid(): Promise<string> {
    this.#project ??= this.client.resolveProjectId(this.config.project);
    this.#project.catch(() => (this.#project = undefined));
    return this.#project;
  }

  /** The SSH key instances will accept: registered with the API on first use, then reused. */
  sshKey(): Promise<RegisteredKey> {
    this.#key ??= this.#registerKey();
    this.#key.catch(() => (this.#key = undefined));
    return this.#key;
  }

  /** Instance types with the spot market as it is now (availability and prices are not cached). */
  async catalog(): Promise<InstanceCatalog> {
    const [types, auctions] = await Promise.all([this.#instanceTypes(), this.client.listSpotAvailability()]);
    return catalogFromApi(types, auctions);
  }

  /** The environment Flow reads its settings from (FLOW_DEV_VM, AWS_* for S3 data mounts): process.env unless given. */
  get env(): NodeJS.ProcessEnv {
    return this.#options.env ?? process.env;
  }

  /** The API's instance types (name, GPU socket, network), fetched once per process. */
  instanceTypes(): Promise<InstanceTypeModel[]> {
    return this.#instanceTypes();
  }

  /** "it_5ECS…" → "h100-80gb.sxm.8x", for bids this process did not place; the FID if unknown. */
  async instanceTypeName(fid: string): Promise<string> {
    return (await this.#instanceTypes()).find((type) => type.fid === fid)?.name ?? fid;
  }

  /** The instance-type list, fetched once per process: it does not change while we run. */
  #instanceTypes(): Promise<InstanceTypeModel[]> {
    this.#types ??= this.client.listInstanceTypes();
    this.#types.catch(() => (this.#types = undefined));
    return this.#types;
  }

  async #registerKey(): Promise<RegisteredKey> {
    const project = await this.projectFid();
    const ownKey = this.#options.sshKeyPath ?? this.config.sshKey;
    const pair =
      ownKey === undefined
        ? await ensureProjectKey({ project: this.config.project, keysDir: defaultKeysDir(this.#options.flowHome) })
        : await loadPrivateKey(ownKey);
    const known = await this.client.listSshKeys(project);
    const body = keyBody(pair.publicKey);
    const registered = known.find((key) => keyBody(key.public_key) === body);
    if (registered !== undefined) return { fid: registered.fid, pair };
    // Unique per machine and key, so a retry finds this key by name instead of adding another.
    const name = `flow-sdk-${hostname().replace(/[^A-Za-z0-9-]/g, "-").slice(0, 32)}-${createHash("sha256").update(body).digest("hex").slice(0, 8)}`;
    const created = await this.client.createSshKey({ project, name, public_key: pair.publicKey });
    this.progress(`registered SSH key ${name} (${pair.privateKeyPath}) with project ${this.config.project}`);
    return { fid: created.fid, pair };
  }
}

/** "ssh-ed25519 AAAA… comment" → "ssh-ed25519 AAAA…": comments do not make keys different. */
function keyBody(publicKey: string): string {
  return publicKey.trim().split(/\s+/).slice(0, 2).join(" ");
}
