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

    /// Writes like `write(_:to:)`, but gives up after `timeout` when the kernel does not return (a driver's
    /// `unbind` that hangs must not hang vfioctl).
    /// - Throws: `DevicesError` with code `.timeout` when the write did not finish in time.
    func write(_ bytes: [UInt8], to path: FilePath, timeout: Duration) throws

    /// Loads a kernel module (`modprobe NAME`).
    /// - Throws: `DevicesError` when it cannot be loaded.
    func loadModule(_ name: String) throws

    /// Whether the kernel has claimed a block device for something (a mount, swap, RAID, LVM, LUKS, a ZFS or
    /// btrfs member): opening its node with `O_EXCL` fails with EBUSY exactly then. Nil when it cannot be told
    /// (no such node, not a block device).
    func isClaimed(blockDevice node: FilePath) -> Bool?
}

extension HostIO {
    /// Writes a short text (a driver name, an address, `1`) to an attribute.
    public func write(_ text: String, to path: FilePath) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Writes a short text with a time limit.
    public func write(_ text: String, to path: FilePath, timeout: Duration) throws {
        try write(Array(text.utf8), to: path, timeout: timeout)
    }
}

/// The real thing: file operations that the running kernel answers.
public struct LiveHostIO: HostIO {
    /// Creates the live implementation.
    public init() {}

    /// Reads a whole attribute; nil when it does not exist.
    public func read(_ path: FilePath) throws -> [UInt8]? {
        guard let fd = try openForReading(path) else { return nil }
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

    /// Writes in a child process and stops waiting after `timeout`: a write stuck in the kernel leaves only that
    /// child behind, and vfioctl reports it.
    public func write(_ bytes: [UInt8], to path: FilePath, timeout: Duration) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        let result = try ChildProcess.run(
            "/bin/sh", ["-c", "printf '%s' \"$1\" > \"$2\"", "sh", text, path.string], timeout: timeout)
        switch result {
        case .exited(0, _):
            return
        case .exited(_, let output):
            let reason = output.split(separator: "\n").last.map { String($0.split(separator: ":").last ?? $0) }
            throw DevicesError(
                code: .io,
                message: "cannot write \(path): \((reason ?? "write failed").trimmingWhitespace().lowercased())")
        case .timedOut(let pid):
            try Interruption.check()
            throw DevicesError(
                code: .timeout,
                message: "writing \(text) to \(path) did not return within \(timeout) (the driver hangs; process "
                    + "\(pid) is still stuck in the kernel); stopped here, a reboot may be needed")
        }
    }

    /// Opens the node with `O_EXCL`: EBUSY means the kernel has it claimed.
    public func isClaimed(blockDevice node: FilePath) -> Bool? {
        var info = stat()
        guard node.withPlatformString({ stat($0, &info) }) == 0, (info.st_mode & S_IFMT) == S_IFBLK else { return nil }
        let fd = node.withPlatformString { open($0, O_RDONLY | O_EXCL | O_NONBLOCK | O_CLOEXEC) }
        if fd >= 0 {
            close(fd)
            return false
        }
        return Glibc.errno == EBUSY ? true : nil
    }

    /// Runs `modprobe NAME`.
    public func loadModule(_ name: String) throws {
        let result = try ChildProcess.run("/sbin/modprobe", [name], timeout: .seconds(60))
        guard case .exited(0, _) = result else {
            var detail = "timed out"
            if case .exited(let status, let output) = result {
                detail = output.trimmingWhitespace().isEmpty ? "exit status \(status)" : output.trimmingWhitespace()
            }
            throw DevicesError(code: .unavailable, message: "cannot load the \(name) module: \(detail)")
        }
    }

    /// Writes `bytes` to an existing attribute in one `write(2)`, opened as the shell's `>` opens it (truncating,
    /// which sysfs ignores and a plain file needs), but never creating it.
    public func write(_ bytes: [UInt8], to path: FilePath) throws {
        let fd = path.withPlatformString { open($0, O_WRONLY | O_TRUNC | O_CLOEXEC) }
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
