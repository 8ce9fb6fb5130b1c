import SystemPackage

extension HostPaths {
    /// `/etc/vfioctl/persist.json`: the functions `persist` makes vfio-pci take at boot, and what its files held
    /// before vfioctl first wrote them.
    public static let persistState = FilePath("/etc/vfioctl/persist.json")
}

/// What `persist` records so that every later `persist` and `--remove` recomputes its files from the whole set,
/// and so that a full removal leaves every file as it was before vfioctl first touched it.
struct PersistState: Codable, Equatable {
    /// What one file held before vfioctl first wrote it.
    struct Original: Codable, Equatable {
        /// The file, as the host names it.
        var path: String
        /// Whether it existed.
        var existed: Bool
        /// The user's content of a file at one of vfioctl's own paths (nil for a file that keeps its own lines
        /// around vfioctl's block, and for a file that did not exist).
        var content: String?
    }

    /// The format's version.
    var version = 1
    /// Every persisted function, in address order.
    var functions: [PersistedFunction] = []
    /// The files vfioctl has written, as they were before.
    var originals: [Original] = []
    /// Folders vfioctl created for its files (removed again when they are empty), as the host names them.
    var createdDirectories: [String] = []

    /// The recorded state, or nil when nothing is persisted.
    /// - Throws: `DevicesError` when the file cannot be read or parsed.
    static func load(_ files: HostFiles) throws -> PersistState? {
        guard let bytes = try files.read(files.path(HostPaths.persistState)) else { return nil }
        do {
            return try JSONCoding.decode(PersistState.self, from: bytes)
        } catch {
            throw DevicesError(
                code: .invalidData,
                message: "cannot parse \(HostPaths.persistState): it records what persist changed; restore or fix it")
        }
    }

    /// The functions an earlier version of vfioctl persisted without a state file, read back from the files it
    /// wrote: the `#   <address> <vendor:device>` lines of its modprobe.d file, by address when its udev rule names
    /// them, each with every softdep the file has.
    static func imported(_ files: HostFiles) -> [PersistedFunction] {
        func own(_ path: FilePath) -> [Substring] {
            guard let bytes = try? files.read(files.path(path)), Host.isOwn(bytes) else { return [] }
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        }
        let modprobe = own(HostPaths.modprobeConfig.appending("vfioctl.conf"))
        let rule = own(HostPaths.udevRules.appending("80-vfioctl.rules"))
        let softdeps = modprobe.compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard words.count == 4, words[0] == "softdep", words[2] == "pre:", words[3] == "vfio-pci" else {
                return nil
            }
            return String(words[1])
        }
        return modprobe.compactMap { line -> PersistedFunction? in
            let words = line.split(separator: " ")
            guard words.count >= 3, words[0] == "#", let address = PCIAddress(String(words[1])),
                case .ids(let vendor, let device)? = DeviceSelector(String(words[2]))
            else { return nil }
            let byAddress = rule.contains { $0.contains("KERNEL==\"\(address)\"") }
            return PersistedFunction(
                address: address, vendor: vendor, device: device, method: byAddress ? .override : .ids,
                softdeps: Host.ordered(Set(softdeps)))
        }
        .sorted { $0.address < $1.address }
    }

    /// The state as its file holds it.
    func encoded() throws -> String {
        String(decoding: try JSONCoding.encode(self), as: UTF8.self) + "\n"
    }
}
