/**
 * FcpSimulator: a local stand-in for the Mithril API (the operations the SDK uses, shapes exactly as
 * mithril-openapi.json) whose instances are real sandboxes — the startup script runs under bash,
 * and each instance has its own sshd — plus fault injection, a ledger of what would still cost
 * money, and the billing of every instance.
 *
 *   const sim = await FcpSimulator.start();
 *   // point the SDK at sim.url with sim.apiKey and sim.project.fid ...
 *   sim.faults.preempt(sim.liveInstances()[0].fid);
 *   await sim.close();
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApiServer, type ApiServer, type ControlHandler, type RecordedExchange } from "./api-server.ts";
import { Cloud, type InstanceBill, type LiveInstance } from "./cloud.ts";
import { DEFAULT_API_KEY, DEFAULT_PROJECT, defaultAuctions, SIM_USER, type AuctionOption } from "./fixtures.ts";
import { readDockerRuns, type DockerRun } from "./docker-shim.ts";
import { HttpFaults, type DropNextOptions, type FailNextOptions, type HoldNextOptions } from "./http-faults.ts";
import { nowIso } from "./ids.ts";
import { dollarsToCents } from "./money.ts";
import type { BidModel, InstanceModel, ReservationModel } from "./models.ts";
import { DEFAULT_QUOTA_LIMITS, type QuotaLimits } from "./quotas.ts";
import { apiRoutes } from "./routes.ts";

export type { RecordedExchange } from "./api-server.ts";
export type { InstanceBill, LiveInstance } from "./cloud.ts";
export type { DockerRun } from "./docker-shim.ts";
export type { QuotaLimits } from "./quotas.ts";
export type { DropNextOptions, FailNextOptions, HoldNextOptions } from "./http-faults.ts";

export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Accepted bearer tokens; default ["fkey_sim_test"]. */
  apiKeys?: string[];
  /** Default [{ fid: "proj_sim0001", name: "sim-project" }]. */
  projects?: { fid: string; name: string }[];
  /**
   * Per auction: instance type (name or FID), region, free capacity, last price in dollars.
   * Default: every fixture type in us-central1-a and us-central1-b with seed-like prices.
   */
  auctions?: AuctionOption[];
  /** How long an Open bid waits before it can be allocated; default 200. */
  allocationDelayMs?: number;
  /** Each STATUS_NEW → CONFIRMED → INITIALIZING → STARTING → RUNNING step; default 100. */
  bootStepMs?: number;
  /**
   * Added to every round trip over an SSH connection to an instance, half each way, as a link to
   * a distant region adds it (loopback's own is ~0.1 ms); default 0.
   */
  sshRoundTripMs?: number;
  /** Where sandboxes live; default a temp dir removed on close. */
  stateDir?: string;
  /** Seeds the price history before the start (GET /v2/pricing/history); default 1. */
  priceSeed?: number;
  /** Per-project quotas, enforced on create; defaults in quotas.ts. */
  quotas?: Partial<QuotaLimits>;
  /** Serve the /_sim/... control routes (main.ts turns this on). */
  control?: (simulator: FcpSimulator) => ControlHandler;
}

export interface SimulatorFaults {
  /** Spot preemption: the bid's instances go STATUS_PREEMPTING, their sandboxes die, STATUS_PREEMPTED; the bid returns to Open. */
  preempt(instanceFid: string): Promise<void>;
  /** The machine dies: sandbox killed, STATUS_ERROR. */
  kill(instanceFid: string): Promise<void>;
  /** Free capacity of the type's auction in a region (every region when undefined). */
  setCapacity(instanceType: string, region: string | undefined, capacity: number): void;
  /** The market moves: the auction's last price (every region when undefined); allocated bids below it are outbid (preempted). */
  setPrice(instanceType: string, region: string | undefined, dollars: number): void;
  /** The reservation's end time comes now: it is Ended and its instances terminate. */
  expireReservation(reservationFid: string): Promise<void>;
  failNext(options: FailNextOptions): void;
  dropNext(options: DropNextOptions): void;
  /** The next matching requests take effect, then their response is held `ms` (or until the client hangs up). */
  holdNext(options: HoldNextOptions): void;
  setLatencyMs(ms: number): void;
  dropSshConnections(instanceFid: string): void;
  /** The instance's SSH connections drop when a command containing `match` is about to run there (once). */
  dropSshConnectionsAtExec(instanceFid: string, match: string): void;
}

export class FcpSimulator {
  readonly url: string;
  readonly apiKey: string;
  readonly project: { fid: string; name: string };
  readonly requests: RecordedExchange[];
  readonly faults: SimulatorFaults;
  readonly #cloud: Cloud;
  readonly #server: ApiServer;
  readonly #ownedStateDir: string | undefined;
  #closing: Promise<void> | undefined;

