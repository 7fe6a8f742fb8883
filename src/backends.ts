/**
 * The composition root: the one place that builds providers. A backend is where work runs, by
 * name: its `agents` start agents for remote functions (app.run, invoke, `flow run file.ts`) and
 * its `tasks` run command tasks (Flow, `flow run "<command>"`). Everything above the providers
 * (app/, client/, the CLI) asks here instead of constructing one itself.
 *
 * Nothing is built before it is used, and nothing fails before then: `new Flow()` with
 * `provider: fcp` and no API key yet only fails once it talks to the cloud. On the cloud both
 * halves share one FcpContext: one config, one API client, one project lookup and SSH key.
 */
import type { LoadedConfig } from "./config/load-config.ts";
import { FcpContext } from "./providers/fcp/fcp-context.ts";
import { FcpProvider } from "./providers/fcp/fcp-provider.ts";
import { FcpTaskProvider } from "./providers/fcp/fcp-task-provider.ts";
import { resolveFlowHome } from "./providers/flow-home.ts";
import { LocalProvider } from "./providers/local/local-provider.ts";
import { LocalTaskRunner } from "./providers/local/task-runner.ts";
import type { Provider } from "./providers/provider.ts";
import type { ProviderName } from "./providers/provider-name.ts";
import type { TaskProvider } from "./providers/task-provider.ts";

export interface Backend {
  readonly name: ProviderName;
  /** Starts agents for remote functions. */
  readonly agents: Provider;
  /** Runs command tasks. */
  readonly tasks: TaskProvider;
}

export interface BackendOptions {
  /** Settings as loaded (flags > FLOW_* env > project file > home file); by default loaded from `env` on first use of the cloud. */
  config?: LoadedConfig;
  /** Flow's state directory; by default FLOW_HOME (from `env`), else ~/.flow. */
  flowHome?: string;
  /** Where FLOW_HOME, and the PATH and the like of local tasks, come from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /**
   * Progress of the cloud: what a bid buys and may cost before it is placed, "bid placed",
   * uploads. By default written to stderr as `flow: …`: before money is spent the user hears
   * what is bought and at what price, even from a script.
   */
  onProgress?: (message: string) => void;
}

/** An API key checked against the cloud before `flow init` stores it: its user and projects. */
export { verifyApiKey } from "./providers/fcp/fcp-account.ts";

export function backendFor(name: ProviderName, options: BackendOptions = {}): Backend {
  return name === "local" ? localBackend(options) : fcpBackend(options);
}

/** The default `onProgress`: one `flow: …` line on stderr per message. */
export function writeProgress(message: string): void {
  process.stderr.write(`flow: ${message}\n`);
}

function localBackend(options: BackendOptions): Backend {
  return lazyBackend("local", {
    agents: () => new LocalProvider(),
    tasks: () => new LocalTaskRunner({ flowHome: flowHomeOf(options), ...(options.env === undefined ? {} : { env: options.env }) }),
  });
}

function fcpBackend(options: BackendOptions): Backend {
  const flowHome = flowHomeOf(options);
  let context: FcpContext | undefined;
  const shared = () =>
    (context ??= new FcpContext({
      ...(options.config === undefined ? {} : { config: options.config }),
      ...(options.env === undefined ? {} : { env: options.env }),
      flowHome,
      onProgress: options.onProgress ?? writeProgress,
    }));
  return lazyBackend("fcp", {
    agents: () => new FcpProvider({ context: shared(), flowHome }),
    tasks: () => new FcpTaskProvider({ context: shared(), flowHome }),
  });
}

function flowHomeOf(options: BackendOptions): string {
  return options.flowHome ?? resolveFlowHome(undefined, options.env);
}

/** Each half is built on first access, once. */
function lazyBackend(name: ProviderName, build: { agents: () => Provider; tasks: () => TaskProvider }): Backend {
  let agents: Provider | undefined;
  let tasks: TaskProvider | undefined;
  return {
    name,
    get agents() {
      return (agents ??= build.agents());
    },
    get tasks() {
      return (tasks ??= build.tasks());
    },
  };
}
