import Devices
import Foundation
import SystemPackage

/// Plays the kernel's part for `HostIO` on a fake host tree.
///
/// A `rom` attribute serves the ROM bytes only while enabled; every write is recorded. Tests tell it to fail like
/// a kernel does.
public final class FakeKernel: HostIO, @unchecked Sendable {
    private let lock = NSLock()
    private var enabled: Set<String> = []
    private var log: [String] = []
    /// ROM reads that fail with EIO, by device directory name.
    public var refuseROM: Set<String> = []
    /// Writes that fail with EACCES (not root).
    public var denyWrites = false

    /// Creates a kernel with nothing enabled.
    public init() {}

    /// Every write, as `<attribute path suffix> <- <text>`.
    public var writes: [String] { lock.withLock { log } }

    /// Whether the ROM of a device is switched on now.
    public func isROMEnabled(_ address: String) -> Bool { lock.withLock { enabled.contains(address) } }

    /// Serves `rom` only while enabled (else reads 0 bytes, as an unenabled ROM does); other files are read plainly.
    public func read(_ path: FilePath) throws -> [UInt8]? {
        if path.lastComponent?.string == "rom" {
            let device = path.removingLastComponent().lastComponent?.string ?? ""
            if lock.withLock({ refuseROM.contains(device) }) {
                throw DevicesError(code: .io, message: "cannot read \(path): \(Errno.ioError)", cause: Errno.ioError)
            }
            guard lock.withLock({ enabled.contains(device) }) else { return [] }
        }
        return try LiveHostIO().read(path)
    }

    /// Records the write and applies what the kernel would do.
    public func write(_ bytes: [UInt8], to path: FilePath) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        let name = path.lastComponent?.string ?? ""
        let device = path.removingLastComponent().lastComponent?.string ?? ""
        lock.withLock { log.append("\(device)/\(name) <- \(text)") }
        if denyWrites {
            throw DevicesError(
                code: .permissionDenied, message: "cannot write \(path): permission denied (run as root)",
                cause: Errno.permissionDenied)
        }
        if name == "rom" {
            lock.withLock {
                if text.hasPrefix("0") { enabled.remove(device) } else { enabled.insert(device) }
            }
        }
    }
}
