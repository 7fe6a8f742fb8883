/**
 * The one wire protocol between the client (CLI, script, provider) and the remote agent.
 *
 * Control messages are JSON text frames, each validated with zod when it arrives. Binary values
 * (typed arrays, Buffers, ArrayBuffers, DataViews) travel out of band: a message that carries them
 * lists their byte lengths in `blobs`, and the bytes follow as binary frames (see channel.ts).
 */
import * as z from "zod";

export const PROTOCOL_VERSION = 1;

/** A value after the codec: superjson's `json` and `meta`; its binary parts are the message's blobs. */
export const EncodedValue = z.object({
  json: z.unknown(),
  meta: z.unknown().optional(),
});
export type EncodedValue = z.infer<typeof EncodedValue>;

/** An error as it crosses the wire: class, message, stack, own properties and its cause chain. */
export interface Failure {
  name: string;
  message: string;
  stack?: string | undefined;
  /** Own enumerable properties (e.g. `code`, `errno`), JSON-safe. */
  props?: Record<string, unknown> | undefined;
  cause?: Failure | { value: unknown } | undefined;
  errors?: Failure[] | undefined;
}
export const Failure: z.ZodType<Failure> = z.lazy(() =>
  z.object({
    name: z.string(),
    message: z.string(),
    stack: z.string().optional(),
    props: z.record(z.string(), z.unknown()).optional(),
    cause: z.union([Failure, z.object({ value: z.unknown() })]).optional(),
    errors: z.array(Failure).optional(),
  }),
);

const CallId = z.string().min(1).max(128);

/** The most calls one `calls` or `results` message carries. */
export const MAX_BATCH_CALLS = 256;

/** Byte lengths of the binary parts that follow a message, and the stream that tags their frames. */
const Blobs = z.array(z.number().int().nonnegative()).optional();
const BlobStream = z.number().int().positive().optional();

// ---- client → agent ------------------------------------------------------------------------

export const InitMessage = z.object({
  type: z.literal("init"),
  protocol: z.literal(PROTOCOL_VERSION),
  /** Environment for the agent process, set before the user's module is imported. */
  env: z.record(z.string(), z.string()),
  /** Secret values by name; like env, but never logged, written to disk or echoed back. */
  secrets: z.record(z.string(), z.string()),
  /** Largest message either side may send (see Channel.maxPayloadBytes). */
  maxPayloadBytes: z.number().int().positive().optional(),
  /** Zero-import mode (invoke): every exported function of the entry module becomes callable. */
  exposeExports: z.boolean().default(false),
  /** How long the agent keeps this session's calls running after its connection drops (see RESUME_HEADER). */
  reconnectGraceMs: z.number().int().nonnegative().optional(),
});

/**
 * A detached call's id: printable, and safe as a directory name on the agent's machine. The client
 * makes it, so it can record the call before it starts.
 */
export const DETACHED_CALL_ID = /^call-[0-9a-f]{12}$/;

/** What makes a call detached: it outlives its session, its outcome is written to disk on the agent. */
export const DetachOptions = z.object({
  /** How long the agent keeps the outcome (and itself) after the call ends, for a client to fetch it. */
  resultWindowMs: z.number().int().nonnegative(),
  /** Enforced by the agent: no client may be there to do it. */
  timeoutMs: z.number().int().positive().optional(),
});
export type DetachOptions = z.infer<typeof DetachOptions>;

export const CallMessage = z.object({
  type: z.literal("call"),
  callId: CallId,
  functionId: z.string().min(1),
  args: EncodedValue,
  /** Constructor arguments choosing the warm instance, for methods of `app.cls(Class, { args })`. */
  init: EncodedValue.optional(),
  /** How many of the blobs belong to `args`; the rest belong to `init`. */
  argBlobs: z.number().int().nonnegative().optional(),
  /** Items a streaming call may yield before the client grants more (see CreditMessage). */
  credit: z.number().int().nonnegative().optional(),
  /** A detached call: the agent answers `accepted` once it has recorded it (callId must match DETACHED_CALL_ID). */
  detach: DetachOptions.optional(),
  blobs: Blobs,
  blobStream: BlobStream,
});

/**
 * Several calls of one function in one message: what `map` sends (see session.ts). Each input has
 * its own callId and ends on its own (`results` for those that returned plain values, `result` or
 * `error` for the rest), so cancellation, retries and failures stay per input. Only inputs whose
 * arguments have no binary parts are batched, so the batch has no blobs of its own. Call ids may
 * not contain a newline: the agent joins a batch's ids with newlines on its worker link.
 */
export const CallsMessage = z.object({
  type: z.literal("calls"),
  functionId: z.string().min(1),
  /** Constructor arguments of the warm instance, for every call of the batch. */
  init: EncodedValue.optional(),
  calls: z
    .array(
      z.object({
        callId: CallId.regex(/^[^\n]+$/, "a batched call's id has no newline"),
        args: EncodedValue,
      }),
    )
    .min(1)
    .max(MAX_BATCH_CALLS),
});

