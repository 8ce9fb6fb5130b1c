import Devices
import Foundation
import SystemPackage

/// What `FakeKernel` throws to stand for a SIGKILL: nothing in vfioctl catches it, so nothing is rolled back.
public struct Killed: Error {}

/// Plays the kernel's part for `HostIO` on a fake host tree.
///
/// A `rom` attribute serves the ROM bytes only while enabled. Driver attributes behave as the PCI core's do:
/// `driver_override`, a driver's `unbind` and `bind`, `drivers_probe` (which binds the override, else the driver
/// the device had when the kernel was created), `/dev/vfio/<group>` appearing and going with vfio-pci, and
/// `modprobe` creating `/sys/module/<name>` (and `/sys/bus/pci/drivers/vfio-pci` for vfio-pci). It refuses what the
/// kernel refuses: a `bind` to a driver that is not loaded (no `drivers/<name>` folder: ENOENT), and vfio-pci taking
/// a device whose `driver_override` does not name it (vfio-pci has no IDs of its own: ENODEV). Every write is
/// recorded, in `writes` and in `events` (shared with `FakeCommands` when a test passes one `EventLog` to both);
/// tests tell it to fail like a kernel does.
public final class FakeKernel: HostIO, @unchecked Sendable {
    let lock = NSLock()
    private var enabled: Set<String> = []
    private var log: [String] = []
    let root: String?
    var natural: [String: String] = [:]
    /// ROM reads that fail with EIO, by device address.
    public var refuseROM: Set<String> = []
    /// Writes that fail with EACCES (not root).
    public var denyWrites = false
    /// Devices whose `driver_override` refuses writes.
    public var refuseOverride: Set<String> = []
    /// Devices whose driver's `unbind` hangs (the write times out).
    public var hangUnbind: Set<String> = []
    /// Devices vfio-pci refuses to probe.
    public var refuseVFIO: Set<String> = []
    /// After this many more writes the next write "kills" vfioctl: it throws `Killed`, which no rollback catches,
    /// leaving the host and the journal exactly as a SIGKILL at that moment would.
    public var killAfterWrites: Int?
    /// Called before every write (tests use it to start a concurrent run while this one holds the lock).
    public var beforeWrite: (@Sendable (FilePath) -> Void)?
    /// Physical functions whose driver fails to make virtual functions (EIO).
    public var refuseSRIOV: Set<String> = []
    /// Block devices (`sda1`) the kernel has claimed: an `O_EXCL` open fails with EBUSY.
    public var claimedBlockDevices: Set<String> = []

    /// Every write and module load in order, with the commands of a `FakeCommands` that shares it.
    public let events: EventLog

    /// Creates a kernel for ROM tests only.
    public init() {
        root = nil
        events = EventLog()
    }

