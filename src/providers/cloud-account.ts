/**
 * CloudAccount: what a cloud provider offers beyond running tasks — reserved capacity, prices,
 * quotas, SSH keys, the account itself — and DevMachines, a persistent instance for interactive
 * work. Flow exposes them as `flow.reservations`, `flow.pricing`, `flow.quotas()`,
 * `flow.sshKeys`, `flow.account()` and `flow.dev`; the CLI's `flow reserve`, `flow pricing`,
 * `flow quotas`, `flow ssh-keys`, `flow init` and `flow dev` go through them.
 *
 * Prices are dollars (per instance-hour unless named otherwise), times are Dates, and instance
 * types are the provider's names (`"a100-80gb.sxm.1x"`), whatever spelling the caller used.
 */
import type { CodePackage } from "../task/code-package.ts";
import type { TaskInfo } from "../task/task-info.ts";

export const RESERVATION_STATUSES = ["pending", "active", "paused", "canceled", "ended"] as const;
/** pending: before its start time; active: its instances run; paused: stopped by you; canceled or ended: over. */
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/** Reserved capacity: `quantity` instances of one type in one region, from `startTime` to `endTime`. */
export interface Reservation {
  reservationId: string;
  name: string;
  status: ReservationStatus;
  instanceType: string;
  region: string;
  quantity: number;
  startTime: Date;
  endTime: Date;
  createdAt: Date;
  /** The whole reservation, including extensions. */
  totalPrice: number;
  /** Per instance-hour. */
  unitPrice: number;
  /** Its instances' ids; they exist from creation and boot at `startTime`. */
  instances: string[];
}

/** When and how much: a window starts now unless `startTime` says otherwise. */
export interface ReservationWindow {
  /** "a100", "8xh100", a provider name or id. */
  instanceType: string;
  /** Without one: the cheapest region that can reserve the window (quote, create). */
  region?: string;
  /** A Date or an ISO 8601 time with its zone; now when omitted. */
  startTime?: Date | string;
  /** 3 to 336 hours (14 days). */
  durationHours: number;
  /** Instances; 1 by default. */
  quantity?: number;
}

/** One way to pay for a reservation. */
export interface ReservationOffer {
  /** "standard", "flex", …: what `create({ offer })` takes. */
  key: string;
  name: string;
  /** Per instance-hour. */
  unitPrice: number;
  totalPrice: number;
  /** Credited per instance-hour paused. */
  pauseCreditPerHour: number;
  /** Credited per instance-hour given back early (cancel). */
  returnCreditPerHour: number;
}

export interface ReservationQuote {
  instanceType: string;
  region: string;
  quantity: number;
  startTime: Date;
  endTime: Date;
  /** Whether the capacity is there for all of the window. */
  available: boolean;
  offers: ReservationOffer[];
}

export interface CreateReservationOptions extends ReservationWindow {
  /** Shown in listings; generated when omitted. */
  name?: string;
  /** An offer's key from the quote; "standard" by default. */
  offer?: string;
  /** Refuse if the offer's price has risen above this (dollars per instance-hour). */
  maxUnitPrice?: number;
}

export interface ExtendReservationOptions {
  /** The new end: a Date or an ISO 8601 time, or `hours` after the current end. Give one. */
  endTime?: Date | string;
  hours?: number;
}

/** One entry of a reservation's history, oldest first. */
export interface ReservationEvent {
  time: Date;
  /** "Placed", "Terms Set", "Active", "Paused", "Resumed", "Terms Changed", "Canceled", "Ended". */
  event: string;
  unitPrice?: number;
  pauseCredit?: number;
  returnCredit?: number;
}

/** What a reservation has committed, been credited and used so far. */
export interface ReservationUsage {
  committedCost: number;
  /** Pause credits (flex offers) and credits for instances given back early. */
  credits: number;
  netCost: number;
  reservedInstanceHours: number;
  activeInstanceHours: number;
  idleInstanceHours: number;
  asOf: Date;
}

export interface Reservations {
  /** What the window would cost, per offer, and whether it is available. */
  quote(window: ReservationWindow): Promise<ReservationQuote>;
  create(options: CreateReservationOptions): Promise<Reservation>;
  /** Newest first; `status` filters. */
  list(options?: { status?: ReservationStatus }): Promise<Reservation[]>;
  get(reservationId: string): Promise<Reservation>;
  /** How far it can be extended now. */
  extensionAvailability(reservationId: string): Promise<{ latestEndTime: Date; available: boolean }>;
  extend(reservationId: string, options: ExtendReservationOptions): Promise<Reservation>;
  /** Pauses (every instance stops; flex offers credit the time) or resumes it. */
  update(reservationId: string, change: { paused: boolean }): Promise<Reservation>;
  /** Gives every instance back: they terminate and the reservation is canceled, with a credit for the time left. */
  cancel(reservationId: string): Promise<Reservation>;
  /**
   * Gives some instances back: they terminate, the reservation shrinks, credited for the time
   * left. The API may terminate only some (those already ended are not): `notTerminated` names them.
   */
  terminateInstances(reservationId: string, instanceIds: readonly string[]): Promise<{ terminated: string[]; notTerminated: string[] }>;
  history(reservationId: string): Promise<ReservationEvent[]>;
  usage(reservationId: string): Promise<ReservationUsage>;
}

