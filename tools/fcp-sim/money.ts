/** Prices travel as dollar strings ("$12.34"); the simulator compares them in whole cents. */

const DOLLARS = /^\$(\d{1,7})(?:\.(\d{1,2}))?$/;

/** Cents for a well-formed dollar string, undefined for anything else ("12.34", "$1.234", "$-1"). */
export function parseDollarsToCents(price: string): number | undefined {
  const match = DOLLARS.exec(price);
  if (match === null) return undefined;
  return Number(match[1]) * 100 + Number((match[2] ?? "0").padEnd(2, "0"));
}

export function formatCents(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`;
}

export function dollarsToCents(dollars: number): number {
  return Math.round(dollars * 100);
}
