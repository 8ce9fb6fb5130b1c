import Glibc
import SystemPackage

extension HostPaths {
    /// `/etc/udev/rules.d/70-vfioctl-sriov.rules`: the virtual function counts `sriov --persist` restores at boot.
    public static let sriovRules = FilePath("/etc/udev/rules.d/70-vfioctl-sriov.rules")
}

/// A physical function whose virtual functions come back at boot.
public struct PersistedVirtualFunctions: Sendable, Hashable, Codable {
    /// The physical function.
    public var physicalFunction: PCIAddress
    /// How many.
    public var count: Int
    /// Whether host drivers may probe them.
    public var autoprobe: Bool
}

extension Host {
    /// The physical functions whose VF counts vfioctl's udev rule sets at boot.
    /// - Throws: `DevicesError` when the rule file is not vfioctl's.
    public func persistedVirtualFunctions() throws -> [PersistedVirtualFunctions] {
        guard let bytes = try files.read(files.path(HostPaths.sriovRules)) else { return [] }
        guard Host.isOwn(bytes) else {
            throw DevicesError(
                code: .conflict,
                message: "\(HostPaths.sriovRules) was not written by vfioctl; nothing was changed: move it away first")
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap(Self.parseSRIOVRule)
    }

    /// Makes `count` VFs of `address` come back at every boot (0: no longer), under the host lock, in one atomic
    /// write of vfioctl's udev rule file (which goes when no function is left in it).
    ///
    /// The rule matches the physical function's `bind` event: the kernel asks the function's driver to make VFs, so
    /// the driver must be bound first.
    /// - Returns: every function persisted afterwards, and whether the file changed.
    /// - Throws: `DevicesError` when the file is someone else's or cannot be written.
    public func persistVirtualFunctions(
        _ address: PCIAddress, count: Int, autoprobe: Bool, lockTimeout: Duration = .seconds(30)
    ) throws -> (persisted: [PersistedVirtualFunctions], changed: Bool) {
        try HostLock.withLock(files, timeout: lockTimeout) {
            var list = try persistedVirtualFunctions().filter { $0.physicalFunction != address }
            if count > 0 {
                list.append(PersistedVirtualFunctions(physicalFunction: address, count: count, autoprobe: autoprobe))
            }
            return (list.sorted { $0.physicalFunction < $1.physicalFunction }, try writeSRIOVRules(list))
        }
    }

    /// Takes physical functions out of vfioctl's udev rule file (all of them when `addresses` is empty).
    /// - Returns: the functions taken out.
    /// - Throws: `DevicesError` when the file is someone else's or cannot be written.
    public func removeVirtualFunctionPersistence(_ addresses: [PCIAddress], lockTimeout: Duration = .seconds(30))
        throws -> [PCIAddress]
    {
        try HostLock.withLock(files, timeout: lockTimeout) {
            let list = try persistedVirtualFunctions()
            let gone = list.filter { addresses.isEmpty || addresses.contains($0.physicalFunction) }
            guard !gone.isEmpty else { return [] }
            _ = try writeSRIOVRules(list.filter { !gone.contains($0) })
            return gone.map(\.physicalFunction)
        }
    }

    private func writeSRIOVRules(_ list: [PersistedVirtualFunctions]) throws -> Bool {
        let path = files.path(HostPaths.sriovRules)
        if list.isEmpty {
            guard files.unlink(path) == 0 else {
                let error = Errno(rawValue: errno)
                if error == .noSuchFileOrDirectory { return false }
                throw DevicesError.write(path, error)
            }
            return true
        }
        var lines = [
            Host.ownHeader + " (SR-IOV virtual functions; `vfioctl persist --remove` takes them out)"
        ]
        for entry in list.sorted(by: { $0.physicalFunction < $1.physicalFunction }) {
            lines.append(
                "ACTION==\"bind\", SUBSYSTEM==\"pci\", KERNEL==\"\(entry.physicalFunction)\", "
                    + "ATTR{sriov_drivers_autoprobe}=\"\(entry.autoprobe ? 1 : 0)\", "
                    + "ATTR{sriov_numvfs}=\"\(entry.count)\"")
        }
        let outcome = try AtomicFile.write(
            Array((lines.joined(separator: "\n") + "\n").utf8), to: path, mode: 0o644, backup: false,
            within: files.sysroot)
        return !outcome.unchanged
    }

    static func parseSRIOVRule(_ line: Substring) -> PersistedVirtualFunctions? {
        func value(_ key: String) -> String? {
            guard let start = line.firstRange(of: key + "\"") else { return nil }
            let rest = line[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            return String(rest[..<end])
        }
        guard !line.hasPrefix("#"), let address = value("KERNEL==").flatMap(PCIAddress.init),
            let count = value("ATTR{sriov_numvfs}=").flatMap({ Int($0) })
        else { return nil }
        return PersistedVirtualFunctions(
            physicalFunction: address, count: count, autoprobe: value("ATTR{sriov_drivers_autoprobe}=") != "0")
    }
}

extension Host {
    /// The functions `persist` binds to vfio-pci at boot.
    /// - Throws: `DevicesError` when vfioctl's state file cannot be read.
    public func persistedFunctionAddresses() throws -> [PCIAddress] {
        (try PersistState.load(files)?.functions ?? PersistState.imported(files)).map(\.address)
    }
}
