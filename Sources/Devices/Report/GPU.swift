/// A GPU and what it takes to pass it through.
public struct GPU: Sendable, Codable, Hashable {
    /// One of the GPU's other functions in the same slot.
    public struct Companion: Sendable, Codable, Hashable {
        /// The function's address.
        public var address: PCIAddress
        /// `audio`, `usb`, `ucsi`, or the class name.
        public var role: String
        /// Its driver, or nil.
        public var driver: String?
    }

    /// How the GPU can be split between guests instead of given away whole.
    public struct Shareable: Sendable, Codable, Hashable {
        /// SR-IOV virtual functions the GPU offers (`sriov_totalvfs`).
        public var virtualFunctions: Int
        /// Mediated devices: those that exist plus those that can still be created, over every type.
        public var mdevInstances: Int
        /// NVIDIA vGPU types its virtual functions offer.
        public var vgpuTypes: Int
    }

    /// Passthrough readiness.
    public enum Status: String, Sendable, Codable {
        /// Every function is on vfio-pci and the group is viable.
        case ready
        /// Binding the listed functions to vfio-pci makes it usable.
        case needsBinding = "needs binding"
        /// It cannot be passed through as things are (IOMMU off, group shared with the chipset).
        case blocked
        /// The host displays on it: passing it needs the single-GPU steps.
        case bootGPU = "boot GPU"
    }

    /// The display function's address.
    public var address: PCIAddress
    /// `amd`, `intel`, `nvidia` or `other`.
    public var vendor: String
    /// Name from pci.ids.
    public var name: String?
    /// Every function of the card, the display function first.
    public var functions: [PCIAddress]
    /// The other functions with their roles.
    public var companions: [Companion]
    /// The host's boot display.
    public var isBootVGA: Bool
    /// Part of the CPU or chipset rather than a card.
    public var isIntegrated: Bool
    /// The display function's IOMMU group.
    public var iommuGroup: Int?
    /// The display function's driver.
    public var driver: String?
    /// Readiness.
    public var status: Status
    /// Why, one line each.
    public var reasons: [String]
    /// Reset behaviour, one line each.
    public var reset: [String]
    /// How it can be shared; nil when it offers neither SR-IOV nor mediated devices.
    public var shareable: Shareable?
    /// An Intel integrated GPU's driver and module options as they are in effect; nil for other GPUs.
    public var intel: IntelGraphics?
}

/// Finds the GPUs among a host's devices and judges them.
struct GPUAnalyzer {
    let devices: [PCIDevice]
    let groups: [Int: IOMMUGroup]
    let iommuEnabled: Bool
    private let bySlot: [PCIAddress: [PCIDevice]]
    private let byAddress: [PCIAddress: PCIDevice]

    init(devices: [PCIDevice], groups: [Int: IOMMUGroup], iommuEnabled: Bool) {
        self.devices = devices
        self.groups = groups
        self.iommuEnabled = iommuEnabled
        var bySlot: [PCIAddress: [PCIDevice]] = [:]
        var byAddress: [PCIAddress: PCIDevice] = [:]
        for device in devices {
            bySlot[device.address.slot, default: []].append(device)
            byAddress[device.address] = device
        }
        self.bySlot = bySlot
        self.byAddress = byAddress
    }

    func gpus() -> [GPU] {
        devices.filter { $0.pciClass.isDisplay }.map(analyze)
    }

    static func vendorName(_ vendor: UInt16) -> String {
        switch vendor {
        case 0x1002: "amd"
        case 0x8086: "intel"
        case 0x10DE: "nvidia"
        default: "other"
        }
    }

    static func role(of device: PCIDevice) -> String {
        let pciClass = device.pciClass
        if pciClass.isHDAudio || pciClass.isMultimedia { return "audio" }
        if pciClass.isUSBController { return "usb" }
        if pciClass.isSerialBusOther { return "ucsi" }
        if pciClass.isDisplay { return "display" }
        return device.className ?? pciClass.description
    }

