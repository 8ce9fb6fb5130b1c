/// An IOMMU group: the smallest set of devices the IOMMU can isolate, and whether vfio can own it.
public struct IOMMUGroup: Sendable, Codable, Hashable {
    /// A device that keeps the group from being handed to vfio.
    public struct Blocker: Sendable, Codable, Hashable {
        /// The device's address (or sysfs name, for non-PCI members).
        public var address: String
        /// Its driver, or nil.
        public var driver: String?
        /// Why it blocks the group and what to do.
        public var reason: String
    }

    /// The group number (`/sys/kernel/iommu_groups/<id>`).
    public var id: Int
    /// Whether vfio may own the group now: every member is acceptable under the running kernel's rule.
    public var viable: Bool
    /// The members, as sysfs names them.
    public var devices: [String]
    /// The members that make the group not viable.
    public var blockers: [Blocker]
    /// What would make the group viable, one line each.
    public var advice: [String]
    /// The distinct slots (`DDDD:BB:DD`) of the group's endpoints.
    public var slots: [String]
}

/// The kernel's rule for handing an IOMMU group to vfio.
public enum ViabilityRule: String, Sendable, Codable {
    /// Linux 5.19 and later: every device is driverless or bound to a driver that declares
    /// `driver_managed_dma` (vfio-pci and its variants, pci-stub, pcieport).
    case dmaOwnership = "dma-ownership"
    /// Before 5.19: every device is driverless, on vfio or pci-stub, or a bridge (header type ≠ 0).
    case legacy = "legacy"

    /// The rule of a kernel release; the modern one when the release is unknown.
    public init(kernel: KernelVersion?) {
        if let kernel, kernel < .dmaOwnership {
            self = .legacy
        } else {
            self = .dmaOwnership
        }
    }

    /// Whether a driver is one vfio accepts in a group under this rule (nil is always accepted).
    public func accepts(driver: String?, isBridge: Bool) -> Bool {
        guard let driver else { return true }
        if ViabilityRule.isVFIODriver(driver) || driver == "pci-stub" { return true }
        switch self {
        case .dmaOwnership: return driver == "pcieport"
        case .legacy: return isBridge
        }
    }

    /// vfio-pci and its vendor variants (`mlx5_vfio_pci`, `hisi_acc_vfio_pci`, …).
    public static func isVFIODriver(_ driver: String?) -> Bool {
        guard let driver else { return false }
        return driver == "vfio-pci" || driver.hasPrefix("vfio") || driver.hasSuffix("vfio_pci")
    }
}

/// Builds groups from `/sys/kernel/iommu_groups` and judges them.
struct GroupBuilder {
    let files: HostFiles
    let rule: ViabilityRule

    /// Reads every group's member list, sorted by group number.
    /// - Throws: `DevicesError` when the groups directory exists but cannot be read.
    func members() throws -> [(id: Int, devices: [String])] {
        let root = files.path(HostPaths.iommuGroups)
        guard let entries = try files.list(root) else { return [] }
        var groups: [(id: Int, devices: [String])] = []
        for entry in entries {
            guard let id = Int(entry) else { continue }
            let devices = try files.list(root.appending(entry).appending("devices")) ?? []
            groups.append((id, devices))
        }
        return groups.sorted { $0.id < $1.id }
    }

    /// Judges each group with the devices it holds.
    func judge(_ members: [(id: Int, devices: [String])], devices: [PCIAddress: PCIDevice]) -> [IOMMUGroup] {
        members.map { member in
            var blockers: [IOMMUGroup.Blocker] = []
            var endpointBlockers: [PCIDevice] = []
            var bridgeBlockers: [PCIDevice] = []
            var endpoints: [PCIDevice] = []
            for name in member.devices {
                // A mediated device's group is made by its vendor driver, which vfio owns through the mdev bus.
                if MdevUUID.isValid(name) { continue }
                guard let address = PCIAddress(name), let device = devices[address] else {
                    blockers.append(
                        .init(
                            address: name, driver: nil,
                            reason: "not a PCI function vfioctl could read; the kernel decides for it"))
                    continue
                }
                if !device.isBridge { endpoints.append(device) }
                guard !rule.accepts(driver: device.driver, isBridge: device.isBridge) else { continue }
                let driver = device.driver ?? "none"
                if device.isBridge {
                    bridgeBlockers.append(device)
                    blockers.append(
                        .init(
                            address: name, driver: device.driver,
                            reason: "bridge bound to \(driver), which does not let vfio own the group's DMA; "
                                + "unbind it (a bridge may stay driverless)"))
                } else {
                    endpointBlockers.append(device)
                    blockers.append(
                        .init(
                            address: name, driver: device.driver,
                            reason: "bound to \(driver); it must go to vfio-pci with the rest of the group"))
                }
            }
            let slots = Array(Set(endpoints.map { slotName($0.address) })).sorted()
            var advice: [String] = []
            let chipset = endpoints.filter { $0.pciClass.isChipsetFunction }
            if !blockers.isEmpty {
                if !chipset.isEmpty && slots.count > 1 {
                    let names = chipset.prefix(3).map { "\($0.address) (\($0.className ?? $0.class))" }
                        .joined(separator: ", ")
                    advice.append(
                        "this group shares its slot with the chipset (\(names)): a card here cannot be passed "
                            + "through; move it to a slot with its own group")
                } else if !endpointBlockers.isEmpty {
                    let list = endpointBlockers.map(\.address.description).joined(separator: " ")
                    advice.append(
                        "bind \(endpointBlockers.count) function\(endpointBlockers.count == 1 ? "" : "s") to "
                            + "vfio-pci: \(list)")
                }
                for bridge in bridgeBlockers {
                    advice.append("unbind \(bridge.driver ?? "its driver") from bridge \(bridge.address)")
                }
            }
            return IOMMUGroup(
                id: member.id, viable: blockers.isEmpty, devices: member.devices, blockers: blockers, advice: advice,
                slots: slots)
        }
    }

    private func slotName(_ address: PCIAddress) -> String {
        let text = address.description
        return String(text.prefix(text.count - 2))
    }
}
