import SystemPackage

extension HostPaths {
    /// `/sys/bus/mdev/devices`: one link per mediated device, by UUID.
    public static let mdevDevices = FilePath("/sys/bus/mdev/devices")
}

extension MdevUUID {
    /// A random (version 4) UUID, lowercase.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let digits = bytes.map { hex($0, width: 2) }
        return [digits[0..<4], digits[4..<6], digits[6..<8], digits[8..<10], digits[10..<16]]
            .map { $0.joined() }.joined(separator: "-")
    }
}

extension Host {
    /// Creates a mediated device of `type` on `parent` through sysfs, under the host lock.
    ///
    /// The UUID is written to `mdev_supported_types/<type>/create`. One write makes it, so there is nothing
    /// half-done to journal; it lasts until the next boot.
    /// - Parameters:
    ///   - parent: the parent function (a GVT-g iGPU, an NVIDIA card on a vGPU driver).
    ///   - type: the type ID (`i915-GVTg_V5_4`, `nvidia-259`).
    ///   - uuid: its UUID; nil for a random one.
    ///   - io: the kernel-attribute access.
    ///   - lockTimeout: how long to wait for another vfioctl.
    /// - Returns: the new device as sysfs shows it.
    /// - Throws: `DevicesError` for an unknown parent or type, a type with no instance left, a UUID that is taken or
    ///   malformed, or a write the kernel refuses.
    public func createMdev(
        parent: PCIAddress, type: String, uuid: String? = nil, io: (any HostIO)? = nil,
        lockTimeout: Duration = .seconds(30)
    ) throws -> MediatedDevice {
        let io = io ?? self.io
        let uuid = (uuid ?? MdevUUID.random()).lowercased()
        guard MdevUUID.isValid(uuid) else {
            throw DevicesError(
                code: .invalidArgument,
                message: "'\(uuid)' is not a UUID (8-4-4-4-12 hex digits, like 4b20d080-1b54-4048-85b3-a6a62d165c01)")
        }
        return try HostLock.withLock(files, timeout: lockTimeout) {
            let report = try report()
            guard let device = report.device(at: parent) else {
                throw DevicesError(
                    code: .notFound, message: "no PCI device \(parent) on this host",
                    object: .target(parent.description))
            }
            let types = device.sharing?.mdevTypes ?? []
            guard let found = types.first(where: { $0.id == type }) else {
                throw DevicesError(
                    code: .notFound,
                    message: types.isEmpty
                        ? "\(parent) offers no mediated device types (no mdev_supported_types: is its vGPU or GVT-g "
                            + "driver loaded?)"
                        : "\(parent) offers no mdev type \(type); it offers "
                            + types.map(\.id).joined(separator: ", "))
            }
            if let taken = report.devices.flatMap({ $0.sharing?.mediatedDevices ?? [] }).first(where: {
                $0.uuid == uuid
            }) {
                throw DevicesError(
                    code: .conflict, message: "mediated device \(uuid) already exists on \(taken.parent)")
            }
            guard (found.availableInstances ?? 1) > 0 else {
                throw DevicesError(
                    code: .conflict,
                    message: "\(parent) has no \(type) instance left (available_instances is 0): remove one first")
            }
            let create = HostPaths.pciDevices.appending(parent.description).appending("mdev_supported_types")
                .appending(type).appending("create")
            try io.write(uuid, to: files.path(create))
            let dir = files.path(HostPaths.pciDevices.appending(parent.description).appending(uuid))
            return MediatedDevice(
                uuid: uuid, parent: parent, type: files.linkName(dir.appending("mdev_type")) ?? type,
                iommuGroup: files.linkName(dir.appending("iommu_group")).flatMap { Int($0) }, guest: nil)
        }
    }

    /// Removes a mediated device through sysfs (`<uuid>/remove`), under the host lock.
    /// - Parameters:
    ///   - uuid: the device.
    ///   - io: the kernel-attribute access.
    ///   - lockTimeout: how long to wait for another vfioctl.
    /// - Returns: the device that went.
    /// - Throws: `GuardFailure` while a running guest uses it or a process holds its group; `DevicesError` when
    ///   there is no such device or the kernel refuses.
    public func removeMdev(_ uuid: String, io: (any HostIO)? = nil, lockTimeout: Duration = .seconds(30)) throws
        -> MediatedDevice
    {
        let io = io ?? self.io
        let uuid = uuid.lowercased()
        return try HostLock.withLock(files, timeout: lockTimeout) {
            let report = try report()
            guard
                let mdev = report.devices.flatMap({ $0.sharing?.mediatedDevices ?? [] }).first(where: {
                    $0.uuid == uuid
                })
            else {
                throw DevicesError(
                    code: .notFound,
                    message: "no mediated device \(uuid): `vfioctl show` on its parent lists the ones that exist")
            }
            let holders =
                try mdev.iommuGroup.map {
                    try ProcessTable(files: files).holders(of: [HostPaths.vfioDevices.appending(String($0)).string])
                } ?? []
            if mdev.guest != nil || !holders.isEmpty {
                throw GuardFailure(refusals: [
                    GuardRefusal(
                        device: mdev.parent,
                        reason: .mediatedDeviceInUse(uuid: uuid, guest: mdev.guest, holders: holders))
                ])
            }
            try io.write(
                "1",
                to: files.path(
                    HostPaths.pciDevices.appending(mdev.parent.description).appending(uuid).appending("remove")))
            return mdev
        }
    }
}
