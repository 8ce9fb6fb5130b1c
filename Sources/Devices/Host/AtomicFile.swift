import CLinux
import Glibc
import SystemPackage

/// Writes files so that a reader sees the old content or the new, never a torn one, and nothing the user had is
/// lost: a temporary file in the same folder, `fsync`, then `rename`, with a backup of a different old file.
///
/// A file is written back as it was: its owner, group and permission bits stay (setuid, setgid and sticky are
/// never carried over or added), and a symbolic link keeps pointing at its target, whose content is replaced.
/// A relative path is relative to the working directory. Temporary files that a killed run left behind are
/// removed by the next write of the same file.
public enum AtomicFile {
    /// The result of a write.
    public struct Outcome: Sendable, Hashable {
        /// Where the previous, different content was kept, if there was any.
        public var backup: FilePath?
        /// Whether the file already held exactly these bytes (nothing was written).
        public var unchanged: Bool
    }

    /// Writes `bytes` to `path` atomically, creating the folder when missing.
    /// - Parameters:
    ///   - bytes: the new content.
    ///   - path: the file (relative to the working directory when relative); a symbolic link is followed and its
    ///     target written.
    ///   - mode: the permissions of a new file; an existing file keeps its own, gaining only the execute bits
    ///     of `mode`.
    ///   - backup: keep a different existing file as `<name>.bak` next to it (replacing an older backup).
    ///   - sysroot: the tree every component, link targets included, is resolved in.
    /// - Returns: where the old content was kept, and whether anything changed.
    /// - Throws: `DevicesError` naming the path; the old file is untouched on failure.
    @discardableResult
    public static func write(
        _ bytes: [UInt8], to path: FilePath, mode: mode_t = 0o644, backup: Bool = true, within sysroot: Sysroot = .host
    ) throws -> Outcome {
        let file = try resolvedLocation(of: path, within: sysroot)
        guard let name = file.lastComponent?.string else {
            throw DevicesError(code: .invalidArgument, message: "\(path) does not name a file")
        }
        let directory = file.removingLastComponent()
        try makeDirectories(directory, within: sysroot)
        let directoryFD = sysroot.open(directory, O_RDONLY | O_DIRECTORY)
        guard directoryFD >= 0 else { throw DevicesError.write(directory, Errno(rawValue: Glibc.errno)) }
        defer { close(directoryFD) }
        removeLeftovers(of: name, in: directoryFD)

        var info = stat()
        var existing: stat?
        if fstatat(directoryFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            existing = info
        } else if Glibc.errno != ENOENT {
            throw DevicesError.read(file, Errno(rawValue: Glibc.errno))
        }
        if let existing {
            guard existing.st_mode & S_IFMT == S_IFREG else {
                throw DevicesError(
                    code: .invalidArgument, message: "\(file) is not a regular file: nothing was written")
            }
            if Int(existing.st_size) == bytes.count, try content(of: name, in: directoryFD, file: file) == bytes {
                return Outcome(backup: nil, unchanged: true)
            }
        }
        let permissions = existing.map { $0.st_mode & 0o777 | mode & 0o111 } ?? mode & 0o777
        let owner = existing.map { (uid: $0.st_uid, gid: $0.st_gid) }
        let temporary = try Temporary(in: directoryFD, directory: directory, name: name)
        defer { temporary.discard() }
        try temporary.fill(bytes, owner: owner, permissions: permissions, file: file)

        var backupPath: FilePath?
        if backup, let existing {
            let backupName = name + ".bak"
            try keepBackup(
                of: name, as: backupName, in: directoryFD, directory: directory, old: existing, file: file)
            backupPath = directory.appending(backupName)
        }
        try temporary.commit(as: name, file: file)
        fsync(directoryFD)
        return Outcome(backup: backupPath, unchanged: false)
    }

