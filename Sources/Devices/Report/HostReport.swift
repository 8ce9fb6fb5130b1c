/// What vfioctl knows about a host: IOMMU state, PCI devices, groups and GPUs.
public struct HostReport: Sendable, Codable, Hashable {
    /// The IOMMU state and advice.
    public var iommu: IOMMUStatus
    /// The running kernel's release, when known.
    public var kernelRelease: String?
    /// The viability rule applied to groups.
    public var viabilityRule: ViabilityRule
    /// Every PCI function, by address.
    public var devices: [PCIDevice]
    /// Every IOMMU group, by number.
    public var groups: [IOMMUGroup]
    /// Every display device.
    public var gpus: [GPU]
    /// Things that went wrong while reading the host, each naming a path.
    public var warnings: [String]

    /// The device at `address`.
    public func device(at address: PCIAddress) -> PCIDevice? {
        devices.first { $0.address == address }
    }

    /// The group with number `id`.
    public func group(_ id: Int) -> IOMMUGroup? {
        groups.first { $0.id == id }
    }

    /// The devices a selector names.
    /// - Throws: `DevicesError` when nothing matches.
    public func devices(matching selector: DeviceSelector) throws -> [PCIDevice] {
        let found = devices.filter { selector.matches($0) }
        guard !found.isEmpty else {
            throw DevicesError(
                code: .notFound,
                message: "no PCI device matches \(selector): `vfioctl list` shows the devices of this host")
        }
        return found
    }
}
