/// One function `persist` makes vfio-pci take at boot, as `/etc/vfioctl/persist.json` records it.
public struct PersistedFunction: Sendable, Hashable, Codable {
    /// The function.
    public var address: PCIAddress
    /// Its vendor ID.
    public var vendor: UInt16
    /// Its device ID.
    public var device: UInt16
    /// `ids` (its IDs go into `options vfio-pci ids=`) or `override` (its address goes into the udev rule).
    public var method: PersistMethod
    /// The modules that would take it before vfio-pci, so must wait for it (`softdep <module> pre: vfio-pci`).
    public var softdeps: [String]

    /// Creates a record.
    public init(address: PCIAddress, vendor: UInt16, device: UInt16, method: PersistMethod, softdeps: [String]) {
        self.address = address
        self.vendor = vendor
        self.device = device
        self.method = method
        self.softdeps = softdeps
    }

    /// `vendor:device` as modprobe's `ids=` takes it (four lower-case hex digits each).
    var idsText: String { Self.hex(vendor) + ":" + Self.hex(device) }

    private static func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}
