import Glibc
import SystemPackage

/// Reads and writes of kernel attributes that have side effects: `rom`, `driver_override`, `unbind`,
/// `drivers_probe`.
///
/// On a real host these are plain file operations under the sysroot, and the kernel reacts to them. A fake host
/// tree has no kernel behind it, so tests inject an implementation that plays the kernel's part (as libvirt's
/// `virpcimock` does) and records every write.
public protocol HostIO: Sendable {
    /// Reads a whole attribute; nil when it does not exist.
    /// - Throws: `DevicesError` carrying the errno (EIO when the kernel refuses, EACCES without root).
    func read(_ path: FilePath) throws -> [UInt8]?

    /// Writes `bytes` to an existing attribute in one `write(2)`, as `echo … > attribute` does.
    /// - Throws: `DevicesError` carrying the errno.
    func write(_ bytes: [UInt8], to path: FilePath) throws
}

extension HostIO {
    /// Writes a short text (a driver name, an address, `1`) to an attribute.
    public func write(_ text: String, to path: FilePath) throws {
        try write(Array(text.utf8), to: path)
    }
}

/// The real thing: file operations that the running kernel answers.
public struct LiveHostIO: HostIO {
    /// Creates the live implementation.
    public init() {}

    /// Reads a whole attribute; nil when it does not exist.
    public func read(_ path: FilePath) throws -> [UInt8]? {
        let fd = path.withPlatformString { open($0, O_RDONLY | O_CLOEXEC) }
        if fd < 0 {
            let errno = Errno(rawValue: Glibc.errno)
            if errno == .noSuchFileOrDirectory || errno == .notDirectory { return nil }
            throw DevicesError.read(path, errno)
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let errno = Errno(rawValue: Glibc.errno)
                if errno == .interrupted { continue }
                throw DevicesError.read(path, errno)
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// Writes `bytes` to an existing attribute in one `write(2)` (no create, no truncate).
    public func write(_ bytes: [UInt8], to path: FilePath) throws {
        let fd = path.withPlatformString { open($0, O_WRONLY | O_CLOEXEC) }
        if fd < 0 { throw DevicesError.write(path, Errno(rawValue: Glibc.errno)) }
        defer { close(fd) }
        while true {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let errno = Errno(rawValue: Glibc.errno)
                if errno == .interrupted { continue }
                throw DevicesError.write(path, errno)
            }
            return
        }
    }
}
