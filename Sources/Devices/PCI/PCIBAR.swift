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
        guard let text = try files.readText(directory.appending("resource")) else { return [] }
        var bars: [PCIBAR] = []
        for (index, line) in text.split(separator: "\n").prefix(6).enumerated() {
            let fields = line.split(separator: " ").compactMap { UInt64($0.hexDigits, radix: 16) }
            guard fields.count == 3, fields[1] > fields[0] else { continue }
            let flags = fields[2]
            var bar = PCIBAR(
                index: index, start: fields[0], size: fields[1] - fields[0] + 1, isIO: flags & resourceIO != 0,
                is64Bit: flags & resourceMemory64 != 0, isPrefetchable: flags & resourcePrefetch != 0)
            if let bitmapText = try files.readText(directory.appending("resource\(index)_resize")),
                let bitmap = UInt64(bitmapText.hexDigits, radix: 16)
            {
                bar.resizable = PCIBAR.Resizable(currentSize: bar.size, supportedSizes: PCIBAR.sizes(bitmap: bitmap))
            }
            bars.append(bar)
        }
        return bars
    }
}

extension Host {
    /// The BARs of a PCI function, as `PCIBAR.read` finds them.
    /// - Throws: `DevicesError` when a file exists but cannot be read.
    public func bars(of address: PCIAddress) throws -> [PCIBAR] {
        try PCIBAR.read(directory: files.path(HostPaths.pciDevices.appending(address.description)), files: files)
    }
}

extension Substring {
    fileprivate var hexDigits: String { String(self).hexDigits }
}
