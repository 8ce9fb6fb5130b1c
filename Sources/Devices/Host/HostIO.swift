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
///
/// Under a sysroot other than `/` every path is resolved inside that tree (symbolic links included), and no
/// program of the running host is started: the tree is another system, not this one.
public struct LiveHostIO: HostIO {
    /// Where paths are resolved.
    public let sysroot: Sysroot

    /// Creates the live implementation for paths under `sysroot`.
    public init(sysroot: Sysroot = .host) {
        self.sysroot = sysroot
    }

    /// Reads a whole attribute or file of at most 16 MiB (a ROM, a domain); nil when it does not exist.
    /// - Throws: `DevicesError` naming the path when it is not a regular file or is larger.
    public func read(_ path: FilePath) throws -> [UInt8]? {
        guard let fd = try sysroot.openForReading(path) else { return nil }
        defer { close(fd) }
        return try readAll(fd, path: path, limit: ReadLimit.rom, what: "a ROM or kernel attribute")
    }

    /// Writes in a child process and stops waiting after `timeout`.
    ///
    /// A write stuck in the kernel leaves only that child behind, and vfioctl reports it. Under another sysroot there is no kernel behind the file, and no
    /// host program is run: the write is a plain one.
    public func write(_ bytes: [UInt8], to path: FilePath, timeout: Duration) throws {
        guard sysroot.isHostRoot else { return try write(bytes, to: path) }
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
            throw DevicesError(
                code: .timeout,
                message: "writing \(text) to \(path) did not return within \(timeout) (the driver hangs; process "
                    + "\(pid) is still stuck in the kernel); stopped here, a reboot may be needed")
        }
    }

    /// Runs `modprobe NAME`.
    /// - Throws: `DevicesError` (`.unavailable`) under a sysroot other than `/`: the host's modprobe would load
    ///   the module into the running kernel, not the tree's.
    public func loadModule(_ name: String) throws {
        guard sysroot.isHostRoot else {
            throw DevicesError(
                code: .unavailable,
                message: "cannot load the \(name) module for the tree at \(sysroot): the running host's modprobe "
                    + "is never run for another root; load it in that system")
        }
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
        let fd = sysroot.open(path, O_WRONLY | O_TRUNC)
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
