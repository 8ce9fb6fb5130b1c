import CXML
import Dispatch
import Glibc
import SystemPackage

/// Reading, validating and writing libvirt domain files.
public enum DomainFile {
    /// libvirt's RELAX NG schema for domains, as Debian's libvirt0 and every distribution's libvirt install it.
    public static let defaultSchema = "/usr/share/libvirt/schemas/domain.rng"

    /// The name that stands for standard input (reading) and standard output (writing).
    public static let standardStream = "-"

    /// Reads and parses a domain file, or standard input for `-`.
    /// - Throws: `DevicesError`: a missing or unreadable file, one larger than 16 MiB or that is a device or a
    ///   folder, or XML that is not well-formed (with line:column) or declares entities.
    public static func read(_ path: String) throws -> XMLDocument {
        if path == standardStream {
            let bytes = try readAll(
                STDIN_FILENO, path: FilePath("standard input"), limit: ReadLimit.domain, what: "a domain file",
                allowingPipes: true)
            return try XMLDocument(bytes: bytes, source: "standard input")
        }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let errno = Errno(rawValue: Glibc.errno)
            guard errno == .noSuchFileOrDirectory else { throw DevicesError.read(FilePath(path), errno) }
            throw DevicesError(
                code: .notFound,
                message: "\(path) does not exist: give a domain XML file (`virsh dumpxml NAME > \(path)`)")
        }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        // A pipe (`<(virsh dumpxml NAME)`) is read like a file, up to the same limit.
        let bytes = try readAll(
            fd, path: FilePath(path), limit: ReadLimit.domain, what: "a domain file", allowingPipes: true)
        return try XMLDocument(bytes: bytes, source: path)
    }

    /// Starts reading and compiling a schema on another thread, so that validation later finds it ready; the
    /// work overlaps with reading the host and merging.
    public static func preloadSchema(_ schema: String = defaultSchema) {
        guard access(schema, R_OK) == 0 else { return }
        DispatchQueue.global(qos: .userInitiated).async {
            // Without libxml2 there is nothing to prepare; validation reports it.
            guard let api = try? XMLLibrary.load() else { return }
            schema.withCString { cxml_preload(api, $0) }
        }
    }

    /// Whether the schema file can be read.
    public static func schemaAvailable(_ schema: String = defaultSchema) -> Bool { access(schema, R_OK) == 0 }

    /// Checks bytes against libvirt's schema.
    /// - Returns: nil when valid, else the first problem as `line N: message`.
    /// - Throws: `DevicesError` when the bytes are not well-formed XML, when `schema` cannot be read, and when
    ///   libxml2 cannot compile it or start a validation: no answer is never taken for "valid".
    public static func schemaProblem(_ bytes: [UInt8], source: String, schema: String = defaultSchema) throws -> String?
    {
        guard access(schema, R_OK) == 0 else { throw DevicesError.read(FilePath(schema), Errno(rawValue: errno)) }
        let api = try XMLLibrary.load()
        var parsing = cxml_state()
        defer { cxml_state_free(&parsing) }
        let document = try XMLDocument.parseTree(bytes, source: source, api: api, state: &parsing)
        defer { api.pointee.freeDoc(document) }
        var state = cxml_state()
        defer { cxml_state_free(&state) }
        let result = cxml_validate(api, document, schema, &state)
        let message = withUnsafeBytes(of: &state.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard result >= 0 else {
            throw DevicesError(
                code: .invalidData,
                message: "\(schema) is not a RELAX NG schema libxml2 can use"
                    + (message.isEmpty ? "" : " (\(message))"))
        }
        guard result != 0 else { return nil }
        let problem = message.isEmpty ? "not valid (libxml2 gave no reason)" : message
        return state.line > 0 ? "line \(state.line): \(problem)" : problem
    }

    /// Makes sure a result may be written: well-formed, and valid for libvirt whenever the input was.
    /// - Throws: `DevicesError` naming the problem; nothing is written after it.
    public static func validate(
        _ change: DomainChange, original: XMLDocument, source: String, schema: String = defaultSchema
    )
        throws
    {
        // Checking against the schema parses the result (line:column for XML errors); without a schema the
        // parse is all there is.
        guard schemaAvailable(schema) else {
            _ = try XMLDocument(bytes: change.bytes, source: source + " (result)")
            return
        }
        guard let problem = try schemaProblem(change.bytes, source: source + " (result)", schema: schema) else {
            return
        }
        if let before = try schemaProblem(original.bytes, source: source, schema: schema) {
            throw DevicesError(
                code: .invalidData,
                message: "\(source) does not follow libvirt's domain schema even before any change (\(before)): "
                    + "fix it first (`virt-xml-validate \(source) domain`)")
        }
        throw DevicesError(
            code: .internalError,
            message: "the merged domain would not follow libvirt's schema (\(problem)); nothing was written")
    }

    /// Runs `body` while holding the lock of the file at `path`, so two vfioctl runs on one file take turns.
    ///
    /// The lock is `.<name>.lock` next to the file (next to a link's target), readable and writable by its
    /// creator only, holding the process ID of the run that holds it; it is removed when the run ends.
    /// - Parameters:
    ///   - path: the file to be written.
    ///   - timeout: how long to wait for another run before giving up.
    ///   - body: the work done under the lock.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws; `DevicesError` (`.timeout`) naming the process that holds the lock after
    ///   `timeout`, or when the lock cannot be made.
    public static func withLock<T>(on path: String, timeout: Duration = .seconds(10), _ body: () throws -> T) throws
        -> T
    {
        let file = try AtomicFile.resolvedLocation(of: FilePath(path))
        let directory = file.removingLastComponent()
        try AtomicFile.makeDirectories(directory)
        let lockPath = directory.appending(".\(file.lastComponent?.string ?? "file").lock")
        let deadline = ContinuousClock.now + timeout
        while true {
            let fd = lockPath.withPlatformString { open($0, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) }
            guard fd >= 0 else { throw DevicesError.write(lockPath, Errno(rawValue: Glibc.errno)) }
            // The descriptor stays open while waiting, so the wait shows in /proc/PID/fd as the lock file.
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let failure = Glibc.errno
                guard failure == EWOULDBLOCK || failure == EINTR else {
                    close(fd)
                    throw DevicesError.write(lockPath, Errno(rawValue: failure))
                }
                if ContinuousClock.now >= deadline {
                    let holder = lockHolder(fd)
                    close(fd)
                    throw DevicesError(
                        code: .timeout,
                        message: "\(path) is locked by \(holder) (\(lockPath)); waited \(timeout): try again when "
                            + "it has finished")
                }
                usleep(50_000)
            }
            // The holder before removes the file as it finishes: the lock only counts on the file at the path.
            var held = stat()
            var current = stat()
            if fstat(fd, &held) == 0, lockPath.withPlatformString({ lstat($0, &current) }) == 0,
                held.st_dev == current.st_dev, held.st_ino == current.st_ino
            {
                // Only a file of our own with one name gets the process ID (never one linked from elsewhere).
                if held.st_uid == geteuid(), held.st_nlink == 1, ftruncate(fd, 0) == 0 {
                    _ = try? FileDescriptor(rawValue: fd).writeAll(Array("\(getpid())\n".utf8))
                }
                defer {
                    _ = lockPath.withPlatformString { unlink($0) }
                    close(fd)
                }
                return try body()
            }
            close(fd)
        }
    }

    /// Who holds a lock file: `process 1234 (vfioctl)` from the ID written in it, or `another process`.
    private static func lockHolder(_ fd: CInt) -> String {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0, let pid = Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingWhitespace()), pid > 0
        else { return "another process" }
        let files = HostFiles(sysroot: .host)
        let name = (try? files.readText(HostPaths.processes.appending("\(pid)/comm"))) ?? nil
        return "process \(pid)" + (name.map { " (\($0))" } ?? "")
    }

    /// Writes a result atomically (temporary file, fsync, rename), keeping the file's owner, group, permissions
    /// and a `.bak` copy of what was there; a link's target is written.
    /// - Returns: where the backup went and whether anything changed.
    /// - Throws: `DevicesError` naming the file.
    @discardableResult
    public static func write(_ bytes: [UInt8], to path: String) throws -> AtomicFile.Outcome {
        try AtomicFile.write(bytes, to: FilePath(path), mode: 0o644, backup: true)
    }
}
