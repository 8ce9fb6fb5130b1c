import Glibc
import SystemPackage

/// Writes files so that a reader sees the old content or the new, never a torn one, and nothing the user had is
/// lost: a temporary file in the same folder, `fsync`, then `rename`, with a backup of a different old file.
public enum AtomicFile {
    /// The result of a write.
    public struct Outcome: Sendable, Hashable {
        /// Where the previous, different content was kept, if there was any.
        public var backup: FilePath?
        /// Whether the file already held exactly these bytes (nothing was written).
        public var unchanged: Bool
    }

    /// Writes `bytes` to `path` atomically with `mode`, creating the folder when missing.
    /// - Parameters:
    ///   - bytes: the new content.
    ///   - path: the file.
    ///   - mode: its permissions.
    ///   - backup: keep a different existing file as `<name>.bak` (replacing an older backup).
    /// - Returns: where the old content was kept, and whether anything changed.
    /// - Throws: `DevicesError` naming the path; the old file is untouched on failure.
    @discardableResult
    public static func write(_ bytes: [UInt8], to path: FilePath, mode: mode_t = 0o644, backup: Bool = true) throws
        -> Outcome
    {
        let directory = path.removingLastComponent()
        try makeDirectories(directory)
        let existing = try LiveHostIO().read(path)
        if existing == bytes {
            _ = path.withPlatformString { chmod($0, mode) }
            return Outcome(backup: nil, unchanged: true)
        }
        let name = path.lastComponent?.string ?? "file"
        var template = Array(directory.appending(".\(name).XXXXXX").string.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard fd >= 0 else { throw DevicesError.write(directory, Errno(rawValue: Glibc.errno)) }
        let temporary = FilePath(platformString: template)
        var committed = false
        defer {
            if !committed { _ = temporary.withPlatformString { unlink($0) } }
        }
        do {
            defer { close(fd) }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { raw in
                    Glibc.write(fd, raw.baseAddress.map { $0 + written }, bytes.count - written)
                }
                if n < 0 {
                    let errno = Errno(rawValue: Glibc.errno)
                    if errno == .interrupted { continue }
                    throw DevicesError.write(temporary, errno)
                }
                written += n
            }
            guard fchmod(fd, mode) == 0, fsync(fd) == 0 else {
                throw DevicesError.write(temporary, Errno(rawValue: Glibc.errno))
            }
        }
        var backupPath: FilePath?
        if backup, existing != nil {
            let target = directory.appending(name + ".bak")
            _ = target.withPlatformString { unlink($0) }
            let linked = path.withPlatformString { old in target.withPlatformString { link(old, $0) } }
            guard linked == 0 else { throw DevicesError.write(target, Errno(rawValue: Glibc.errno)) }
            backupPath = target
        }
        let renamed = temporary.withPlatformString { from in path.withPlatformString { rename(from, $0) } }
        guard renamed == 0 else { throw DevicesError.write(path, Errno(rawValue: Glibc.errno)) }
        committed = true
        let dirfd = directory.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
        return Outcome(backup: backupPath, unchanged: false)
    }

    /// Creates `directory` and its parents (mode 0755) when missing.
    static func makeDirectories(_ directory: FilePath) throws {
        var current = FilePath("/")
        for component in directory.components {
            current.append(component)
            if mkdir(current.string, 0o755) != 0 {
                let errno = Errno(rawValue: Glibc.errno)
                guard errno == .fileExists else { throw DevicesError.write(current, errno) }
            }
        }
    }
}
