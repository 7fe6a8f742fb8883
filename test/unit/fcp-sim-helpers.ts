// Shared by the simulator's tests: its API over real HTTP, polling, and real SSH into its instances.
import assert from "node:assert/strict";
import ssh2 from "ssh2";
import type { BidModel } from "../../tools/fcp-sim/models.ts";
import type { FcpSimulator } from "../../tools/fcp-sim/simulator.ts";

const { Client } = ssh2;

export const A100 = "it_MsIRhxj3ccyVWGfP";

export async function api<Body = unknown>(sim: FcpSimulator, method: string, path: string, body?: unknown): Promise<{ status: number; body: Body }> {
  const response = await fetch(`${sim.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${sim.apiKey}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as Body };
}

/** The body of a call that must answer `status`; the assertion shows the body otherwise. */
export async function expectApi<Body = unknown>(sim: FcpSimulator, status: number, method: string, path: string, body?: unknown): Promise<Body> {
  const response = await api<Body>(sim, method, path, body);
  assert.equal(response.status, status, `${method} ${path}: ${JSON.stringify(response.body)}`);
  return response.body;
}

export interface BidOptions {
  instanceType?: string;
  region?: string;
  limitPrice?: string;
  quantity?: number;
  script?: string;
  sshKeys?: string[];
}

export async function placeBid(sim: FcpSimulator, options: BidOptions = {}): Promise<BidModel> {
  return expectApi<BidModel>(sim, 201, "POST", "/v2/spot/bids", {
    project: sim.project.fid,
    region: options.region ?? "us-central1-b",
    instance_type: options.instanceType ?? A100,
    limit_price: options.limitPrice ?? "$5.00",
    instance_quantity: options.quantity ?? 1,
    name: "behaviour",
    launch_specification: { volumes: [], ssh_keys: options.sshKeys ?? [], startup_script: options.script ?? "#!/bin/bash\necho hi" },
  });
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

export function sshExec(target: { host: string; port: number; privateKey: string }, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on("error", reject);
    client.on("ready", () => {
      client.exec(command, (error, channel) => {
        if (error !== undefined && error !== null) {
          client.end();
          reject(error);
          return;
        }
        let output = "";
        channel.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
        channel.on("close", () => {
          client.end();
          resolve(output);
        });
      });
    });
    client.connect({ host: target.host, port: target.port, username: "ubuntu", privateKey: target.privateKey, readyTimeout: 10_000 });
  });
}
