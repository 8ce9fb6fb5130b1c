import Glibc
import SystemPackage

/// How much vfioctl reads of each kind of file before refusing it: input that should fit in one line of a
/// report must not cost gigabytes.
public enum ReadLimit {
    /// A libvirt domain file: 16 MiB (real ones are a few KiB).
    public static let domain = 16 << 20
    /// A GPU option ROM, from a file or from sysfs: 16 MiB (ROM BARs are at most a few MiB).
    public static let rom = 16 << 20
    /// A sysfs attribute: 64 KiB (the kernel hands out one page).
    public static let attribute = 64 << 10
    /// Any other host file (/proc tables, /etc files): 16 MiB.
    public static let hostFile = 16 << 20

    /// A size as a person reads it: `16 MiB`, `64 KiB`, `100 bytes`.
    static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}

extension ReadLimit {
    /// Reads a user's file (relative to the working directory when relative), refusing anything but a regular
    /// file of at most `limit` bytes; nil when it does not exist.
    /// - Throws: `DevicesError` naming the file.
    public static func readFile(_ path: FilePath, limit: Int, what: String) throws -> [UInt8]? {
        guard let fd = try Sysroot.host.openForReading(path) else { return nil }
        defer { close(fd) }
        return try readAll(fd, path: path, limit: limit, what: what)
    }
}

/// The name of a file type, for messages.
private func kind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: "a directory"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFIFO: "a pipe"
    case S_IFSOCK: "a socket"
    case S_IFLNK: "a symbolic link"
    default: "not a regular file"
    }
}

/// Reads everything from an open descriptor, at most `limit` bytes.
/// - Parameters:
///   - fd: the descriptor (left open).
///   - path: the name in messages.
///   - limit: the most bytes accepted.
///   - what: what the file should be, for messages (`a domain file`).
///   - allowingPipes: accept a pipe (stdin, `<(…)`), still read no more than `limit`.
/// - Returns: the bytes.
/// - Throws: `DevicesError` (`.invalidData`) naming the path when it is not a regular file or is larger than
///   `limit`; `.io` and friends for read errors.
func readAll(_ fd: CInt, path: FilePath, limit: Int, what: String, allowingPipes: Bool = false) throws -> [UInt8] {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw DevicesError.read(path, Errno(rawValue: Glibc.errno)) }
    let type = info.st_mode & S_IFMT
    guard type == S_IFREG || (allowingPipes && (type == S_IFIFO || type == S_IFSOCK)) else {
        throw DevicesError(
            code: .invalidData, message: "\(path) is \(kind(info.st_mode)), not \(what): refusing to read it")
    }
    if type == S_IFREG, Int(info.st_size) > limit {
        throw tooLarge(path, limit: limit, what: what, size: Int(info.st_size))
    }
    // sysfs reports 4096 for every attribute and /proc reports 0: the size is a hint, the read decides.
    let result: [UInt8]
    do {
        result = try readUpTo(fd, limit: limit, chunk: 65536)
    } catch {
        throw DevicesError.read(path, error)
    }
    if result.count > limit { throw tooLarge(path, limit: limit, what: what, size: nil) }
    return result
}

/// Reads from an open descriptor until its end or until more than `limit` bytes came, `chunk` at a time, through
/// swift-system (a read interrupted by a signal is retried).
/// - Returns: the bytes: at most `limit + 1`, so a caller sees that there was more.
/// - Throws: the `Errno` of a failed read.
func readUpTo(_ fd: CInt, limit: Int, chunk: Int) throws(Errno) -> [UInt8] {
    let descriptor = FileDescriptor(rawValue: fd)
    var result: [UInt8] = []
    while result.count <= limit {
        let wanted = min(chunk, limit + 1 - result.count)
        let count: Int
        do {
            count = try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: wanted) { buffer in
                let n = try descriptor.read(into: UnsafeMutableRawBufferPointer(buffer), retryOnInterrupt: true)
                result.append(contentsOf: buffer.prefix(n))
                return n
            }
        } catch let error as Errno {
            throw error
        } catch {
            throw Errno.ioError
        }
        if count == 0 { break }
    }
    return result
}

private func tooLarge(_ path: FilePath, limit: Int, what: String, size: Int?) -> DevicesError {
    DevicesError(
        code: .invalidData,
        message: "\(path) is "
            + (size.map { "\($0) bytes" } ?? "larger than \(ReadLimit.describe(limit))")
            + (size == nil ? "" : ", more than \(ReadLimit.describe(limit))")
            + ", the limit for \(what): refusing to read it")
}
