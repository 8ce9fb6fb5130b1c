import SystemPackage

/// One memory or I/O region of a PCI function, as sysfs `resource` lists it.
public struct PCIBAR: Sendable, Codable, Hashable {
    /// The Resizable BAR state of one BAR (PCIe extended capability 0x15), from `resourceN_resize`.
    public struct Resizable: Sendable, Codable, Hashable {
        /// The size the BAR has now, in bytes.
        public var currentSize: UInt64
        /// Every size the card supports, in bytes, smallest first.
        public var supportedSizes: [UInt64]
    }

    /// The BAR number (0–5).
    public var index: Int
    /// Where the kernel placed it in the host's address space.
    public var start: UInt64
    /// Its size in bytes.
    public var size: UInt64
    /// An I/O port region rather than memory.
    public var isIO: Bool
    /// A 64-bit memory BAR.
    public var is64Bit: Bool
    /// A prefetchable memory BAR.
    public var isPrefetchable: Bool
    /// The Resizable BAR state, when the card offers it for this BAR.
    public var resizable: Resizable?

    /// The last byte of the region.
    public var end: UInt64 { start &+ size &- 1 }

    /// The sizes a `resourceN_resize` bitmap names: bit n is 2^(n+20) bytes.
    public static func sizes(bitmap: UInt64) -> [UInt64] {
        (0..<44).filter { bitmap & (1 << UInt64($0)) != 0 }.map { UInt64(1) << UInt64($0 + 20) }
    }

    /// The bit of `resourceN_resize` that stands for a size, nil when the size is not a power of two of at least
    /// 1 MiB.
    public static func resizeBit(for size: UInt64) -> Int? {
        guard size >= 1 << 20, size & (size - 1) == 0 else { return nil }
        return size.trailingZeroBitCount - 20
    }
}

// Flags of a `resource` line (include/linux/ioport.h).
private let resourceIO: UInt64 = 0x100
private let resourcePrefetch: UInt64 = 0x2000
private let resourceMemory64: UInt64 = 0x0010_0000

extension PCIBAR {
    /// The BARs of the PCI function whose sysfs directory is `directory` (as `files` addresses it): `resource`
    /// lines 0–5 that have a size, with `resourceN_resize` (Linux 6.1+) for the ones the card can resize.
    /// - Returns: the BARs, lowest number first; empty when the device has no `resource` file.
    /// - Throws: `DevicesError` when a file exists but cannot be read.
    static func read(directory: FilePath, files: HostFiles) throws -> [PCIBAR] {
        guard let folder = try files.openFolder(directory) else { return [] }
        return try read(in: folder)
    }

    /// The BARs of the PCI function whose sysfs folder is open, read by name relative to it.
    static func read(in folder: borrowing OpenFolder) throws -> [PCIBAR] {
        guard let bytes = try folder.readAttribute("resource") else { return [] }
        var bars: [PCIBAR] = []
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n")).prefix(6).enumerated() {
            let fields = line.split(separator: UInt8(ascii: " ")).compactMap(hexField)
            guard fields.count == 3, fields[1] > fields[0] else { continue }
            let flags = fields[2]
            var bar = PCIBAR(
                index: index, start: fields[0], size: fields[1] - fields[0] + 1, isIO: flags & resourceIO != 0,
                is64Bit: flags & resourceMemory64 != 0, isPrefetchable: flags & resourcePrefetch != 0)
            if let bitmapText = try folder.readText("resource\(index)_resize"),
                let bitmap = UInt64(bitmapText.hexDigits, radix: 16)
            {
                bar.resizable = PCIBAR.Resizable(currentSize: bar.size, supportedSizes: PCIBAR.sizes(bitmap: bitmap))
            }
            bars.append(bar)
        }
        return bars
    }

    /// A field of a `resource` line (`0x00000000fb000000`) as a number, nil when it is not one.
    ///
    /// White space around it is allowed; more than 64 bits is not. Works on the bytes: a host has a dozen lines
    /// per function.
    private static func hexField(_ field: ArraySlice<UInt8>) -> UInt64? {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D || $0 == 0 }
        guard let first = field.firstIndex(where: { !isSpace($0) }), let last = field.lastIndex(where: { !isSpace($0) })
        else { return nil }
        var digits = field[first...last]
        if digits.starts(with: [UInt8(ascii: "0"), UInt8(ascii: "x")]) { digits = digits.dropFirst(2) }
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            guard value >> 60 == 0 else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}

extension Host {
    /// The BARs of a PCI function, as `PCIBAR.read` finds them.
    /// - Throws: `DevicesError` when a file exists but cannot be read.
    public func bars(of address: PCIAddress) throws -> [PCIBAR] {
        try PCIBAR.read(directory: files.path(HostPaths.pciDevices.appending(address.description)), files: files)
    }
}
