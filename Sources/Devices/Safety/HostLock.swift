import Glibc
import Synchronization
import SystemPackage

/// How many times each thread of this process holds each host lock (by rooted path and thread): the lock is
/// re-entrant within one thread, so a hook that binds takes it once; other threads wait as other processes do.
private let heldLocks = Mutex<[String: (fd: Int32, count: Int)]>([:])

/// How many acquisitions found the lock taken and had to wait.
private let contendedCount = Atomic<Int>(0)

/// The one lock around every change to devices and vfioctl's state: `flock` on the `/run/vfioctl` directory
/// (root's, mode 0700, so no other user can hold it).
enum HostLock {
    /// Runs `body` holding the lock, waiting at most `timeout` for another vfioctl to finish.
    /// - Throws: `DevicesError` with code `.timeout` naming the process that holds it, or the error of `body`.
    static func withLock<T>(_ files: HostFiles, timeout: Duration, _ body: () throws -> T) throws -> T {
        let directory = files.path(HostPaths.runState)
        let key = directory.string + "#" + String(UInt(pthread_self()))
        let reentered = heldLocks.withLock { locks -> Bool in
            guard var held = locks[key] else { return false }
            held.count += 1
            locks[key] = held
            return true
        }
        if !reentered {
            let fd = try acquire(directory, files: files, timeout: timeout)
            heldLocks.withLock { $0[key] = (fd, 1) }
        }
        defer {
            heldLocks.withLock { locks in
                guard var held = locks[key] else { return }
                held.count -= 1
                if held.count == 0 {
                    locks[key] = nil
                    // The pid file goes first, while the lock is still held: no later holder's file is removed.
                    _ = directory.appending("lock.pid").withPlatformString { unlink($0) }
                    _ = flock(held.fd, LOCK_UN)
                    close(held.fd)
                } else {
                    locks[key] = held
                }
            }
        }
        return try body()
    }

    private static func acquire(_ directory: FilePath, files: HostFiles, timeout: Duration) throws -> Int32 {
        try StateDirectory.make(directory)
        // Not close-on-exec: a helper it starts (a driver unbind stuck in the kernel) holds the lock until it ends, so a
        // killed vfioctl's writer still running keeps `recover` waiting instead of racing it.
        let fd = directory.withPlatformString { open($0, O_RDONLY | O_DIRECTORY) }
        guard fd >= 0 else { throw DevicesError.read(directory, Errno(rawValue: Glibc.errno)) }
        let deadline = ContinuousClock.now + timeout
        var counted = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if !counted {
                contendedCount.add(1, ordering: .relaxed)
                counted = true
            }
            let errno = Errno(rawValue: Glibc.errno)
            guard errno == .wouldBlock || errno == .interrupted else {
                close(fd)
                throw DevicesError.write(directory, errno)
            }
            guard ContinuousClock.now < deadline else {
                close(fd)
                let holder = holderPID(of: directory, files: files).map { "process \($0)" } ?? "another process"
                throw DevicesError(
                    code: .timeout,
                    message: "\(files.hostPath(directory)) is locked by \(holder) (another vfioctl changing devices); "
                        + "waited \(timeout.components.seconds) s")
            }
            var none = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&none, 0, 20)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = try? AtomicFile.write(pid, to: directory.appending("lock.pid"), mode: 0o600, backup: false)
        return fd
    }

    /// How many acquisitions in this process found the lock taken and waited.
    static var contended: Int { contendedCount.load(ordering: .relaxed) }

    /// The process holding the lock: from `/proc/locks` (device and inode of the directory), else the pid file the
    /// holder wrote.
    static func holderPID(of directory: FilePath, files: HostFiles) -> Int? {
        var info = stat()
        if directory.withPlatformString({ stat($0, &info) }) == 0,
            let locks = try? files.readText(files.path(FilePath("/proc/locks")))
        {
            let suffix = ":\(info.st_ino)"
            for line in locks.split(separator: "\n") where line.contains("FLOCK") {
                let fields = line.split(separator: " ")
                guard fields.count >= 6, fields[5].hasSuffix(suffix), let pid = Int(fields[4]) else { continue }
                return pid
            }
        }
        return (try? files.readText(directory.appending("lock.pid"))).flatMap { $0.flatMap { Int($0) } }
    }
}

/// `/run/vfioctl` and what lives in it.
enum StateDirectory {
    /// Creates the folder (and its parents) as root's, mode 0700.
    static func make(_ directory: FilePath) throws {
        var path = FilePath(directory.root?.string ?? "/")
        for component in directory.components {
            path.append(component)
            if path.withPlatformString({ mkdir($0, 0o700) }) != 0 {
                let errno = Errno(rawValue: Glibc.errno)
                guard errno == .fileExists else { throw DevicesError.write(path, errno) }
            }
        }
    }
}
