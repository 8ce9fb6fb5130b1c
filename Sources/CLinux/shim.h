#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H

// Linux system calls that glibc 2.36 has no wrapper for, and `syscall(2)` is variadic (Swift cannot call it).
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

// O_PATH: a descriptor that only names a location (glibc shows it only to _GNU_SOURCE builds).
#define CLINUX_O_PATH __O_PATH

// openat2(2) with RESOLVE_IN_ROOT when `inRoot` is set: `dirfd` acts as `/` for every component of `path`,
// symbolic links included (an absolute link target or `..` never leaves it), as if the caller were chrooted
// there. Magic links (/proc/self/fd/N) are refused. Returns the descriptor, or -1 with errno set.
static inline int clinux_openat2(int dirfd, const char *path, int flags, mode_t mode, int inRoot) {
    struct open_how how = {0};
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0;
    how.resolve = inRoot ? (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) : 0;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#endif
