/// The outcome of `Host.diagnose(guest:)`: why a guest fails on this host, one check per line.
public struct GuestDiagnosis: Sendable, Codable, Hashable {
    /// What a check looks at.
    public enum CheckID: String, Sendable, Codable, CaseIterable {
        /// A hostdev's source address is not on this host.
        case hostdevMissing = "hostdev-missing"
        /// A hostdev's IOMMU group is not viable at start.
        case group
        /// A GPU passed without the other functions of its card, or with them badly placed.
        case companions
        /// The guest's ROM file, or the card's own ROM.
        case rom
        /// `x-vga` on an OVMF guest.
        case xVGA = "x-vga"
        /// A boot framebuffer inside one of the GPU's BARs.
        case bootfb
        /// A device whose config space reads all ones.
        case configSpace = "config-space"
        /// How a device is reset between guests.
        case reset
        /// Resizable BAR, and BARs larger than the guest's 64-bit MMIO window.
        case largeBAR = "large-bar"
        /// Hugepages the guest asks for.
        case hugepages
        /// vCPU and emulator pinning.
        case pinning
        /// evdev inputs.
        case evdev
        /// IVSHMEM shared memory (Looking Glass, Scream).
        case shmem
        /// KVM hidden and the Hyper-V vendor ID for NVIDIA consumer cards.
        case hidden
        /// The IOMMU and interrupt remapping.
        case iommu
    }

    /// One line of the diagnosis.
    public struct Check: Sendable, Codable, Hashable {
        /// What was checked.
        public var id: CheckID
        /// How it came out.
        public var status: Diagnosis.Status
        /// The host device the line is about; nil for the guest as a whole.
        public var device: PCIAddress?
        /// What was found, in one line.
        public var message: String
        /// The fix in words, when the status is not `ok` and the fix is not (only) an attach.
        public var fix: String?
        /// The parts whose attach makes the fix.
        public var attach: [GuestPart]
        /// The devices whose bind to vfio-pci makes the fix.
        public var bind: [PCIAddress]

        /// Creates a check.
        public init(
            _ id: CheckID, _ status: Diagnosis.Status, device: PCIAddress? = nil, _ message: String,
            fix: String? = nil, attach: [GuestPart] = [], bind: [PCIAddress] = []
        ) {
            self.id = id
            self.status = status
            self.device = device
            self.message = message
            self.fix = fix
            self.attach = attach
            self.bind = bind
        }
    }

    /// The guest's name, from its `<name>`.
    public var domain: String
    /// Every check, in the order of `CheckID`.
    public var checks: [Check]

    /// The worst status of all checks (`ok` when there are none).
    public var worst: Diagnosis.Status { checks.map(\.status).max() ?? .ok }

    /// The checks with `id`.
    public func checks(_ id: CheckID) -> [Check] { checks.filter { $0.id == id } }

    /// Creates a diagnosis.
    public init(domain: String, checks: [Check]) {
        self.domain = domain
        self.checks = checks
    }
}
