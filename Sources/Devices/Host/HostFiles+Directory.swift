import CLinux
import Glibc
import SystemPackage

/// A folder under the sysroot, opened once, whose entries are read by name relative to it.
///
/// Opening a sysfs attribute by its full path makes the kernel walk every component again (and, under a sysroot,
/// `openat2` resolve them inside the root); a device's dozen attributes cost a dozen walks. Opened once, each
/// attribute is one `openat2` of one name with `RESOLVE_BENEATH`: no link in it can leave the folder, and the
/// folder itself was found inside the root.
struct OpenFolder: ~Copyable {
    /// The folder's descriptor (`O_PATH`).
    let fd: CInt
    /// Its rooted location, for messages.
    let path: FilePath
    /// The sysroot it was found in.
    let sysroot: Sysroot
    /// Whether the sysroot is `/` (no confinement needed).
    var isHostRoot: Bool { sysroot.isHostRoot }

    deinit { close(fd) }

    /// The rooted location of an entry, for messages.
    func path(_ name: String) -> FilePath { path.appending(name) }

    /// Reads a sysfs attribute (at most `ReadLimit.attribute` bytes), or nil when it does not exist.
    ///
    /// One `openat2`, reads until end of file, one `close`: no `fstat` or `fcntl` unless the answer is empty or
    /// would block. The file is opened non-blocking, so a pipe never waits (it is refused by name), and anything
    /// longer than the limit, a character device included, is refused after the limit.
    /// - Throws: `DevicesError` naming the path for a read error, something not a file, or too much data.
    func readAttribute(_ name: String) throws -> [UInt8]? {
        let flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC
        let fd = name.withCString {
            isHostRoot ? openat(self.fd, $0, flags) : clinux_openat_beneath(self.fd, $0, flags)
        }
        guard fd >= 0 else {
            let errno = Errno(rawValue: Glibc.errno)
            if errno == .noSuchFileOrDirectory || errno == .notDirectory { return nil }
            if errno == .improperLink {
                // A link that leaves the folder (never so in sysfs) is read as any host path is: resolved inside
                // the sysroot.
                return try HostFiles(sysroot: sysroot).read(path(name))
            }
            throw DevicesError.read(path(name), errno)
        }
        defer { close(fd) }
        let limit = ReadLimit.attribute
        // An attribute (a config space too) comes whole in the first read; the second sees the end.
        let result: [UInt8]
        do {
            result = try readUpTo(fd, limit: limit, chunk: 8192)
        } catch {
            if error == .resourceTemporarilyUnavailable {
                // Only something that is not a file says "try again": name what it is.
                _ = try readAll(fd, path: path(name), limit: limit, what: "a sysfs attribute")
            }
            throw DevicesError.read(path(name), error)
        }
        // A pipe without a writer ends at once: an empty answer is checked for being a file.
        if result.isEmpty { return try readAll(fd, path: path(name), limit: limit, what: "a sysfs attribute") }
        if result.count > limit {
            // A regular file is named with its size, anything else with its kind.
            _ = try readAll(fd, path: path(name), limit: limit, what: "a sysfs attribute")
            throw DevicesError(
                code: .invalidData,
                message: "\(path(name)) is larger than \(ReadLimit.describe(limit)), the limit for a sysfs "
                    + "attribute: refusing to read it")
        }
        return result
    }

    /// Reads a sysfs attribute as text without its trailing newline and spaces, or nil when it does not exist.
    /// - Throws: as `readAttribute(_:)`.
    func readText(_ name: String) throws -> String? {
        guard let bytes = try readAttribute(name) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
    }

    /// The last component of the target of the link `name` (a driver or group name), or nil when it is not a
    /// link.
    func linkName(_ name: String) -> String? {
        guard let target = Sysroot.linkTarget(FilePath(name), in: fd) else { return nil }
        return FilePath(target).lastComponent?.string
    }

    /// Whether the entry `name` exists, without following a link.
    func entryExists(_ name: String) -> Bool {
        var info = stat()
        return name.withCString { fstatat(fd, $0, &info, AT_SYMLINK_NOFOLLOW) } == 0
    }
}

extension HostFiles {
    /// Opens a folder (following links inside the sysroot) for reading its entries by name; nil when it does not
    /// exist or is not a folder.
    /// - Throws: `DevicesError` for any other failure (permission, a link out of the sysroot).
    func openFolder(_ path: FilePath) throws -> OpenFolder? {
        let fd = sysroot.open(path, CLINUX_O_PATH | O_DIRECTORY)
        guard fd >= 0 else {
            let errno = Errno(rawValue: Glibc.errno)
            if errno == .noSuchFileOrDirectory || errno == .notDirectory { return nil }
            if errno == .improperLink {
                throw DevicesError(
                    code: .permissionDenied, message: "cannot read \(path): it is outside the sysroot \(sysroot)",
                    cause: errno)
            }
            throw DevicesError.read(path, errno)
        }
        return OpenFolder(fd: fd, path: path, sysroot: sysroot)
    }
}
