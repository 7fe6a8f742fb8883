import { randomInt } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A FID like the API's: a type prefix and 16 random alphanumerics (e.g. `bid_Xq3…`). */
export function newFid(prefix: "bid" | "inst" | "sshkey" | "vol" | "auc" | "res" | "grant" | "quota"): string {
  let suffix = "";
  for (let i = 0; i < 16; i++) suffix += ALPHABET[randomInt(ALPHABET.length)];
  return `${prefix}_${suffix}`;
}

export function nowIso(): string {
  return new Date().toISOString();
}