    /// Where a write of `path` lands: made absolute against the working directory, and with a final symbolic
    /// link (a chain of them) replaced by its target, resolved inside `sysroot`.
    /// - Throws: `DevicesError` for a loop of links.
    public static func resolvedLocation(of path: FilePath, within sysroot: Sysroot = .host) throws -> FilePath {
        var current = (path.isAbsolute ? path : Sysroot.currentDirectory().pushing(path)).lexicallyNormalized()
        for _ in 0..<40 {
            guard let info = sysroot.status(current, following: false), info.st_mode & S_IFMT == S_IFLNK,
                let target = sysroot.linkTarget(current)
            else { return current }
            let next = FilePath(target)
            if sysroot.isHostRoot {
                current = (next.isAbsolute ? next : current.removingLastComponent().pushing(next)).lexicallyNormalized()
            } else {
                // Inside the tree a link's target is read as the tree's own `/`; `..` stops at its root.
                let inside = FilePath("/").pushing(sysroot.relativePath(current.removingLastComponent()) ?? "")
                current = sysroot.path((next.isAbsolute ? next : inside.pushing(next)).lexicallyNormalized())
            }
        }
        throw DevicesError(code: .invalidArgument, message: "\(path) is a loop of symbolic links: nothing was written")
    }

    /// Creates `directory` and its parents (mode 0755) when missing, inside `sysroot`.
    /// - Throws: `DevicesError` naming the folder that cannot be created.
    static func makeDirectories(_ directory: FilePath, within sysroot: Sysroot = .host) throws {
        let absolute = directory.isAbsolute ? directory : Sysroot.currentDirectory().pushing(directory)
        let base = sysroot.isHostRoot ? FilePath("/") : sysroot.root
        guard
            let relative = sysroot.isHostRoot
                ? FilePath(root: nil, absolute.components) : sysroot.relativePath(absolute)
        else {
            throw DevicesError(code: .permissionDenied, message: "cannot write \(directory): outside \(sysroot)")
        }
        var parent = base
        for component in relative.components where component.kind == .regular {
            let parentFD = sysroot.open(parent, CLINUX_O_PATH | O_DIRECTORY)
            parent.append(component)
            guard parentFD >= 0 else { throw DevicesError.write(parent, Errno(rawValue: Glibc.errno)) }
            let made = component.string.withCString { mkdirat(parentFD, $0, 0o755) }
            let errno = Errno(rawValue: Glibc.errno)
            close(parentFD)
            guard made == 0 || errno == .fileExists else { throw DevicesError.write(parent, errno) }
        }
    }

