// errno and syscall names for the BPF and ptrace faults (x86-64 Linux
// numbers). Experiments name them ("ECONNREFUSED", "read"); the programs get
// numbers. Syscalls not in the short table below are read from the kernel's
// uapi header when it is installed, so any syscall can be named.
import fs from "node:fs";
import { z } from "zod";

export const ERRNOS = {
  EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, ENXIO: 6, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, EBUSY: 16,
  EEXIST: 17, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, EFBIG: 27, ENOSPC: 28, ESPIPE: 29, EROFS: 30,
  EPIPE: 32, ENAMETOOLONG: 36, ENOSYS: 38, EDQUOT: 122, EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENETDOWN: 100, ENETUNREACH: 101,
  ECONNABORTED: 103, ECONNRESET: 104, ENOBUFS: 105, ETIMEDOUT: 110, ECONNREFUSED: 111, EHOSTDOWN: 112, EHOSTUNREACH: 113,
} as const;
export type ErrnoName = keyof typeof ERRNOS;
const NAMES = Object.keys(ERRNOS) as ErrnoName[];

export const errnoParam = (def: ErrnoName) =>
  z.enum(NAMES as [ErrnoName, ...ErrnoName[]], { error: `expected an errno name: ${NAMES.join(", ")}` }).default(def);

const COMMON: Record<string, number> = {
  read: 0, write: 1, open: 2, close: 3, stat: 4, fstat: 5, lstat: 6, poll: 7, lseek: 8, mmap: 9, pread64: 17, pwrite64: 18,
  readv: 19, writev: 20, access: 21, pipe: 22, select: 23, socket: 41, connect: 42, accept: 43, sendto: 44, recvfrom: 45,
  sendmsg: 46, recvmsg: 47, bind: 49, listen: 50, fork: 57, execve: 59, fsync: 74, fdatasync: 75, truncate: 76, ftruncate: 77,
  getdents64: 217, rename: 82, mkdir: 83, rmdir: 84, unlink: 87, statfs: 137, openat: 257, mkdirat: 258, unlinkat: 263,
  renameat: 264, newfstatat: 262, accept4: 288, epoll_wait: 232, sync_file_range: 277, statx: 332, openat2: 437,
};

let table: Record<string, number> | null = null;
/** name → x86-64 number: the uapi header when installed, else the common ones. */
export function syscallTable(): Record<string, number> {
  if (table) return table;
  table = { ...COMMON };
  try {
    const text = fs.readFileSync("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "utf8");
    for (const m of text.matchAll(/^#define __NR_(\w+) (\d+)$/gm)) table[m[1]] = Number(m[2]);
  } catch {
    // headers not installed: the common table
  }
  return table;
}

export const syscallParam = z
  .array(z.string().regex(/^[a-z0-9_]+$/, { error: "expected a syscall name like read or openat" }), { error: "expected a list of syscall names" })
  .min(1, { error: "name at least one syscall" })
  .max(32)
  .superRefine((names, ctx) => {
    names.forEach((n, i) => {
      if (!(n in syscallTable())) ctx.addIssue({ code: "custom", path: [i], message: `unknown syscall "${n}" on x86-64` });
    });
  });
