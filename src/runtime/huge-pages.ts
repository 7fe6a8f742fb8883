/**
 * Large buffers on huge pages, in the agent's processes.
 *
 * A 64 MiB argument arrives in memory the worker has just allocated, and a result leaves from
 * memory the user's code just filled; on Linux each 4 KiB page of it faults on first touch. Where
 * a fault is dear (a virtual machine without nested paging: about 3 ms per MiB on our CI machine,
 * against 0.1 ms to copy a MiB) those faults, not the sockets, bound a bulk transfer. glibc's
 * tunable `glibc.malloc.hugetlb=1` (glibc 2.35 and later; older ones and other libcs ignore it)
 * has malloc ask for transparent huge pages on its large blocks, which the kernel then maps 2 MiB
 * at a time, including in the usual `madvise` mode: the 64 MiB round trip went from about 140 to
 * 220 MB/s there (docs/performance.md).
 *
 * glibc reads tunables when a process starts, so whoever starts an agent process sets the
 * variable, and the process takes it out of its own environment first thing: the user's code,
 * and what it starts, see the environment they were given.
 */
const HUGE_PAGES = "glibc.malloc.hugetlb=1";

/** `GLIBC_TUNABLES` with huge pages added after what it already says (`value` may be undefined). */
export function withHugePages(value: string | undefined): string {
  return value ? `${value}:${HUGE_PAGES}` : HUGE_PAGES;
}

/** Takes the entry withHugePages added (the last one like it) back out of `env.GLIBC_TUNABLES`. */
export function dropHugePages(env: NodeJS.ProcessEnv): void {
  const entries = env.GLIBC_TUNABLES?.split(":") ?? [];
  const at = entries.lastIndexOf(HUGE_PAGES);
  if (at === -1) return;
  entries.splice(at, 1);
  if (entries.length === 0) delete env.GLIBC_TUNABLES;
  else env.GLIBC_TUNABLES = entries.join(":");
}
