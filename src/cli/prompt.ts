/** Questions on the terminal for `flow init`; hidden input for the API key. */
import { createInterface } from "node:readline/promises";
import { Writable } from "node:stream";

export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stdout.isTTY === true;
}

/** Asks `question`; an empty answer gives `fallback`. Hidden input echoes nothing. */
export async function ask(question: string, options: { hidden?: boolean; fallback?: string } = {}): Promise<string> {
  let muted = false;
  // readline echoes typed characters through `output`; muting it hides the key as it is typed.
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stdout.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const hint = options.fallback === undefined ? "" : ` [${options.hidden ? "keep current" : options.fallback}]`;
    const pending = rl.question(`${question}${hint}: `);
    muted = options.hidden === true;
    const answer = (await pending).trim();
    if (options.hidden) process.stdout.write("\n");
    return answer === "" ? (options.fallback ?? "") : answer;
  } finally {
    rl.close();
  }
}
