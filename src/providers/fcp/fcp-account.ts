/**
 * The cloud account as the SDK shows it (see CloudAccount): prices now and over time, quotas, SSH
 * keys and who the API key belongs to, from the API's models turned into dollars, Dates and
 * instance-type names. Reservations have their own module (fcp-reservations.ts).
 */
import { ResourceNotFoundError, ValidationError } from "../../errors.ts";
import type { CatalogEntry } from "../../instance-types/catalog.ts";
import { parseDollars } from "../../instance-types/from-api.ts";
import type {
  AccountProject,
  AccountUser,
  CloudAccount,
  CurrentPrice,
  PriceHistory,
  PriceQuery,
  Pricing,
  Quota,
  SshKey,
  SshKeys,
} from "../cloud-account.ts";
import { FcpClient } from "./api/client.ts";
import type { SshKey as ApiSshKey } from "./api/schemas.ts";
import type { FcpContext } from "./fcp-context.ts";
import { FcpReservations, LIVE_RESERVATION_STATUSES } from "./fcp-reservations.ts";

/** Points in a price history by default: enough for a terminal-wide chart. */
const DEFAULT_HISTORY_SAMPLES = 60;
const WEEK_MS = 7 * 24 * 3600_000;
/** What an OpenSSH public key line looks like: its type, then base64. */
const PUBLIC_KEY = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;

export class FcpAccount implements CloudAccount {
  readonly reservations: FcpReservations;
  readonly pricing: Pricing;
  readonly sshKeys: SshKeys;
  readonly #context: FcpContext;

  constructor(context: FcpContext) {
    this.#context = context;
    this.reservations = new FcpReservations(context);
    this.pricing = { current: (query) => this.#currentPrices(query), history: (query) => this.#priceHistory(query) };
    this.sshKeys = { list: () => this.#listKeys(), add: (name, publicKey) => this.#addKey(name, publicKey), delete: (idOrName) => this.#deleteKey(idOrName) };
  }

  async quotas(): Promise<Quota[]> {
    const quotas = await this.#context.client.listQuotas(await this.#context.projectFid());
    return Promise.all(
      quotas.map(async (quota) => ({
        name: quota.name,
        product: quota.product_type.toLowerCase(),
        ...(quota.instance_type ? { instanceType: await this.#context.instanceTypeName(quota.instance_type) } : {}),
        used: quota.used_quantity,
        limit: quota.total_quantity,
        units: quota.units,
      })),
    );
  }

  async user(): Promise<AccountUser> {
    const me = await this.#context.client.me();
    return { userId: me.fid, email: me.email, ...(me.user_name ? { username: me.user_name } : {}) };
  }

  async projects(): Promise<AccountProject[]> {
    return (await this.#context.client.listProjects()).map((project) => ({ projectId: project.fid, name: project.name }));
  }

  // ---- prices --------------------------------------------------------------------------------

  async #currentPrices(query: PriceQuery = {}): Promise<CurrentPrice[]> {
    const offered = await this.#offered(query);
    return Promise.all(
      offered.map(async (entry) => {
        const prices = await this.#context.client.getCurrentPrices({ instanceType: entry.fid, region: entry.region! });
        const dollars = (cents: number | null | undefined) => (cents === null || cents === undefined ? undefined : cents / 100);
        const price: CurrentPrice = { instanceType: entry.name, region: entry.region! };
        const fields: [keyof CurrentPrice, number | undefined][] = [
          ["spotPrice", dollars(prices.spot_price_cents)],
          ["reservedPrice", dollars(prices.reserved_price_cents)],
          ["minimumPrice", dollars(prices.minimum_price_cents)],
          ["availableCapacity", prices.available_capacity ?? undefined],
          ["totalCapacity", prices.total_capacity ?? undefined],
        ];
        return Object.assign(price, Object.fromEntries(fields.filter(([, value]) => value !== undefined)));
      }),
    );
  }

  async #priceHistory(query: PriceQuery & { since?: Date; samples?: number } = {}): Promise<PriceHistory[]> {
    const offered = await this.#offered(query);
    if (offered.length === 0) return [];
    const names = new Map(offered.map((entry) => [entry.fid, entry.name]));
    const since = query.since ?? new Date(Date.now() - WEEK_MS);
    const history = await this.#context.client.getPriceHistory({
      instanceTypes: [...names.keys()],
      ...(query.region === undefined ? {} : { region: query.region }),
      numSamples: query.samples ?? DEFAULT_HISTORY_SAMPLES,
      startTime: since,
      endTime: new Date(),
    });
    return history.series
      .filter((series) => offered.some((entry) => entry.fid === series.instance_type && entry.region === series.region))
      .map((series) => ({
        instanceType: names.get(series.instance_type) ?? series.instance_type,
        region: series.region,
        points: series.timestamps.map((time, i) => {
          const reserved = series.reserved_prices[i];
          return { time: new Date(time), spotPrice: parseDollars(series.spot_prices[i] ?? "$0"), ...(reserved === undefined ? {} : { reservedPrice: parseDollars(reserved) }) };
        }),
      }));
  }

  /** The (type, region) pairs sold on the market that the query selects, in catalog order. */
  async #offered(query: PriceQuery): Promise<CatalogEntry[]> {
    const catalog = await this.#context.catalog();
    const fids = new Set<string>();
    if (query.instanceType !== undefined) fids.add(catalog.resolve(query.instanceType).fid);
    if (query.gpu !== undefined) {
      const model = catalog.search({ gpuModel: query.gpu.toLowerCase() });
      if (model.length === 0) {
        throw new ResourceNotFoundError(`No instance type with ${query.gpu} GPUs is on offer.`, {
          suggestions: [`GPU models on offer: ${[...new Set(catalog.entries.map((e) => e.gpuModel))].join(", ")}`],
        });
      }
      for (const entry of model) fids.add(entry.fid);
    }
    const entries = catalog.entries.filter(
      (entry) => entry.region !== undefined && (fids.size === 0 || fids.has(entry.fid)) && (query.region === undefined || entry.region === query.region),
    );
    if (entries.length === 0 && query.region !== undefined) {
      const regions = [...new Set(catalog.entries.flatMap((entry) => (entry.region === undefined ? [] : [entry.region])))];
      throw new ResourceNotFoundError(`Nothing you asked for is sold in region ${query.region}.`, { suggestions: [`regions: ${regions.join(", ")}`] });
    }
    return entries;
  }