    private func analyze(_ gpu: PCIDevice) -> GPU {
        let siblings = (bySlot[gpu.address.slot] ?? []).filter { $0.address != gpu.address }
        let companions = siblings.map { GPU.Companion(address: $0.address, role: Self.role(of: $0), driver: $0.driver) }
        let functions = [gpu] + siblings
        let vendor = Self.vendorName(gpu.vendor)
        let isIntegrated =
            gpu.pcieType == "root complex integrated endpoint" || (gpu.address.bus == 0 && vendor == "intel")
        var reasons: [String] = []
        var status = GPU.Status.ready

        func worsen(_ next: GPU.Status) {
            let rank: [GPU.Status: Int] = [.ready: 0, .needsBinding: 1, .blocked: 2, .bootGPU: 3]
            if (rank[next] ?? 0) > (rank[status] ?? 0) { status = next }
        }

        if gpu.isBootVGA {
            worsen(.bootGPU)
            reasons.append(
                "the host boots and displays on this GPU (boot_vga=1): passing it through needs the single-GPU steps "
                    + "(stop the display manager, release the framebuffer), or give the host another GPU")
        }
        if !iommuEnabled {
            worsen(.blocked)
            reasons.append("the IOMMU is off: see the IOMMU advice")
        } else if let id = gpu.iommuGroup, let group = groups[id] {
            let others = group.devices.compactMap { PCIAddress($0).flatMap { byAddress[$0] } }.filter {
                !$0.address.sharesSlot(with: gpu.address) && !$0.isBridge
            }
            let chipset = others.filter { $0.pciClass.isChipsetFunction }
            if !chipset.isEmpty {
                worsen(.blocked)
                let names = chipset.prefix(3).map { "\($0.address) (\($0.className ?? $0.class))" }
                    .joined(separator: ", ")
                reasons.append(
                    "IOMMU group \(id) also holds chipset devices \(names): this slot shares a group with the chipset; "
                        + "move the card to another slot")
            } else if !others.isEmpty {
                let names = others.map { "\($0.address) (\($0.className ?? $0.class), \($0.driver ?? "no driver"))" }
                    .joined(separator: ", ")
                reasons.append(
                    "IOMMU group \(id) also holds \(names): they go to the guest too (bind the whole group), "
                        + "or move the card to another slot")
            }
            for blocker in group.blockers {
                guard let address = PCIAddress(blocker.address), let device = byAddress[address], device.isBridge
                else { continue }
                worsen(.needsBinding)
                reasons.append("bridge \(address) is bound to \(device.driver ?? "a driver") and blocks the group")
            }
            let pending = (functions + others).filter { !ViabilityRule.isVFIODriver($0.driver) }
            if !pending.isEmpty {
                worsen(.needsBinding)
                let list = pending.map { "\($0.address) (\($0.driver ?? "no driver"))" }.joined(separator: ", ")
                reasons.append(
                    "bind \(pending.count) function\(pending.count == 1 ? "" : "s") to vfio-pci: \(list)")
            }
        } else {
            worsen(.blocked)
            reasons.append("the GPU has no IOMMU group")
        }
        return GPU(
            address: gpu.address, vendor: vendor, name: gpu.deviceName, functions: functions.map(\.address),
            companions: companions, isBootVGA: gpu.isBootVGA, isIntegrated: isIntegrated,
            iommuGroup: gpu.iommuGroup, driver: gpu.driver, status: status, reasons: reasons,
            reset: gpu.reset?.summary ?? [], shareable: shareable(gpu))
    }

    /// Virtual functions and mediated device instances of a GPU, nil when it has neither.
    private func shareable(_ gpu: PCIDevice) -> GPU.Shareable? {
        guard let sharing = gpu.sharing else { return nil }
        let vfs = sharing.sriov?.totalVFs ?? 0
        let mdevs = sharing.mdevTypes.reduce(0) { $0 + ($1.availableInstances ?? 0) + $1.instances.count }
        let vgpuTypes = Set(
            (sharing.sriov?.virtualFunctions ?? []).flatMap {
                byAddress[$0.address]?.sharing?.vgpu?.creatableTypes.map(\.id) ?? []
            }
        ).count
        guard vfs > 0 || mdevs > 0 || vgpuTypes > 0 else { return nil }
        return GPU.Shareable(virtualFunctions: vfs, mdevInstances: mdevs, vgpuTypes: vgpuTypes)
    }
}