    /// Creates the kernel of a fake host: each device's current driver is the one it probes to naturally.
    public init(host: FakeHost, events: EventLog = EventLog()) throws {
        root = host.root
        self.events = events
        let devices = host.path("/sys/bus/pci/devices")
        for address in try FileManager.default.contentsOfDirectory(atPath: devices) {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(devices)/\(address)/driver") {
                natural[address] = (target as NSString).lastPathComponent
            }
        }
    }

    /// Every write, as `<device or driver>/<attribute> <- <text>`, and `modprobe NAME`.
    public var writes: [String] { lock.withLock { log } }

    /// Whether the ROM of a device is switched on now.
    public func isROMEnabled(_ address: String) -> Bool { lock.withLock { enabled.contains(address) } }

    /// Serves `rom` only while enabled (else reads 0 bytes); other files are read plainly.
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

    /// A hanging unbind is reported as the live implementation reports it.
    public func write(_ bytes: [UInt8], to path: FilePath, timeout: Duration) throws {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if path.lastComponent?.string == "unbind", lock.withLock({ hangUnbind.contains(text) }) {
            lock.withLock {
                log.append("\(path.removingLastComponent().lastComponent?.string ?? "")/unbind <- \(text) (hung)")
            }
            throw DevicesError(code: .timeout, message: "writing \(text) to \(path) did not return within \(timeout)")
        }
        try write(bytes, to: path)
    }

    /// Claimed when named in `claimedBlockDevices`, free otherwise.
    public func isClaimed(blockDevice node: FilePath) -> Bool? {
        lock.withLock { claimedBlockDevices.contains(node.lastComponent?.string ?? "") }
    }

    /// Creates `/sys/module/<name>`.
    public func loadModule(_ name: String) throws {
        lock.withLock { log.append("modprobe \(name)") }
        events.append("modprobe \(name)")
        guard let root else { return }
        let module = name.replacingOccurrences(of: "-", with: "_")
        try FileManager.default.createDirectory(
            atPath: root + "/sys/module/" + module, withIntermediateDirectories: true)
        if module == "vfio_pci" {
            try FileManager.default.createDirectory(
                atPath: root + "/sys/bus/pci/drivers/vfio-pci", withIntermediateDirectories: true)
        }
    }

    /// Records the write and applies what the kernel would do.
    public func write(_ bytes: [UInt8], to path: FilePath) throws {
        let hook = lock.withLock { beforeWrite }
        hook?(path)
        let killed = lock.withLock { () -> Bool in
            guard let left = killAfterWrites else { return false }
            if left == 0 { return true }
            killAfterWrites = left - 1
            return false
        }
        if killed { throw Killed() }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let name = path.lastComponent?.string ?? ""
        let owner = path.removingLastComponent().lastComponent?.string ?? ""
        lock.withLock { log.append("\(owner)/\(name) <- \(text)") }
        events.append("write \(owner)/\(name) <- \(text)")
        if denyWrites { throw error(path, .permissionDenied) }
        // Framebuffer drivers only record the write; a virtual console keeps the value.
        if path.string.contains("/bus/platform/") { return }
        if path.string.contains("/class/vtconsole/") {
            try (text + "\n").write(toFile: path.string, atomically: false, encoding: .utf8)
            return
        }
        if name == "nr_hugepages", let wanted = Int(text) {
            try reserveHugepages(wanted, at: path)
            return
        }
        switch name {
        case "rom":
            lock.withLock {
                if text.hasPrefix("0") { enabled.remove(owner) } else { enabled.insert(owner) }
            }
        case "driver_override":
            if lock.withLock({ refuseOverride.contains(owner) }) { throw error(path, .invalidArgument) }
            try (text.isEmpty ? "(null)\n" : text + "\n").write(toFile: path.string, atomically: false, encoding: .utf8)
        case "unbind":
            try unbind(text, from: owner)
        case "bind":
            try bind(text, to: owner, path: path)
        case "drivers_probe":
            try probe(text)
        case "sriov_numvfs":
            try setVirtualFunctions(text, physicalFunction: owner, path: path)
        case "create" where path.string.contains("/mdev_supported_types/"):
            try createMdev(text, type: path.removingLastComponent())
        case "remove" where MdevUUID.isValid(owner):
            try removeMdev(at: path.removingLastComponent())
        case "sriov_drivers_autoprobe":
            try (text + "\n").write(toFile: path.string, atomically: false, encoding: .utf8)
        default:
            break
        }
    }

    /// The most hugepages the fake kernel can find (memory too fragmented for more); nil for no limit.
    public var hugepageLimit: Int?

    /// Sets `nr_hugepages` (capped by `hugepageLimit`) and moves `free_hugepages` by the same amount.
    private func reserveHugepages(_ wanted: Int, at path: FilePath) throws {
        let countFile = path.string
        let freeFile = path.removingLastComponent().appending("free_hugepages").string
        let current =
            Int(
                (try? String(contentsOfFile: countFile, encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines) ?? "") ?? 0
        let free =
            Int(
                (try? String(contentsOfFile: freeFile, encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines) ?? "") ?? 0
        let granted = min(wanted, lock.withLock { hugepageLimit } ?? wanted)
        try "\(granted)\n".write(toFile: countFile, atomically: false, encoding: .utf8)
        try "\(max(0, free + granted - current))\n".write(toFile: freeFile, atomically: false, encoding: .utf8)
    }

    func device(_ address: String) -> String { (root ?? "") + "/sys/bus/pci/devices/" + address }

    func driverOf(_ address: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: device(address) + "/driver"))
            .map { ($0 as NSString).lastPathComponent }
    }

    private func override(_ address: String) -> String? {
        let text = (try? String(contentsOfFile: device(address) + "/driver_override", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return text == "(null)" || text?.isEmpty == true ? nil : text
    }

    private func group(_ address: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: device(address) + "/iommu_group"))
            .map { ($0 as NSString).lastPathComponent }
    }

    func unbind(_ address: String, from driver: String) throws {
        guard driverOf(address) == driver else {
            throw error(FilePath(device(address)), .operationNotSupportedByDevice)
        }
        try FileManager.default.removeItem(atPath: device(address) + "/driver")
        try? FileManager.default.removeItem(atPath: (root ?? "") + "/sys/bus/pci/drivers/\(driver)/\(address)")
        if driver == "vfio-pci", let group = group(address) {
            let members =
                (try? FileManager.default.contentsOfDirectory(
                    atPath: (root ?? "") + "/sys/kernel/iommu_groups/\(group)/devices")) ?? []
            if !members.contains(where: { driverOf($0) == "vfio-pci" }) {
                try? FileManager.default.removeItem(atPath: (root ?? "") + "/dev/vfio/\(group)")
            }
        }
    }

    func bind(_ address: String, to driver: String, path: FilePath) throws {
        let driverDir = (root ?? "") + "/sys/bus/pci/drivers/\(driver)"
        // An unloaded driver has no folder, so there is no `bind` file to open.
        guard FileManager.default.fileExists(atPath: driverDir) else { throw error(path, .noSuchFileOrDirectory) }
        guard driverOf(address) == nil else { throw error(path, .resourceBusy) }
        if let override = override(address), override != driver { throw error(path, .operationNotSupportedByDevice) }
        // vfio-pci matches no device by ID: only an override naming it lets it probe.
        if driver == "vfio-pci" && override(address) != "vfio-pci" { throw error(path, .operationNotSupportedByDevice) }
        if driver == "vfio-pci" && lock.withLock({ refuseVFIO.contains(address) }) {
            throw error(path, .invalidArgument)
        }
        let deviceLink = URL(fileURLWithPath: device(address)).resolvingSymlinksInPath().path + "/driver"
        try FileManager.default.createSymbolicLink(
            atPath: deviceLink, withDestinationPath: relativeLink(from: deviceLink, to: driverDir))
        try? FileManager.default.createSymbolicLink(
            atPath: driverDir + "/" + address,
            withDestinationPath: relativeLink(
                from: driverDir + "/" + address,
                to: URL(fileURLWithPath: device(address)).resolvingSymlinksInPath().path))
        if driver == "vfio-pci", let group = group(address) {
            try FileManager.default.createDirectory(
                atPath: (root ?? "") + "/dev/vfio", withIntermediateDirectories: true)
            let node = (root ?? "") + "/dev/vfio/\(group)"
            guard FileManager.default.createFile(atPath: node, contents: Data()) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: node])
            }
        }
    }

    private func probe(_ address: String) throws {
        guard driverOf(address) == nil else { return }
        let candidate = override(address) ?? natural[address]
        guard let candidate else { return }
        // A driver that is not loaded takes nothing; the probe itself succeeds.
        if !FileManager.default.fileExists(atPath: (root ?? "") + "/sys/bus/pci/drivers/\(candidate)") { return }
        if candidate == "vfio-pci" && lock.withLock({ refuseVFIO.contains(address) }) { return }
        try bind(address, to: candidate, path: FilePath((root ?? "") + "/sys/bus/pci/drivers_probe"))
    }

    func error(_ path: FilePath, _ errno: Errno) -> DevicesError {
        DevicesError.write(path, errno)
    }
}
