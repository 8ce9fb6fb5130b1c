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
        guard sysroot.isHostRoot else { return try writeInTree(bytes, to: path, timeout: timeout) }
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

    /// Writes to a file of another tree on a thread of its own, waiting at most `timeout` and stopping at a signal,
    /// as the host's writer process does: a file that blocks (a FIFO standing in for a hung driver) leaves only that
    /// thread behind.
    private func writeInTree(_ bytes: [UInt8], to path: FilePath, timeout: Duration) throws {
        var done: [Int32] = [0, 0]
        guard pipe(&done) == 0 else { throw DevicesError.write(path, Errno(rawValue: Glibc.errno)) }
        let job = TreeWrite(io: self, bytes: bytes, path: path, done: done[1])
        var thread = pthread_t()
        let context = Unmanaged.passRetained(job).toOpaque()
        let started = pthread_create(
            &thread, nil,
            { context in
                guard let context else { return nil }
                let job = Unmanaged<TreeWrite>.fromOpaque(context).takeRetainedValue()
                do { try job.io.write(job.bytes, to: job.path) } catch { job.error = error }
                close(job.done)
                return nil
            }, context)
        guard started == 0 else {
            Unmanaged<TreeWrite>.fromOpaque(context).release()
            close(done[0])
            close(done[1])
            throw DevicesError.write(path, Errno(rawValue: started))
        }
        pthread_detach(thread)
        defer { close(done[0]) }
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero || Interruption.signal != nil {
                try Interruption.check()
                throw DevicesError(
                    code: .timeout,
                    message: "writing \(String(decoding: bytes, as: UTF8.self)) to \(path) did not return within "
                        + "\(timeout); stopped here")
            }
            let milliseconds = min(1000, max(1, Int32(remaining.components.seconds) * 1000 + 1))
            var descriptor = pollfd(fd: done[0], events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, milliseconds) > 0 { break }
        }
        if let error = job.error { throw error }
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
        // One write: sysfs takes an attribute's value whole or refuses it, never a part.
        do {
            _ = try bytes.withUnsafeBytes { try FileDescriptor(rawValue: fd).write($0, retryOnInterrupt: true) }
        } catch let errno as Errno {
            throw DevicesError.write(path, errno)
        }
    }
}

/// A write on another thread: what to write, the pipe end it closes when done, and the error it ended with (read
/// only after that close).
private final class TreeWrite: @unchecked Sendable {
    let io: LiveHostIO
    let bytes: [UInt8]
    let path: FilePath
    let done: Int32
    var error: (any Error)?

    init(io: LiveHostIO, bytes: [UInt8], path: FilePath, done: Int32) {
        self.io = io
        self.bytes = bytes
        self.path = path
        self.done = done
    }
}
