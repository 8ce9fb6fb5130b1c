import Glibc
import SystemPackage

/// Small, allocation-light file access under a sysroot: the single choke point where errno becomes an error.
struct HostFiles: Sendable {
    let sysroot: Sysroot

    /// The rooted location of a host path.
    func path(_ absolute: FilePath) -> FilePath { sysroot.path(absolute) }

    /// Reads a whole small file, or nil when it does not exist.
    ///
    /// Every component is resolved inside the sysroot.
    /// - Throws: `DevicesError` for any other failure (permission, I/O), and naming the path when it is not a
    ///   regular file or is larger than its limit (64 KiB for a sysfs attribute, 16 MiB for anything else).
    func read(_ path: FilePath) throws -> [UInt8]? {
        guard let fd = try sysroot.openForReading(path) else { return nil }
        defer { close(fd) }
        let sysfs = (sysroot.isHostRoot ? "" : sysroot.root.string) + HostPaths.sysfs.string + "/"
        let isAttribute = path.string.hasPrefix(sysfs)
        return try readAll(
            fd, path: path, limit: isAttribute ? ReadLimit.attribute : ReadLimit.hostFile,
            what: isAttribute ? "a sysfs attribute" : "a host file")
    }

    /// Reads a small text file without its trailing newline and spaces, or nil when it does not exist.
    func readText(_ path: FilePath) throws -> String? {
        guard let bytes = try read(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
    }

    /// The target of a symbolic link, or nil when `path` is not a link or does not exist.
    func readLink(_ path: FilePath) -> String? { sysroot.linkTarget(path) }

    /// The last component of a symbolic link's target (a driver or group name), or nil.
    func linkName(_ path: FilePath) -> String? {
        guard let target = readLink(path) else { return nil }
        return FilePath(target).lastComponent?.string
    }

    /// The entries of a directory, without `.` and `..`, sorted; nil when it does not exist.
    /// - Throws: `DevicesError` when it exists but cannot be read.
    func list(_ path: FilePath) throws -> [String]? {
        let fd = sysroot.open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0, let dir = fdopendir(fd) else {
            let errno = Errno(rawValue: Glibc.errno)
            if fd >= 0 { close(fd) }
            if errno == .noSuchFileOrDirectory || errno == .notDirectory { return nil }
            throw DevicesError.read(path, errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        return names.sorted()
    }

    /// The canonical location of `path` with every link resolved, or nil when it does not resolve.
    func realPath(_ path: FilePath) -> FilePath? { sysroot.resolved(path) }

    /// The host path (as the host names it, from `/`) of a location under the sysroot.
    func hostPath(_ rooted: FilePath) -> FilePath {
        guard !sysroot.isHostRoot else { return rooted }
        var copy = rooted
        guard copy.removePrefix(sysroot.root) else { return rooted }
        return FilePath("/").pushing(copy)
    }

    /// Whether something exists at `path`, following links (a dangling link does not exist).
    func exists(_ path: FilePath) -> Bool {
        sysroot.status(path, following: true) != nil
    }

    /// Whether a directory entry exists at `path`, without following links.
    func entryExists(_ path: FilePath) -> Bool {
        sysroot.status(path, following: false) != nil
    }

    /// Removes the entry at `path` (a link itself, never its target), its folder found inside the sysroot.
    /// - Returns: 0, or -1 with `errno` set, as `unlink(2)`.
    func unlink(_ path: FilePath) -> Int32 { unlink(path, flags: 0) }

    /// Removes the empty folder at `path`, its parent found inside the sysroot.
    /// - Returns: 0, or -1 with `errno` set, as `rmdir(2)`.
    func rmdir(_ path: FilePath) -> Int32 { unlink(path, flags: AT_REMOVEDIR) }

    private func unlink(_ path: FilePath, flags: Int32) -> Int32 {
        guard let name = path.lastComponent?.string else {
            Glibc.errno = EINVAL
            return -1
        }
        let parent = sysroot.open(path.removingLastComponent(), O_RDONLY | O_DIRECTORY)
        guard parent >= 0 else { return -1 }
        let rc = name.withCString { unlinkat(parent, $0, flags) }
        let saved = Glibc.errno
        close(parent)
        Glibc.errno = saved
        return rc
    }

    /// Renames `source` over `target` in one folder, found inside the sysroot.
    /// - Returns: 0, or -1 with `errno` set, as `rename(2)`.
    func rename(_ source: FilePath, _ target: FilePath) -> Int32 {
        guard let from = source.lastComponent?.string, let to = target.lastComponent?.string,
            source.removingLastComponent() == target.removingLastComponent()
        else {
            Glibc.errno = EXDEV
            return -1
        }
        let parent = sysroot.open(source.removingLastComponent(), O_RDONLY | O_DIRECTORY)
        guard parent >= 0 else { return -1 }
        let rc = from.withCString { old in to.withCString { renameat(parent, old, parent, $0) } }
        let saved = Glibc.errno
        close(parent)
        Glibc.errno = saved
        return rc
    }

    /// Whether `path` is a directory (following links).
    func isDirectory(_ path: FilePath) -> Bool {
        guard let info = sysroot.status(path, following: true) else { return false }
        return (info.st_mode & S_IFMT) == S_IFDIR
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" || $0 == "\0" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

extension Sysroot {
    /// Opens a file under the root for reading: nil when it (or a folder on its path) does not exist.
    /// - Throws: `DevicesError` for any other failure (permission, I/O, a link out of the root).
    func openForReading(_ path: FilePath) throws -> CInt? {
        // Non-blocking, so that opening a pipe without a writer does not wait forever (it is refused after).
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd < 0 else {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            return fd
        }
        let errno = Errno(rawValue: Glibc.errno)
        if errno == .noSuchFileOrDirectory || errno == .notDirectory { return nil }
        if errno == .improperLink {
            throw DevicesError(
                code: .permissionDenied, message: "cannot read \(path): it is outside the sysroot \(self)", cause: errno
            )
        }
        throw DevicesError.read(path, errno)
    }
}
