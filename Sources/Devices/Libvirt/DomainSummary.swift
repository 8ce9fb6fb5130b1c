/// What a guest definition passes through, as `vfioctl domains` shows it.
public struct DomainSummary: Sendable, Codable, Hashable {
    /// The guest's name.
    public var name: String
    /// Whether it is running.
    public var isActive: Bool
    /// Host PCI addresses of its `<hostdev type='pci'>` devices.
    public var hostdevs: [PCIAddress]
    /// Its `<shmem>` devices.
    public var sharedMemory: [SharedMemoryRegion]
    /// Evdev devices it takes: `input-linux` arguments and `<input type='evdev'>`.
    public var evdev: [String]
    /// Whether vfioctl added any of it (its ownership record in `<metadata>`, its aliases, ids and root ports).
    public var managedByVfioctl: Bool
    /// Tuning present.
    public var tuning: [Tuning]

    /// One `<shmem>` device.
    public struct SharedMemoryRegion: Sendable, Codable, Hashable {
        /// Its name (`looking-glass`, `scream-ivshmem`).
        public var name: String
        /// Its size in MiB, when the definition gives one.
        public var sizeMiB: Int?

        /// A region from its parts.
        public init(name: String, sizeMiB: Int?) {
            self.name = name
            self.sizeMiB = sizeMiB
        }
    }

    /// The tuning a definition carries.
    public enum Tuning: String, Sendable, Codable, Hashable, CaseIterable {
        case hugepages, pinning, hyperv
        case kvmHidden = "kvm-hidden"
        case smbios
    }

    /// Reads a definition.
    /// - Throws: `DevicesError` when the XML is not well-formed.
    public init(name: String, isActive: Bool, xml: [UInt8]) throws {
        let document = try XMLDocument(bytes: xml, source: "domain \(name)")
        let domain = document.root
        self.name = name
        self.isActive = isActive
        let devices = domain.child("devices")
        hostdevs = (devices?.children("hostdev") ?? []).filter { $0.attribute("type") == "pci" }.compactMap { hostdev in
            hostdev.child("source")?.child("address").flatMap(GuestPCIAddress.init).flatMap { source -> PCIAddress? in
                guard let domain = UInt32(exactly: source.domain), let bus = UInt8(exactly: source.bus),
                    let device = UInt8(exactly: source.slot), let function = UInt8(exactly: source.function)
                else { return nil }
                return PCIAddress(domain: domain, bus: bus, device: device, function: function)
            }
        }
        sharedMemory = (devices?.children("shmem") ?? []).map { shmem in
            SharedMemoryRegion(name: shmem.attribute("name") ?? "", sizeMiB: DomainMerger.sizeMiB(of: shmem))
        }
        var evdev: [String] = []
        var managed = false
        for commandline in domain.children
        where commandline.name == "commandline" && commandline.namespace == qemuNamespace {
            for argument in commandline.children("arg") {
                let value = argument.attribute("value") ?? ""
                if let path = DomainMerger.evdevPath(value) { evdev.append(path) }
                if DomainMerger.isEvdevArgument(value) || DomainMerger.isKVMFRArgument(value) { managed = true }
            }
        }
        for input in devices?.children("input") ?? [] where input.attribute("type") == "evdev" {
            if let path = input.child("source")?.attribute("dev") { evdev.append(path) }
        }
        self.evdev = evdev
        func hasAlias(_ element: XMLElement) -> Bool {
            if element.child("alias")?.attribute("name")?.hasPrefix("ua-vfioctl-") == true { return true }
            return element.children.contains(where: hasAlias)
        }
        if let devices, hasAlias(devices) { managed = true }
        // The record attach keeps in <metadata> says so for any part, tuning included.
        let metadata = domain.children.first { $0.name == "metadata" && $0.namespace == nil }
        if metadata?.children.contains(where: { $0.namespace == DomainOwnership.namespace }) == true { managed = true }
        managedByVfioctl = managed
        var tuning: [Tuning] = []
        if domain.child("memoryBacking")?.child("hugepages") != nil { tuning.append(.hugepages) }
        if domain.child("cputune")?.child("vcpupin") != nil { tuning.append(.pinning) }
        if domain.child("features")?.child("hyperv") != nil { tuning.append(.hyperv) }
        if domain.child("features")?.child("kvm")?.child("hidden") != nil { tuning.append(.kvmHidden) }
        if domain.child("os")?.child("smbios")?.attribute("mode") == "sysinfo" { tuning.append(.smbios) }
        self.tuning = tuning
    }
}