/**
 * Follow a detached call from any session: the agent answers with the last `logs.tail` lines of
 * the stream asked for (as `log` messages), then `call-state`, then (with `logs.follow`) each new
 * line of that stream; once the call has ended, `call-state` again and its outcome, as the
 * `result` or `error` message (and binary frames) the call produced.
 */
export const AttachMessage = z.object({
  type: z.literal("attach"),
  callId: CallId,
  logs: z
    .object({
      stream: z.enum(["stdout", "stderr"]),
      tail: z.number().int().nonnegative(),
      follow: z.boolean(),
    })
    .optional(),
});

/** Backpressure for streaming calls: the client may receive `count` more yielded items. */
export const CreditMessage = z.object({
  type: z.literal("credit"),
  callId: CallId,
  count: z.number().int().positive(),
});

export const CancelMessage = z.object({
  type: z.literal("cancel"),
  callId: CallId,
  reason: z.string().optional(),
});

/**
 * The client is done with the agent: it runs its warm instances' @exit() hooks (their output
 * goes to this client), then answers `stopped`. The client closes the connection after that.
 */
export const StopMessage = z.object({ type: z.literal("stop") });

/** How long an agent lets @exit() hooks run before it stops anyway. */
export const EXIT_HOOKS_LIMIT_MS = 10_000;

/**
 * Liveness: each end pings the other every HEARTBEAT_INTERVAL_MS, and any byte that arrives counts
 * as a sign of life (a pong can queue behind a long transfer). A peer is given up after this many
 * intervals in a row without a byte, counted only on timers that fired on time: a late timer means
 * our own event loop was blocked, which says nothing about the peer (see liveness.ts). The agent is
 * the more patient end, so a client whose loop is blocked for a while keeps its calls.
 */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const CLIENT_MISSED_HEARTBEATS = 3;
export const AGENT_MISSED_HEARTBEATS = 6;

/**
 * How long a cancelled (or timed-out) call has to return once its AbortSignal fired. After that
 * the agent stops the process running it, so code that ignores the signal, or spins in a
 * synchronous loop, cannot keep the machine busy; calls arriving meanwhile wait for a new process.
 */
export const CANCEL_GRACE_MS = 2_000;

/**
 * Reconnection. A session outlives its connection: when the WebSocket (or the SSH tunnel under it)
 * drops, the agent keeps the session's calls running and its output buffered for
 * `reconnectGraceMs`, and the client connects again with RESUME_HEADER. Frames are counted, not
 * numbered: the n-th WebSocket message either end sends is frame n of that direction (text and
 * binary alike). Each end acknowledges what it received in the payload of a WebSocket ping
 * (ACK_BYTES: a float64, little-endian), and keeps what it sent until the other end acknowledges
 * it. On a new connection the client says in RESUME_HEADER how many frames it received; the agent
 * answers with SESSION_HEADER on the 101 response: how many it received. Each end then sends again
 * what the other has not, so nothing is lost and nothing arrives twice.
 */
export const RESUME_HEADER = "x-flow-resume";
/** On the 101 response: `<session id> <frames received from the client>`. */
export const SESSION_HEADER = "x-flow-session";
/** A ping with a payload of this many bytes is an acknowledgement; heartbeats have none. */
export const ACK_BYTES = 8;
/** How long the agent keeps a session whose connection dropped, and the client tries to reach it again. */
export const DEFAULT_RECONNECT_GRACE_MS = 2 * 60_000;
/** How long an agent keeps a detached call's outcome after the call ended. */
export const DEFAULT_RESULT_WINDOW_MS = 10 * 60_000;

export const ClientMessage = z.discriminatedUnion("type", [InitMessage, CallMessage, CallsMessage, CreditMessage, CancelMessage, StopMessage, AttachMessage]);
export type ClientMessage = z.infer<typeof ClientMessage>;

// ---- agent → client ------------------------------------------------------------------------

export const FunctionInfo = z.object({
  id: z.string(),
  kind: z.enum(["function", "static-method", "method", "export"]),
  /** Definition order on the agent. */
  index: z.number().int().nonnegative(),
  /** Where it was defined (`<file>#<n>`, see registry.ts): how a client finds a function it could not name. */
  site: z.string().optional(),
});
export type FunctionInfo = z.infer<typeof FunctionInfo>;

export const ReadyMessage = z.object({
  type: z.literal("ready"),
  protocol: z.literal(PROTOCOL_VERSION),
  pid: z.number().int(),
  nodeVersion: z.string(),
  functions: z.array(FunctionInfo),
});

