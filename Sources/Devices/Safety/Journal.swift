import Glibc
import Synchronization
import SystemPackage

/// The last of SIGINT, SIGTERM or SIGHUP received (0: none).
private let pendingSignal = Atomic<Int32>(0)

/// Who moved a device to vfio-pci.
public enum BindingOwner: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A `bind` the user ran.
    case user
    /// The hook of this guest, at its start.
    case guest(String)

    /// `user`, or `guest NAME`.
    public var description: String {
        switch self {
        case .user: "user"
        case .guest(let name): "guest \(name)"
        }
    }
}

/// One write of a bind or an unbind, recorded before it is made and marked after.
public struct JournalStep: Sendable, Hashable, Codable {
    /// What the write does.
    public enum Action: String, Sendable, Hashable, Codable {
        /// `driver_override` set to vfio-pci.
        case setOverride
        /// The driver's `unbind`.
        case unbindDriver
        /// `drivers_probe`.
        case probe
        /// vfio-pci's `unbind` (on the way back).
        case unbindVFIO
        /// `driver_override` cleared.
        case clearOverride
        /// The original driver's `bind` or `drivers_probe` (on the way back).
        case rebind
    }

    /// The write.
    public var action: Action
    /// Whether it returned.
    public var done: Bool
}

/// A device vfioctl is moving or has moved, with what it had before.
public struct JournalRecord: Sendable, Hashable, Codable {
    /// Where the device is in its journey.
    public enum Phase: String, Sendable, Hashable, Codable {
        /// On its way to vfio-pci.
        case binding
        /// On vfio-pci.
        case bound
        /// On its way back.
        case unbinding
    }

    /// The function.
    public var address: PCIAddress
    /// The driver it had (nil: none).
    public var originalDriver: String?
    /// Who moved it.
    public var owner: BindingOwner
    /// Where it is.
    public var phase: Phase
    /// The writes of the current phase, in order.
    public var steps: [JournalStep]
    /// What went wrong on the way back, when it could not be returned.
    public var problem: String?
}

/// A change of a physical function's virtual functions, recorded before its first write and dropped when it is
/// done (or undone), so a killed run leaves what `recover` needs to put the old count back.
public struct SRIOVRecord: Sendable, Hashable, Codable {
    /// One write of the change.
    public enum Action: String, Sendable, Hashable, Codable {
        /// `sriov_drivers_autoprobe` set.
        case setAutoprobe
        /// `sriov_numvfs` set to 0 (the kernel takes no other change while VFs exist).
        case removeVFs
        /// `sriov_numvfs` set to the new count.
        case createVFs
    }

    /// A write and whether it returned.
    public struct Step: Sendable, Hashable, Codable {
        /// The write.
        public var action: Action
        /// Whether it returned.
        public var done: Bool
    }

    /// The physical function.
    public var physicalFunction: PCIAddress
    /// The count it had.
    public var originalVFs: Int
    /// `sriov_drivers_autoprobe` as it was; nil when the file is missing.
    public var originalAutoprobe: Bool?
    /// The count asked for.
    public var targetVFs: Int
    /// The writes, in order.
    public var steps: [Step]
}

/// vfioctl's write-ahead record under `/run/vfioctl`: every device it moved and every write it is making,
/// saved (fsync, rename) before the write happens, so a killed run leaves something `recover` can undo.
public struct Journal: Sendable, Hashable, Codable {
    /// The format version.
    public var version = 1
    /// The devices, by address.
    public var records: [JournalRecord] = []
    /// Changes of virtual function counts in progress, by physical function (absent in journals without any).
    public var sriov: [SRIOVRecord]?
    /// Mediated devices created for a guest whose definition does not name them yet, by UUID (absent in journals
    /// without any).
    public var mdevs: [MdevRecord]?

    /// The change in progress on a physical function.
    public func sriovRecord(_ address: PCIAddress) -> SRIOVRecord? {
        sriov?.first { $0.physicalFunction == address }
    }

    /// Replaces or adds a physical function's change.
    mutating func set(_ record: SRIOVRecord) {
        var list = (sriov ?? []).filter { $0.physicalFunction != record.physicalFunction }
        list.append(record)
        sriov = list.sorted { $0.physicalFunction < $1.physicalFunction }
    }

    /// Drops a physical function's change.
    mutating func removeSRIOV(_ address: PCIAddress) {
        let list = (sriov ?? []).filter { $0.physicalFunction != address }
        sriov = list.isEmpty ? nil : list
    }

    /// The record of a device.
    public func record(_ address: PCIAddress) -> JournalRecord? {
        records.first { $0.address == address }
    }

    /// Replaces or adds a device's record.
    mutating func set(_ record: JournalRecord) {
        records.removeAll { $0.address == record.address }
        records.append(record)
        records.sort { $0.address < $1.address }
    }

    /// Drops a device's record.
    mutating func remove(_ address: PCIAddress) {
        records.removeAll { $0.address == address }
    }

    /// Reads the journal; empty when there is none.
    /// - Throws: `DevicesError` naming the file when it is not a journal (it is never overwritten then).
    static func load(_ files: HostFiles) throws -> Journal {
        let path = files.path(HostPaths.journal)
        guard let bytes = try files.read(path) else { return Journal() }
        guard let journal = try? JSONCoding.decode(Journal.self, from: bytes), journal.version == 1 else {
            throw DevicesError(
                code: .invalidData,
                message: "\(files.hostPath(path)) is not a vfioctl journal (corrupt or from another version); "
                    + "nothing was changed: move it away once the devices it names are where they belong")
        }
        return journal
    }

    /// Writes the journal durably (temporary file, fsync, rename, fsync of the folder); removes it when empty.
    func save(_ files: HostFiles) throws {
        let path = files.path(HostPaths.journal)
        try StateDirectory.make(path.removingLastComponent())
        if records.isEmpty && (sriov ?? []).isEmpty && (mdevs ?? []).isEmpty {
            if path.withPlatformString({ unlink($0) }) != 0, Glibc.errno != ENOENT {
                throw DevicesError.write(path, Errno(rawValue: Glibc.errno))
            }
            return
        }
        try AtomicFile.write(JSONCoding.encode(self), to: path, mode: 0o600, backup: false)
    }
}

/// Signals that ask vfioctl to stop: a bind or a hook finishes its rollback first.
public enum Interruption {
    /// Catches SIGINT, SIGTERM and SIGHUP from now on (unblocking them: a parent may have started vfioctl with
    /// them blocked); the work in progress notices between two writes.
    public static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { received in
                pendingSignal.store(received, ordering: .relaxed)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
    }

    /// The signal received, if any.
    public static var signal: Int32? {
        let value = pendingSignal.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// Throws when a signal arrived, so the caller rolls back.
    static func check() throws {
        guard let signal else { return }
        throw DevicesError(
            code: .interrupted,
            message: "interrupted by \(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "SIGHUP")")
    }
}
