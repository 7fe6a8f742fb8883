/** Small pieces every group of routes needs: path parameters, prices, the project check, paging. */
import * as z from "zod";
import { ApiError } from "./api-error.ts";
import type { Cloud } from "./cloud.ts";
import { parseDollarsToCents } from "./money.ts";
import { queryInt } from "./validation.ts";

export const SortDirection = z.enum(["asc", "desc"]);
export const PageLimit = queryInt(1, 100);

export function param(params: Record<string, string>, name: string): string {
  const value = params[name];
  if (value === undefined) throw new Error(`fcp-sim: route has no {${name}}`);
  return value;
}

export function centsOf(price: string): number {
  const cents = parseDollarsToCents(price);
  if (cents === undefined) throw new Error(`fcp-sim: price ${price} passed validation but does not parse`);
  return cents;
}

/** A project named in a query must exist: 404 like the API's. */
export function requireProjectOf(cloud: Cloud, fid: string): void {
  if (!cloud.projects.some((project) => project.fid === fid)) throw new ApiError(404, `Project ${fid} not found or not accessible with this API key`);
}