/** The user's module could not be loaded on the agent (it threw at top level, or an import failed). */
export const InitErrorMessage = z.object({
  type: z.literal("init-error"),
  error: Failure,
});

export const StartedMessage = z.object({ type: z.literal("started"), callId: CallId });

export const LogMessage = z.object({
  type: z.literal("log"),
  /** The call whose code wrote this; null for output outside any call (module top level). */
  callId: CallId.nullable(),
  stream: z.enum(["stdout", "stderr"]),
  data: z.string(),
});

/** One item yielded by a streaming (async generator) function. */
export const YieldMessage = z.object({
  type: z.literal("yield"),
  callId: CallId,
  value: EncodedValue,
  blobs: Blobs,
  blobStream: BlobStream,
});

export const ResultMessage = z.object({
  type: z.literal("result"),
  callId: CallId,
  value: EncodedValue,
  blobs: Blobs,
  blobStream: BlobStream,
});

/** The plain-JSON results of calls that came in a `calls` batch, gathered per turn of the agent's worker. */
export const ResultsMessage = z.object({
  type: z.literal("results"),
  results: z
    .array(z.object({ callId: CallId, value: EncodedValue }))
    .min(1)
    .max(MAX_BATCH_CALLS),
});

/**
 * How the process that ran a call on the agent ended (or, for an unhandled rejection, was
 * poisoned), as the agent observed it. The client turns it into FunctionCrashedError or
 * AgentLostError (see process-end.ts).
 */
export const ProcessEnd = z.object({
  how: z.enum([
    // The call's own code (reason "crashed"):
    "exit",
    "signal",
    "out-of-memory",
    "uncaught-exception",
    "unhandled-rejection",
    // Not the call's doing (reason "lost"):
    "killed-from-outside",
    "ended-by-other-call",
    "stopped-for-cancel",
    "load-failed",
  ]),
  exitCode: z.number().int().optional(),
  signal: z.string().optional(),
  /** The last lines the process wrote to stderr. */
  stderrTail: z.string().optional(),
  /** The process's JavaScript heap limit, for out-of-memory reports. */
  heapLimitBytes: z.number().nonnegative().optional(),
  /** The function of the other call that ended the process, for "ended-by-other-call" and "stopped-for-cancel". */
  otherFunctionId: z.string().optional(),
  /** Why that other call was cancelled, for "stopped-for-cancel". */
  cancelReason: z.string().optional(),
});
export type ProcessEnd = z.infer<typeof ProcessEnd>;

export const ErrorMessage = z.object({
  type: z.literal("error"),
  callId: CallId,
  /** What was thrown; for "crashed" and "lost", the uncaught error if there was one, else a summary. */
  error: Failure,
  /**
   * Why the call ended without a result: the function threw, the call was cancelled, a detached
   * call ran past its timeoutMs on the agent ("timeout"), the call's own code ended or poisoned its
   * process ("crashed"), its process ended for another reason ("lost"), or (to an `attach`) the
   * agent has no detached call of that id ("unknown-call").
   */
  reason: z.enum(["exception", "cancelled", "timeout", "unknown-function", "unknown-call", "bad-arguments", "crashed", "lost"]),
  /** For "crashed" and "lost": how the process ended. */
  processEnd: ProcessEnd.optional(),
});

/** The @exit() hooks have run (or given up after their time limit); see StopMessage. */
export const StoppedMessage = z.object({ type: z.literal("stopped") });

/** A detached call is recorded on the agent's disk and runs, whatever becomes of this session. */
export const AcceptedMessage = z.object({ type: z.literal("accepted"), callId: CallId });

export const DetachedCallStatus = z.enum(["pending", "running", "completed", "failed", "cancelled"]);
export type DetachedCallStatus = z.infer<typeof DetachedCallStatus>;

/** Where a detached call is (see AttachMessage). Times are ISO 8601. */
export const CallStateMessage = z.object({
  type: z.literal("call-state"),
  callId: CallId,
  functionId: z.string(),
  status: DetachedCallStatus,
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** How it ended, in words, when it did not complete. */
  message: z.string().optional(),
  resultWindowMs: z.number().int().nonnegative(),
});
export type CallStateMessage = z.infer<typeof CallStateMessage>;

export const AgentMessage = z.discriminatedUnion("type", [
  StoppedMessage,
  AcceptedMessage,
  CallStateMessage,
  ReadyMessage,
  InitErrorMessage,
  StartedMessage,
  LogMessage,
  YieldMessage,
  ResultMessage,
  ResultsMessage,
  ErrorMessage,
]);
export type AgentMessage = z.infer<typeof AgentMessage>;

/** The header the client sends on the WebSocket upgrade; anything else is refused with 401. */
export const AUTH_HEADER = "authorization";
export function bearer(secret: string): string {
  return `Bearer ${secret}`;
}
