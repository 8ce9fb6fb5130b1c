/// Builds PCI configuration-space bytes the way real devices lay them out, for fake host trees.
public struct ConfigSpaceBuilder: Sendable {
    /// Vendor ID.
    public var vendor: UInt16
    /// Device ID.
    public var device: UInt16
    /// 24-bit class code.
    public var classCode: UInt32
    /// Revision.
    public var revision: UInt8 = 0
    /// Header type 0 (endpoint), 1 (PCI bridge) or 2 (CardBus).
    public var headerType: UInt8 = 0
    /// Sets bit 7 of the header type byte.
    public var isMultifunction = false
    /// Subsystem IDs (endpoints only).
    public var subsystem: (vendor: UInt16, device: UInt16)?
    /// Add a PCI Express capability with this device/port type (0 endpoint, 4 root port, 9 RCiEP, …).
    public var pcieType: UInt8?
    /// Set DevCap bit 28 in the PCIe capability.
    public var supportsFLR = false
    /// Add a PM capability; the value is `NoSoftRst`.
    public var pmNoSoftReset: Bool?
    /// Add an Advanced Features capability with FLR and TP.
    public var supportsAFFLR = false
    /// Add an ACS extended capability with this control word.
    public var acsControl: UInt16?

    /// Creates a builder for a device.
    public init(vendor: UInt16, device: UInt16, classCode: UInt32) {
        self.vendor = vendor
        self.device = device
        self.classCode = classCode
    }

    /// The bytes: 4096 for PCI Express devices, 256 otherwise.
    public func bytes() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: pcieType == nil ? 256 : 4096)
        func put16(_ offset: Int, _ value: UInt16) {
            b[offset] = UInt8(value & 0xFF)
            b[offset + 1] = UInt8(value >> 8)
        }
        func put32(_ offset: Int, _ value: UInt32) {
            for i in 0..<4 { b[offset + i] = UInt8((value >> (8 * UInt32(i))) & 0xFF) }
        }
        put16(0x00, vendor)
        put16(0x02, device)
        b[0x08] = revision
        b[0x09] = UInt8(classCode & 0xFF)
        b[0x0A] = UInt8((classCode >> 8) & 0xFF)
        b[0x0B] = UInt8((classCode >> 16) & 0xFF)
        b[0x0E] = headerType | (isMultifunction ? 0x80 : 0)
        if let subsystem, headerType == 0 {
            put16(0x2C, subsystem.vendor)
            put16(0x2E, subsystem.device)
        }
        // Capability list: PM at 0x40, PCIe at 0x50, AF at 0x90, chained in that order when present.
        var caps: [(offset: Int, id: UInt8)] = []
        if pmNoSoftReset != nil { caps.append((0x40, 0x01)) }
        if pcieType != nil { caps.append((0x50, 0x10)) }
        if supportsAFFLR { caps.append((0x90, 0x13)) }
        if let first = caps.first {
            put16(0x06, 0x0010)  // status: capability list
            b[0x34] = UInt8(first.offset)
            for (index, cap) in caps.enumerated() {
                b[cap.offset] = cap.id
                b[cap.offset + 1] = index + 1 < caps.count ? UInt8(caps[index + 1].offset) : 0
            }
        }
        if let noSoftReset = pmNoSoftReset {
            put16(0x42, 0x0003)  // PMC: version 3
            put16(0x44, noSoftReset ? 0x0008 : 0x0000)
        }
        if let type = pcieType {
            put16(0x52, 0x0002 | UInt16(type) << 4)
            put32(0x54, supportsFLR ? 0x1000_8000 : 0x0000_8000)
        }
        if supportsAFFLR {
            b[0x92] = 6  // length
            b[0x93] = 0x03  // TP | FLR
        }
        if let control = acsControl, b.count >= 0x108 {
            put32(0x100, 0x000D | 1 << 16)
            put16(0x104, 0x001F)
            put16(0x106, control)
        }
        return b
    }
}