/** The market for one instance type in one region, now. */
export interface CurrentPrice {
  instanceType: string;
  region: string;
  /** The spot market's last price. */
  spotPrice?: number;
  /** A standard reservation, per instance-hour. */
  reservedPrice?: number;
  /** The least a bid may offer. */
  minimumPrice?: number;
  availableCapacity?: number;
  totalCapacity?: number;
}

export interface PriceHistory {
  instanceType: string;
  region: string;
  /** Oldest first. */
  points: { time: Date; spotPrice: number; reservedPrice?: number }[];
}

export interface PriceQuery {
  /** One instance type: "8xh100", "a100", a provider name or id. */
  instanceType?: string;
  /** Every type with this GPU model: "h100". */
  gpu?: string;
  region?: string;
}

export interface Pricing {
  current(query?: PriceQuery): Promise<CurrentPrice[]>;
  /** The spot (and reserved) price since `since`; the last 7 days by default. */
  history(query?: PriceQuery & { since?: Date; samples?: number }): Promise<PriceHistory[]>;
}

export interface Quota {
  name: string;
  /** "spot", "reservations", "storage", … */
  product: string;
  /** The type it limits, when it limits one. */
  instanceType?: string;
  used: number;
  limit: number;
  /** "instances", "GB", … */
  units: string;
}

export interface SshKey {
  keyId: string;
  name: string;
  publicKey: string;
  /** A required key is let into every instance of the project. */
  required: boolean;
  createdAt: Date;
  /** Tasks (bids) and reservations that name it and are not over. */
  usedBy: string[];
}

export interface SshKeys {
  list(): Promise<SshKey[]>;
  /** Registers a public key (`ssh-ed25519 AAAA… comment`) under `name`. */
  add(name: string, publicKey: string): Promise<SshKey>;
  /** By id or name. Refused while a task or reservation that is not over uses it. */
  delete(idOrName: string): Promise<void>;
}

export interface AccountUser {
  userId: string;
  email: string;
  username?: string;
}

export interface AccountProject {
  projectId: string;
  name: string;
}

export interface CloudAccount {
  readonly reservations: Reservations;
  readonly pricing: Pricing;
  readonly sshKeys: SshKeys;
  quotas(): Promise<Quota[]>;
  /** Who the API key belongs to. */
  user(): Promise<AccountUser>;
  projects(): Promise<AccountProject[]>;
}

// ---- dev machines ----------------------------------------------------------------------------

/** How long an unused dev machine stays up before it powers itself off. */
export const DEFAULT_DEV_IDLE_MINUTES = 60;

export interface DevMachineOptions {
  /** "a100" by default. */
  instanceType?: string;
  region?: string;
  maxPricePerHour?: number;
  /** Power off after this long without a `flow dev` session; DEFAULT_DEV_IDLE_MINUTES by default. */
  idleMinutes?: number;
}

export interface DevMachine {
  task: TaskInfo;
  /** Minutes without a session before it powers off; undefined while it boots. */
  idleMinutes?: number;
  /** When it powers off unless used before then; undefined while it boots. */
  stopsAt?: Date;
}

/** A dev machine to work on, with an SSH session open to it. */
export interface DevSession {
  readonly machine: DevMachine;
  /** Whether start() started the machine (false: it was up already). */
  readonly started: boolean;
  /**
   * Makes the machine's code directory hold `code` (when given), then runs `command` there, or
   * an interactive shell, attached to this process's terminal; ends the session. Resolves with
   * the exit code.
   */
  attach(options: { code?: CodePackage; command?: string }): Promise<number>;
  /** Ends the session without running anything. */
  close(): void;
}

export interface DevMachines {
  /** The live dev machine, if there is one. */
  find(): Promise<DevMachine | undefined>;
  /** Reuses the live one (applying `idleMinutes` when given) or starts one; resolves once it accepts commands. */
  start(options: DevMachineOptions): Promise<DevSession>;
  /** Cancels the live dev machine; undefined when there was none. */
  stop(): Promise<TaskInfo | undefined>;
}
