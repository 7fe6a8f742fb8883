/**
 * Prices in the simulated market, all in cents per instance-hour.
 *
 * Spot: each auction has a base price (the one it was configured with), a last price (which moves
 * only when a test sets it) and a floor, the least a bid may offer. Reservations: a unit price
 * derived from the base price, sold as two offers. History: since the simulator started, the real
 * last prices; before that, a seeded, deterministic wiggle that meets the starting price at the
 * start, so a chart of the last week looks like a market and ends where the market is.
 */
import type { ReservationOfferModel } from "./models.ts";
import { formatCents } from "./money.ts";

export interface Auction {
  fid: string;
  instanceType: string;
  region: string;
  /** Units free right now; allocation takes, release gives back. */
  capacity: number;
  /** The configured price; the floor and reservation prices derive from it. */
  basePriceCents: number;
  lastPriceCents: number;
  /** The last price since the simulator started (the first entry), oldest first. */
  priceChanges: { atMs: number; cents: number }[];
}

/** Reserved capacity costs more than spot: it is never preempted. */
const RESERVED_PRICE_FACTOR = 1.2;
/** The auction's floor: bids below it are refused, not left waiting. */
const MINIMUM_PRICE_FACTOR = 0.25;
/** The flex offer's premium over standard, paid for the right to pause with a credit. */
const FLEX_PRICE_FACTOR = 1.2;
const RETURN_BUYBACK_FACTOR = 0.5;
const FLEX_PAUSE_BUYBACK_FACTOR = 0.6;

export const HOUR_MS = 3_600_000;

export function minimumPriceCents(auction: Auction): number {
  return Math.max(1, Math.round(auction.basePriceCents * MINIMUM_PRICE_FACTOR));
}

export function reservedUnitCents(auction: Auction): number {
  return Math.round(auction.basePriceCents * RESERVED_PRICE_FACTOR);
}

/** One way to buy a reservation: what an instance-hour costs and what the platform pays back. */
export interface Offer {
  key: "standard" | "flex";
  displayName: string;
  unitCents: number;
  /** Credited per instance-hour returned early (terminate-instances). */
  returnBuybackCents: number;
  /** Credited per instance-hour an instance spends paused. */
  pauseBuybackCents: number;
}

export function reservationOffers(auction: Auction): Offer[] {
  const standard = reservedUnitCents(auction);
  const flex = Math.round(standard * FLEX_PRICE_FACTOR);
  return [
    { key: "standard", displayName: "Standard", unitCents: standard, returnBuybackCents: Math.round(standard * RETURN_BUYBACK_FACTOR), pauseBuybackCents: 0 },
    {
      key: "flex",
      displayName: "Flex (pause for a credit)",
      unitCents: flex,
      returnBuybackCents: Math.round(flex * RETURN_BUYBACK_FACTOR),
      pauseBuybackCents: Math.round(flex * FLEX_PAUSE_BUYBACK_FACTOR),
    },
  ];
}

export function offerModel(offer: Offer, standardUnitCents: number, instanceHours: number): ReservationOfferModel {
  const total = (cents: number) => formatCents(Math.round(cents * instanceHours));
  return {
    key: offer.key,
    display_name: offer.displayName,
    unit_price: formatCents(offer.unitCents),
    return_buyback_price: formatCents(offer.returnBuybackCents),
    pause_buyback_price: formatCents(offer.pauseBuybackCents),
    total_price: total(offer.unitCents),
    total_etbp_value: total(offer.returnBuybackCents),
    total_fubp_value: total(offer.pauseBuybackCents),
    option_premium: total(offer.unitCents - standardUnitCents),
  };
}

// ---- history -----------------------------------------------------------------------------------

/** The spot price at `atMs`. */
export function spotPriceAt(auction: Auction, atMs: number, seed: number): number {
  const [first, ...later] = auction.priceChanges;
  if (first === undefined) return auction.lastPriceCents;
  if (atMs < first.atMs) {
    const cents = first.cents * (1 + wiggle(seed, `${auction.instanceType}@${auction.region}`, first.atMs - atMs));
    return Math.max(minimumPriceCents(auction), Math.round(cents));
  }
  let cents = first.cents;
  for (const change of later) if (change.atMs <= atMs) cents = change.cents;
  return cents;
}

/** The standard reservation price at `atMs`: steadier than spot, constant since the start. */
export function reservedPriceAt(auction: Auction, atMs: number, seed: number): number {
  const startMs = auction.priceChanges[0]?.atMs ?? atMs;
  const unit = reservedUnitCents(auction);
  if (atMs >= startMs) return unit;
  return Math.round(unit * (1 + 0.3 * wiggle(seed, `${auction.instanceType}@${auction.region}/reserved`, startMs - atMs)));
}

/**
 * Timestamps to sample: `count` evenly spaced from `fromMs` to `toMs` inclusive, or with -1 one an
 * hour (at most 1000, spaced wider for longer ranges).
 */
export function sampleTimes(fromMs: number, toMs: number, count: number): number[] {
  const span = Math.max(0, toMs - fromMs);
  const n = count === -1 ? Math.min(1000, Math.floor(span / HOUR_MS) + 1) : count;
  if (n <= 0) return [];
  if (n === 1) return [toMs];
  return Array.from({ length: n }, (_, i) => Math.round(fromMs + (span * i) / (n - 1)));
}

/**
 * A relative price deviation for a moment `ageMs` before the simulator started: a daily and a
 * weekly swing plus seeded noise, exactly 0 at age 0 so history meets the live price.
 */
function wiggle(seed: number, key: string, ageMs: number): number {
  const phase = (salt: string) => (hash(`${seed}:${key}:${salt}`) / 2 ** 32) * 2 * Math.PI;
  const swing = (amplitude: number, periodMs: number, salt: string) => {
    const p = phase(salt);
    return amplitude * (Math.sin((2 * Math.PI * ageMs) / periodMs + p) - Math.sin(p));
  };
  const noise = 0.05 * (valueNoise(seed, key, ageMs / (3 * HOUR_MS)) - valueNoise(seed, key, 0));
  return swing(0.08, 24 * HOUR_MS, "day") + swing(0.06, 7 * 24 * HOUR_MS, "week") + noise;
}

/** Smooth noise in [-1, 1]: seeded random values at integers, eased in between. */
function valueNoise(seed: number, key: string, x: number): number {
  const at = (i: number) => (hash(`${seed}:${key}:${i}`) / 2 ** 32) * 2 - 1;
  const i = Math.floor(x);
  const t = x - i;
  const eased = t * t * (3 - 2 * t);
  return at(i) + (at(i + 1) - at(i)) * eased;
}

/** FNV-1a: a fast, stable 32-bit string hash (not for security). */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
