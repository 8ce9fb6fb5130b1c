/// Everything vfioctl knows about one PCI function.
public struct PCIDevice: Sendable, Codable, Hashable {
    /// The function's address.
    public var address: PCIAddress
    /// Vendor ID (`10de` in text and JSON).
    public var vendorID: PCIID
    /// Device ID.
    public var deviceID: PCIID
    /// Subsystem vendor ID, when sysfs has one.
    public var subsystemVendorID: PCIID?
    /// Subsystem device ID, when sysfs has one.
    public var subsystemDeviceID: PCIID?
    /// Class code in sysfs form (`0x030000`).
    public var `class`: String
    /// The class's name from pci.ids (the subclass's when known: "VGA compatible controller").
    public var className: String?
    /// Revision, lowercase hex (`a1`).
    public var revision: String?
    /// Vendor name from pci.ids.
    public var vendorName: String?
    /// Device name from pci.ids.
    public var deviceName: String?
    /// Subsystem name from pci.ids.
    public var subsystemName: String?
    /// The bound driver (basename of the `driver` link), or nil.
    public var driver: String?
    /// `driver_override`, nil when unset (`(null)`).
    public var driverOverride: String?
    /// The IOMMU group (basename of the `iommu_group` link), or nil when the IOMMU is off.
    public var iommuGroup: Int?
    /// Header type 1 or 2: a PCI-to-PCI or CardBus bridge.
    public var isBridge: Bool
    /// Header type (config byte 0x0E, low 7 bits).
    public var headerType: Int
    /// Config byte 0x0E bit 7.
    public var isMultifunction: Bool
    /// `boot_vga` is 1: the firmware's boot display.
    public var isBootVGA: Bool
    /// NUMA node, nil when the host reports none (-1).
    public var numaNode: Int?
    /// Reset methods the kernel reports in `reset_method`, in the order it tries them.
    public var resetMethods: [String]
    /// Whether the kernel offers a `reset` attribute at all.
    public var hasResetAttribute: Bool
    /// PCIe DevCap bit 28.
    public var supportsFLR: Bool
    /// Advanced Features FLR.
    public var supportsAFFLR: Bool
    /// PM `NoSoftRst`: nil without a PM capability.
    public var pmNoSoftReset: Bool?
    /// The ACS extended capability is present.
    public var hasACS: Bool
    /// ACS control bits, `0x…`, when present.
    public var acsControl: String?
    /// PCIe device/port type name, nil for conventional PCI.
    public var pcieType: String?
    /// A ROM BAR (or a shadow copy of the boot ROM) is exposed as `rom`.
    public var hasROM: Bool
    /// The vendor-reset family when the device is in its table.
    public var vendorResetFamily: String?
    /// Whether capabilities past the 64-byte header could be read (root only on a real host).
    public var isConfigComplete: Bool
    /// How it can be reset between guests (filled in by `Host.report()`).
    public var reset: ResetReport?
    /// SR-IOV, mediated device and vGPU facts; nil for a function that cannot be shared.
    public var sharing: Sharing?
    /// Its BARs with their sizes, and the Resizable BAR state of those that have one.
    public var bars: [PCIBAR] = []

    /// The class as a value.
    public var pciClass: PCIClass { PCIClass(rawValue: UInt32(self.class.dropFirst(2), radix: 16) ?? 0) }
    /// The vendor ID as a number.
    public var vendor: UInt16 { vendorID.rawValue }
    /// The device ID as a number.
    public var device: UInt16 { deviceID.rawValue }
    /// `vendor:device`, for example `10de:2484`.
    public var ids: String { "\(vendorID):\(deviceID)" }
}
