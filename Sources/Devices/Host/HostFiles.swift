import Glibc
import SystemPackage

/// Small, allocation-light file access under a sysroot: the single choke point where errno becomes an error.
struct HostFiles: Sendable {
    let sysroot: Sysroot

    /// The rooted location of a host path.
    func path(_ absolute: FilePath) -> FilePath { sysroot.path(absolute) }

    /// Reads a whole small file, or nil when it does not exist.
    /// - Throws: `DevicesError` for any other failure (permission, I/O).
    func read(_ path: FilePath) throws -> [UInt8]? {
        guard let fd = try openForReading(path) else { return nil }
        defer { close(fd) }
        // sysfs attributes and config space fit in one read; a short read of a regular or sysfs file is the end.
        let capacity = 8192
        var result: [UInt8] = []
        while true {
            var failure: Errno?
            let count = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer -> Int in
                let n = Glibc.read(fd, buffer.baseAddress, capacity)
                if n < 0 {
                    failure = Errno(rawValue: Glibc.errno)
                    return 0
                }
                result.append(contentsOf: buffer.prefix(n))
                return n
            }
            if let failure {
                if failure == .interrupted { continue }
                throw DevicesError.read(path, failure)
            }
            if count < capacity { return result }
        }
    }

    /// Reads a small text file without its trailing newline and spaces, or nil when it does not exist.
    func readText(_ path: FilePath) throws -> String? {
        guard let bytes = try read(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
    }

    /// The target of a symbolic link, or nil when `path` is not a link or does not exist.
    func readLink(_ path: FilePath) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return -1 }
            return path.withPlatformString { readlink($0, base.assumingMemoryBound(to: CChar.self), raw.count) }
        }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// The last component of a symbolic link's target (a driver or group name), or nil.
    func linkName(_ path: FilePath) -> String? {
        guard let target = readLink(path) else { return nil }
        return FilePath(target).lastComponent?.string
    }

    /// The entries of a directory, without `.` and `..`, sorted; nil when it does not exist.
    /// - Throws: `DevicesError` when it exists but cannot be read.
    func list(_ path: FilePath) throws -> [String]? {
        guard let dir = path.withPlatformString({ opendir($0) }) else {
            let errno = Errno(rawValue: Glibc.errno)
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
    func realPath(_ path: FilePath) -> FilePath? {
        guard let resolved = path.withPlatformString({ realpath($0, nil) }) else { return nil }
        defer { free(resolved) }
        return FilePath(platformString: resolved)
    }

    /// The host path (as the host names it, from `/`) of a location under the sysroot.
    func hostPath(_ rooted: FilePath) -> FilePath {
        guard !sysroot.isHostRoot else { return rooted }
        var copy = rooted
        guard copy.removePrefix(sysroot.root) else { return rooted }
        return FilePath("/").pushing(copy)
    }

    /// Whether something exists at `path`, following links (a dangling link does not exist).
    func exists(_ path: FilePath) -> Bool {
        path.withPlatformString { access($0, F_OK) } == 0
    }

    /// Whether a directory entry exists at `path`, without following links.
    func entryExists(_ path: FilePath) -> Bool {
        var info = stat()
        return path.withPlatformString { lstat($0, &info) } == 0
    }

    /// Whether `path` is a directory (following links).
    func isDirectory(_ path: FilePath) -> Bool {
        var info = stat()
        guard path.withPlatformString({ stat($0, &info) }) == 0 else { return false }
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

/// Opens a file for reading: nil when it (or a folder on its path) does not exist.
/// - Throws: `DevicesError` for any other failure (permission, I/O).
func openForReading(_ path: FilePath) throws -> CInt? {
    let fd = path.withPlatformString { open($0, O_RDONLY | O_CLOEXEC) }
    guard fd < 0 else { return fd }
    let errno = Errno(rawValue: Glibc.errno)
    if errno == .noSuchFileOrDirectory || errno == .notDirectory { return nil }
    throw DevicesError.read(path, errno)
}
