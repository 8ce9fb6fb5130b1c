#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H

// Linux system calls that glibc 2.36 has no wrapper for, and `syscall(2)` is variadic (Swift cannot call it).
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

// O_PATH: a descriptor that only names a location (glibc shows it only to _GNU_SOURCE builds).
#define CLINUX_O_PATH __O_PATH

// Opens `path` below `rootfd` as if `rootfd` were `/`, walking it one component at a time: every symbolic link is
// read and followed inside the root (an absolute target restarts at the root), `..` never climbs above it, and
// each step opens the next folder with O_NOFOLLOW, so a link swapped in meanwhile is refused rather than followed.
// The last component is followed unless `flags` has O_NOFOLLOW. Returns the descriptor, or -1 with errno set.
static inline int clinux_walk_in_root(int rootfd, const char *path, int flags, mode_t mode) {
    enum { depth_limit = 256, link_limit = 40 };
    char pending[2 * PATH_MAX + 2];
    char joined[2 * PATH_MAX + 2];
    char component[NAME_MAX + 1];
    char target[PATH_MAX + 1];
    int stack[depth_limit];
    int depth = 0, links = 0, result = -1, saved = 0;
    if (strlen(path) >= sizeof pending) { errno = ENAMETOOLONG; return -1; }
    strcpy(pending, path);
    stack[0] = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (stack[0] < 0) return -1;
    const char *cursor = pending;
    for (;;) {
        while (*cursor == '/') cursor++;
        if (*cursor == '\0') { result = openat(stack[depth], ".", flags | O_CLOEXEC, mode); break; }
        const char *end = strchr(cursor, '/');
        size_t length = end ? (size_t)(end - cursor) : strlen(cursor);
        if (length > NAME_MAX) { errno = ENAMETOOLONG; break; }
        memcpy(component, cursor, length);
        component[length] = '\0';
        const char *rest = cursor + length;
        while (*rest == '/') rest++;
        int last = *rest == '\0';
        cursor = rest;
        if (strcmp(component, ".") == 0) continue;
        if (strcmp(component, "..") == 0) {
            if (depth > 0) close(stack[depth--]);
            continue;
        }
        struct stat info;
        if (fstatat(stack[depth], component, &info, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT && last) result = openat(stack[depth], component, flags | O_NOFOLLOW | O_CLOEXEC, mode);
            break;
        }
        if (S_ISLNK(info.st_mode) && !(last && (flags & O_NOFOLLOW))) {
            if (++links > link_limit) { errno = ELOOP; break; }
            ssize_t n = readlinkat(stack[depth], component, target, sizeof target - 1);
            if (n < 0) break;
            target[n] = '\0';
            size_t restLength = strlen(rest);
            if ((size_t)n + 1 + restLength >= sizeof joined) { errno = ENAMETOOLONG; break; }
            memcpy(joined, target, (size_t)n);
            joined[n] = '/';
            memcpy(joined + n + 1, rest, restLength + 1);
            memcpy(pending, joined, (size_t)n + 1 + restLength + 1);
            cursor = pending;
            if (target[0] == '/') {
                while (depth > 0) close(stack[depth--]);
            }
            continue;
        }
        if (last) { result = openat(stack[depth], component, flags | O_NOFOLLOW | O_CLOEXEC, mode); break; }
        if (depth + 1 >= depth_limit) { errno = ENAMETOOLONG; break; }
        int next = openat(stack[depth], component, CLINUX_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) break;
        stack[++depth] = next;
    }
    saved = errno;
    while (depth >= 0) close(stack[depth--]);
    errno = saved;
    return result;
}

// openat2(2) with RESOLVE_IN_ROOT when `inRoot` is set: `dirfd` acts as `/` for every component of `path`,
// symbolic links included (an absolute link target or `..` never leaves it), as if the caller were chrooted
// there. Magic links (/proc/self/fd/N) are refused. Returns the descriptor, or -1 with errno set.
static inline int clinux_openat2(int dirfd, const char *path, int flags, mode_t mode, int inRoot) {
    struct open_how how = {0};
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0;
    how.resolve = inRoot ? (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) : 0;
    // EAGAIN: a rename or mount anywhere on the system raced a `..` in the walk and the kernel could not prove
    // the walk stayed inside. After a few tries the path is walked one component at a time instead, which no
    // rename elsewhere disturbs. EINTR is retried as well.
    for (int attempt = 0; attempt < 16; attempt++) {
        int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) return fd;
    }
    return inRoot ? clinux_walk_in_root(dirfd, path, flags, mode) : -1;
}

// Opens `name` relative to `dirfd` with openat2 and RESOLVE_BENEATH: the name, and any link it goes through, must
// stay below `dirfd` (an absolute link or a `..` out of it is refused with EXDEV), and magic links are refused.
// Returns the descriptor, or -1 with errno set.
static inline int clinux_openat_beneath(int dirfd, const char *name, int flags) {
    struct open_how how = {0};
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 16; attempt++) {
        int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
        if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) return fd;
    }
    // Raced renames kept the kernel from proving the walk stayed below: walk it one component at a time, with
    // `dirfd` as the root, which nothing can climb out of.
    return clinux_walk_in_root(dirfd, name, flags, 0);
}

#endif
