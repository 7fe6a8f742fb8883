export { ensureProjectKey, loadPrivateKey, defaultKeysDir, type SshKeyPair } from "./ssh-keys.ts";
export { SshConnection, type SshTarget, type ExecResult } from "./ssh-connection.ts";
export type { PortForward } from "./tcp-forward.ts";
export type { ShellStreams } from "./interactive-shell.ts";
export type { UploadSource } from "./sftp-upload.ts";
