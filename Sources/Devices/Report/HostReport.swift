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
    /// - Throws: `DevicesError` (object `.target`) when nothing matches.
    public func devices(matching selector: DeviceSelector) throws -> [PCIDevice] {
        let found = devices.filter { selector.matches($0) }
        guard !found.isEmpty else {
            throw DevicesError(
                code: .notFound, message: "no PCI device matches \(selector) on this host",
                object: .target(selector.description))
        }
        return found
    }

    /// The devices a target names: one function by address, every function with an ID pair, or the Nth GPU's
    /// display function.
    /// - Throws: `DevicesError` (object `.target` or `.gpuIndex`) when nothing matches.
    public func devices(named target: BindTarget) throws -> [PCIDevice] {
        switch target {
        case .device(let selector):
            return try devices(matching: selector)
        case .gpu(let index):
            guard index <= gpus.count, let device = device(at: gpus[index - 1].address) else {
                throw DevicesError(
                    code: .notFound,
                    message: "there is no gpu:\(index): this host has \(gpus.count) GPU" + (gpus.count == 1 ? "" : "s"),
                    object: .gpuIndex(index))
            }
            return [device]
        }
    }

    /// The one device a target names.
    /// - Throws: `DevicesError` when it names nothing, or several functions (an ID pair of two cards).
    public func device(named target: BindTarget) throws -> PCIDevice {
        let found = try devices(named: target)
        guard found.count == 1 else {
            throw DevicesError(
                code: .invalidArgument,
                message:
                    "\(target) names \(found.count) devices (\(found.map(\.address.description).joined(separator: ", "))): "
                    + "give one address",
                object: .target(target.description))
        }
        return found[0]
    }
}
