/**
 * `flow ssh-keys list|add|delete`: the SSH keys registered with the project. A task adds one to
 * its instances with `flow run … --ssh-key <name>`; Flow registers its own key on first use.
 */
import { existsSync, readFileSync } from "node:fs";
import { ValidationError } from "../../errors.ts";
import { flowFor } from "../cli-inputs.ts";
import { formatTable, formatTime, printJson } from "../output.ts";

interface Common {
  provider?: string;
  json?: boolean;
}

export async function sshKeysListCommand(options: Common): Promise<void> {
  const keys = await flowFor(options.provider).sshKeys.list();
  if (options.json) return printJson(keys);
  if (keys.length === 0) {
    process.stdout.write("No SSH keys. Add yours with: flow ssh-keys add <name> ~/.ssh/id_ed25519.pub\n");
    return;
  }
  const rows = keys.map((k) => [k.name, k.keyId, k.required ? "yes" : "no", formatTime(k.createdAt), k.usedBy.join(", ") || "-", fingerprintish(k.publicKey)]);
  process.stdout.write(`${formatTable(["NAME", "ID", "REQUIRED", "CREATED", "USED BY", "KEY"], rows)}\n`);
}

/** `key`: a .pub file, or the public key itself. */
export async function sshKeysAddCommand(name: string, key: string, options: Common): Promise<void> {
  if (/(^|\/)id_[a-z0-9]+$/.test(key) && !key.endsWith(".pub")) {
    throw new ValidationError(`${key} looks like a private key; register its public half.`, { suggestions: [`flow ssh-keys add ${name} ${key}.pub`] });
  }
  const publicKey = existsSync(key) ? readFileSync(key, "utf8") : key;
  const added = await flowFor(options.provider).sshKeys.add(name, publicKey);
  if (options.json) return printJson(added);
  process.stdout.write(`Added SSH key ${added.name} (${added.keyId}). Let it into a task's instances: flow run … --ssh-key ${added.name}\n`);
}

export async function sshKeysDeleteCommand(idOrName: string, options: Common): Promise<void> {
  await flowFor(options.provider).sshKeys.delete(idOrName);
  if (options.json) return printJson({ deleted: idOrName });
  process.stdout.write(`Deleted SSH key ${idOrName}.\n`);
}

/** `ssh-ed25519 …Xy9z me@laptop`: enough to recognise a key without printing all of it. */
function fingerprintish(publicKey: string): string {
  const [type = "", body = "", ...comment] = publicKey.trim().split(/\s+/);
  return `${type} …${body.slice(-8)}${comment.length === 0 ? "" : ` ${comment.join(" ")}`}`;
}