  private constructor(init: { server: ApiServer; cloud: Cloud; httpFaults: HttpFaults; apiKey: string; requests: RecordedExchange[]; ownedStateDir: string | undefined }) {
    const { cloud, httpFaults } = init;
    this.url = init.server.url;
    this.apiKey = init.apiKey;
    const [project] = cloud.projects;
    if (project === undefined) throw new Error("fcp-sim: at least one project is required");
    this.project = { fid: project.fid, name: project.name };
    this.requests = init.requests;
    this.#cloud = cloud;
    this.#server = init.server;
    this.#ownedStateDir = init.ownedStateDir;
    this.faults = {
      preempt: (fid) => cloud.preempt(fid),
      kill: (fid) => cloud.kill(fid),
      setCapacity: (type, region, capacity) => cloud.setCapacity(type, region, capacity),
      setPrice: (type, region, dollars) => cloud.setPrice(type, region, dollarsToCents(dollars)),
      expireReservation: (fid) => cloud.expireReservation(fid),
      failNext: (options) => httpFaults.failNext(options),
      dropNext: (options) => httpFaults.dropNext(options),
      holdNext: (options) => httpFaults.holdNext(options),
      setLatencyMs: (ms) => httpFaults.setLatencyMs(ms),
      dropSshConnections: (fid) => cloud.dropSshConnections(fid),
      dropSshConnectionsAtExec: (fid, match) => cloud.dropSshConnectionsAtExec(fid, match),
    };
  }

  static async start(options: SimulatorOptions = {}): Promise<FcpSimulator> {
    const apiKeys = options.apiKeys ?? [DEFAULT_API_KEY];
    const apiKey = apiKeys[0];
    if (apiKey === undefined) throw new Error("fcp-sim: apiKeys must name at least one key");
    const ownedStateDir = options.stateDir === undefined ? await mkdtemp(join(tmpdir(), "fcp-sim-")) : undefined;
    const createdAt = nowIso();
    const cloud = new Cloud({
      user: SIM_USER,
      projects: (options.projects ?? [DEFAULT_PROJECT]).map((project) => ({ ...project, created_at: createdAt })),
      auctions: options.auctions ?? defaultAuctions(),
      allocationDelayMs: options.allocationDelayMs ?? 200,
      bootStepMs: options.bootStepMs ?? 100,
      sshRoundTripMs: options.sshRoundTripMs ?? 0,
      stateDir: options.stateDir ?? ownedStateDir ?? "",
      priceSeed: options.priceSeed ?? 1,
      quotas: { ...DEFAULT_QUOTA_LIMITS, ...options.quotas },
    });
    const httpFaults = new HttpFaults();
    const requests: RecordedExchange[] = [];
    // The control routes need the simulator, which needs the server: bound once both exist.
    let controlHandler: ControlHandler | undefined;
    let server: ApiServer;
    try {
      server = await startApiServer({
        port: options.port ?? 0,
        routes: apiRoutes(cloud),
        apiKeys,
        faults: httpFaults,
        onExchange: (exchange) => requests.push(exchange),
        ...(options.control === undefined ? {} : { control: (request) => controlHandler?.(request) ?? Promise.resolve(undefined) }),
      });
    } catch (error) {
      await cloud.close();
      if (ownedStateDir !== undefined) await rm(ownedStateDir, { recursive: true, force: true });
      throw error;
    }
    const simulator = new FcpSimulator({ server, cloud, httpFaults, apiKey, requests, ownedStateDir });
    controlHandler = options.control?.(simulator);
    return simulator;
  }

  /** The ledger: instances not yet terminated, preempted or errored (what would still cost money). */
  liveInstances(): LiveInstance[] {
    return this.#cloud.liveInstances();
  }

  bids(): BidModel[] {
    return this.#cloud.bids();
  }

  instances(): InstanceModel[] {
    return this.#cloud.instances();
  }

  reservations(): ReservationModel[] {
    return this.#cloud.reservations();
  }

  /** Every instance's billed periods (from allocation until it ends or pauses) and what they cost. */
  billing(): InstanceBill[] {
    return this.#cloud.billing();
  }

  /** `<stateDir>/instances/<fid>`: the instance's disk (flow/, home/, bin/, startup-script.sh, console.log). */
  sandboxDir(instanceFid: string): string {
    return this.#cloud.sandboxDir(instanceFid);
  }

  /** What the instance's simulated Docker ran, oldest first: image, mounts, env names, working dir, GPUs, argv. */
  dockerRuns(instanceFid: string): Promise<DockerRun[]> {
    return readDockerRuns(this.#cloud.sandboxDir(instanceFid));
  }

  /** Stops serving, kills every sandbox and sshd, and removes the default state dir. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([this.#server.close(), this.#cloud.close()]);
      if (this.#ownedStateDir !== undefined) await rm(this.#ownedStateDir, { recursive: true, force: true });
    })();
    return this.#closing;
  }
}