    /// Reads the current content of `name` (not through a link).
    private static func content(of name: String, in directoryFD: CInt, file: FilePath) throws -> [UInt8] {
        let fd = name.withCString { openat(directoryFD, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw DevicesError.read(file, Errno(rawValue: Glibc.errno)) }
        defer { close(fd) }
        return try readAll(fd, path: file, limit: Int.max - 1, what: "a file")
    }

    /// Keeps the old content as `backupName`: a second name for the old file (the rename that follows leaves it
    /// the only one), or a copy with its owner and permissions where a link cannot be made.
    private static func keepBackup(
        of name: String, as backupName: String, in directoryFD: CInt, directory: FilePath, old: stat, file: FilePath
    ) throws {
        let target = directory.appending(backupName)
        if backupName.withCString({ unlinkat(directoryFD, $0, 0) }) != 0, Glibc.errno != ENOENT {
            throw DevicesError.write(target, Errno(rawValue: Glibc.errno))
        }
        let linked = name.withCString { from in backupName.withCString { linkat(directoryFD, from, directoryFD, $0, 0) }
        }
        guard linked != 0 else { return }
        let copy = try Temporary(in: directoryFD, directory: directory, name: backupName)
        defer { copy.discard() }
        try copy.fill(
            try content(of: name, in: directoryFD, file: file), owner: (old.st_uid, old.st_gid),
            permissions: old.st_mode & 0o777, file: target)
        try copy.commit(as: backupName, file: target)
    }

    /// Removes `.<name>.XXXXXX` files that a killed write left behind.
    ///
    /// A live writer holds a lock on its temporary file, so only the dead ones are taken.
    private static func removeLeftovers(of name: String, in directoryFD: CInt) {
        let prefix = ".\(name)."
        let listFD = dup(directoryFD)
        guard listFD >= 0, let listing = fdopendir(listFD) else {
            if listFD >= 0 { close(listFD) }
            return
        }
        defer { closedir(listing) }
        rewinddir(listing)
        var candidates: [String] = []
        while let entry = readdir(listing) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard entryName.hasPrefix(prefix) else { continue }
            let suffix = entryName.dropFirst(prefix.count)
            guard suffix.count == 6, suffix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                continue
            }
            candidates.append(entryName)
        }
        for candidate in candidates {
            let fd = candidate.withCString { openat(directoryFD, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
            guard fd >= 0 else { continue }
            var info = stat()
            if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, flock(fd, LOCK_EX | LOCK_NB) == 0 {
                _ = candidate.withCString { unlinkat(directoryFD, $0, 0) }
            }
            close(fd)
        }
    }

    /// A new file `.<name>.XXXXXX` in the target's folder, locked while it is being written.
    private final class Temporary {
        let directoryFD: CInt
        let name: String
        let path: FilePath
        let fd: CInt
        private var committed = false

        init(in directoryFD: CInt, directory: FilePath, name target: String) throws {
            self.directoryFD = directoryFD
            let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            var attempt = 0
            while true {
                let suffix = String((0..<6).map { _ in letters[Int.random(in: 0..<letters.count)] })
                let candidate = ".\(target).\(suffix)"
                let fd = candidate.withCString {
                    openat(directoryFD, $0, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                }
                // The lock, held until the file is renamed or removed, marks a live writer for removeLeftovers.
                // Another run's clean-up may have taken the file between its creation and the lock: then the
                // name no longer leads to it, and another name is tried.
                if fd >= 0 {
                    _ = flock(fd, LOCK_EX)
                    var mine = stat()
                    var named = stat()
                    let kept =
                        fstat(fd, &mine) == 0
                        && candidate.withCString { fstatat(directoryFD, $0, &named, AT_SYMLINK_NOFOLLOW) } == 0
                        && mine.st_dev == named.st_dev && mine.st_ino == named.st_ino
                    if kept {
                        name = candidate
                        path = directory.appending(candidate)
                        self.fd = fd
                        break
                    }
                    close(fd)
                    attempt += 1
                    guard attempt < 100 else { throw DevicesError.write(directory, .resourceBusy) }
                    continue
                }
                let errno = Errno(rawValue: Glibc.errno)
                attempt += 1
                guard errno == .fileExists, attempt < 100 else { throw DevicesError.write(directory, errno) }
            }
        }

        /// Writes the content, owner and permissions, then flushes it to disk.
        func fill(_ bytes: [UInt8], owner: (uid: uid_t, gid: gid_t)?, permissions: mode_t, file: FilePath) throws {
            do {
                _ = try FileDescriptor(rawValue: fd).writeAll(bytes)
            } catch let errno as Errno {
                throw DevicesError.write(file, errno)
            }
            var info = stat()
            if let owner, fstat(fd, &info) == 0, info.st_uid != owner.uid || info.st_gid != owner.gid {
                guard fchown(fd, owner.uid, owner.gid) == 0 else {
                    let errno = Errno(rawValue: Glibc.errno)
                    throw DevicesError(
                        code: DevicesError.code(for: errno),
                        message: "cannot keep the owner of \(file) (uid \(owner.uid), gid \(owner.gid)): "
                            + "\(DevicesError.hint(for: errno)); nothing was written", cause: errno)
                }
            }
            // After fchown, which clears setuid and setgid bits; none are asked for anyway.
            guard fchmod(fd, permissions) == 0, fsync(fd) == 0 else {
                throw DevicesError.write(file, Errno(rawValue: Glibc.errno))
            }
        }

        /// Renames the file over `target`.
        func commit(as target: String, file: FilePath) throws {
            let renamed = name.withCString { from in target.withCString { renameat(directoryFD, from, directoryFD, $0) }
            }
            guard renamed == 0 else { throw DevicesError.write(file, Errno(rawValue: Glibc.errno)) }
            committed = true
        }

        /// Closes it, and removes it unless it was committed.
        func discard() {
            if !committed { _ = name.withCString { unlinkat(directoryFD, $0, 0) } }
            close(fd)
        }
    }
}
