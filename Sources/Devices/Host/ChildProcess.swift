import Glibc
import SystemPackage

/// Runs a helper program with a time limit, without ever blocking on a child stuck in the kernel.
enum ChildProcess {
    enum Result {
        /// The program exited with this status and printed this (stdout and stderr together).
        case exited(Int32, String)
        /// It did not finish in time; it was sent SIGKILL and left behind.
        case timedOut(pid_t)
    }

    /// Runs `program` with `arguments`, collecting its output, for at most `timeout`.
    /// - Throws: `DevicesError` when it cannot be started.
    static func run(_ program: String, _ arguments: [String], timeout: Duration) throws -> Result {
        var pipe: [Int32] = [-1, -1]
        guard Glibc.pipe(&pipe) == 0 else {
            throw DevicesError(code: .internalError, message: "cannot run \(program): \(Errno(rawValue: errno))")
        }
        _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipe[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return EINVAL }
            return posix_spawn(&pid, program, &actions, nil, UnsafeMutablePointer(mutating: base), environ)
        }
        close(pipe[1])
        guard rc == 0 else {
            close(pipe[0])
            throw DevicesError(code: .unavailable, message: "cannot run \(program): \(Errno(rawValue: rc))")
        }
        defer { close(pipe[0]) }
        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var open = true
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            // A signal to vfioctl stops the wait at once, so the rollback starts without waiting out the limit.
            if remaining <= .zero || Interruption.signal != nil {
                kill(pid, SIGKILL)
                // Reap it if it can die; a child stuck in the kernel is left for init.
                var status: Int32 = 0
                _ = waitpid(pid, &status, WNOHANG)
                return .timedOut(pid)
            }
            if open {
                var descriptor = pollfd(fd: pipe[0], events: Int16(POLLIN), revents: 0)
                let milliseconds = Int32(
                    min(
                        1000,
                        max(
                            1,
                            remaining.components.seconds * 1000 + remaining.components.attoseconds
                                / 1_000_000_000_000_000)))
                if poll(&descriptor, 1, milliseconds) > 0 {
                    let n = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
                    if n > 0 { output.append(contentsOf: buffer[0..<n]) } else { open = false }
                }
            } else {
                var descriptor = pollfd(fd: -1, events: 0, revents: 0)
                _ = poll(&descriptor, 0, 10)
            }
            var status: Int32 = 0
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid {
                let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
                return .exited(code, String(decoding: output, as: UTF8.self))
            }
        }
    }
}