  // ---- SSH keys ------------------------------------------------------------------------------

  async #listKeys(): Promise<SshKey[]> {
    const project = await this.#context.projectFid();
    const [keys, users] = await Promise.all([this.#context.client.listSshKeys(project), this.#keyUsers(project)]);
    return keys.map((key) => toSshKey(key, users.get(key.fid) ?? []));
  }

  async #addKey(name: string, publicKey: string): Promise<SshKey> {
    const key = publicKey.trim();
    if (!PUBLIC_KEY.test(key)) {
      throw new ValidationError(`That is not an OpenSSH public key (it should look like "ssh-ed25519 AAAA… you@laptop").`, {
        issues: [{ path: "publicKey", message: "must be one line: the key type, then base64, then an optional comment" }],
        suggestions: ["pass the .pub file, e.g. `flow ssh-keys add laptop ~/.ssh/id_ed25519.pub`, never the private key"],
      });
    }
    const project = await this.#context.projectFid();
    const known = await this.#context.client.listSshKeys(project);
    const taken = known.find((k) => k.name === name);
    if (taken !== undefined) {
      throw new ValidationError(`An SSH key named ${JSON.stringify(name)} is already registered (${taken.fid}).`, {
        issues: [{ path: "name", message: "is taken" }],
        suggestions: ["pick another name", `or delete the old one first: flow ssh-keys delete ${taken.fid}`],
      });
    }
    const body = key.split(/\s+/).slice(0, 2).join(" ");
    const same = known.find((k) => k.public_key.trim().split(/\s+/).slice(0, 2).join(" ") === body);
    if (same !== undefined) {
      throw new ValidationError(`This public key is already registered, as ${JSON.stringify(same.name)} (${same.fid}).`, {
        suggestions: [`use it by that name: flow run … --ssh-key ${same.name}`],
      });
    }
    return toSshKey(await this.#context.client.createSshKey({ project, name, public_key: key }), []);
  }

  async #deleteKey(idOrName: string): Promise<void> {
    const project = await this.#context.projectFid();
    const keys = await this.#context.client.listSshKeys(project);
    const matches = keys.filter((k) => k.fid === idOrName || k.name === idOrName);
    if (matches.length === 0) {
      throw new ResourceNotFoundError(`No SSH key ${JSON.stringify(idOrName)} in project ${this.#context.config.project}.`, {
        suggestions: [keys.length === 0 ? "the project has no SSH keys" : `keys: ${keys.map((k) => `${k.name} (${k.fid})`).join(", ")}`],
      });
    }
    if (matches.length > 1) {
      throw new ValidationError(`${matches.length} SSH keys are named ${JSON.stringify(idOrName)}: ${matches.map((k) => k.fid).join(", ")}.`, {
        suggestions: ["delete one by its id"],
      });
    }
    const key = matches[0]!;
    const users = (await this.#keyUsers(project)).get(key.fid) ?? [];
    if (users.length > 0) {
      const named = users.map((user) => `${user.id} (${user.name})`).join(", ");
      throw new ValidationError(`SSH key ${key.name} (${key.fid}) is used by ${named}, which ${users.length === 1 ? "is" : "are"} not over: deleting it would lock you out.`, {
        suggestions: users.map((user) => `stop it first: ${user.stop}`),
        errorCode: "ssh_key_in_use",
      });
    }
    await this.#context.client.deleteSshKey(key.fid);
  }

  /** Per key id, the bids and reservations that name it and are not over. */
  async #keyUsers(project: string): Promise<Map<string, KeyUser[]>> {
    const [bids, reservations] = await Promise.all([this.#context.client.listBids({ project }), this.#context.client.listReservations({ project })]);
    const users = new Map<string, KeyUser[]>();
    const add = (fids: readonly string[], user: KeyUser) => {
      for (const fid of fids) users.set(fid, [...(users.get(fid) ?? []), user]);
    };
    for (const bid of bids) if (bid.status !== "Terminated") add(bid.launch_specification.ssh_keys, { id: bid.fid, name: bid.name, stop: `flow cancel ${bid.fid}` });
    for (const reservation of reservations) {
      if (!LIVE_RESERVATION_STATUSES.has(reservation.status)) continue;
      add(reservation.launch_specification.ssh_keys, { id: reservation.fid, name: reservation.name, stop: `flow reserve cancel ${reservation.fid}` });
    }
    return users;
  }
}

/** A task (bid) or reservation using a key, and the command that stops it. */
interface KeyUser {
  id: string;
  name: string;
  stop: string;
}

function toSshKey(key: ApiSshKey, usedBy: readonly KeyUser[]): SshKey {
  return { keyId: key.fid, name: key.name, publicKey: key.public_key, required: key.required, createdAt: new Date(key.created_at), usedBy: usedBy.map((user) => user.id) };
}

/**
 * Checks an API key against the cloud before it is stored (`flow init`): who it belongs to and
 * the projects it can use. A rejected key fails with AuthenticationError naming `apiKeySource`.
 */
export async function verifyApiKey(settings: { apiUrl: string; apiKey: string; apiKeySource: string }): Promise<{ user: AccountUser; projects: AccountProject[] }> {
  const client = new FcpClient({ ...settings, maxRetries: 2 });
  try {
    const [me, projects] = await Promise.all([client.me(), client.listProjects()]);
    return {
      user: { userId: me.fid, email: me.email, ...(me.user_name ? { username: me.user_name } : {}) },
      projects: projects.map((project) => ({ projectId: project.fid, name: project.name })),
    };
  } finally {
    await client.close();
  }
}
