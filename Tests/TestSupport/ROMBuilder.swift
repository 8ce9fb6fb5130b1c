/// Builds synthetic PCI option ROMs for tests.
///
/// Legacy x86 and EFI images, chained, with correct checksums unless told otherwise. No vendor ROM is ever used.
public struct ROMBuilder: Sendable {
    /// One image of the ROM.
    public struct Image: Sendable {
        /// Vendor ID in the PCIR structure.
        public var vendor: UInt16
        /// Device ID in the PCIR structure.
        public var device: UInt16
        /// The PCIR code type: 0 x86, 3 EFI.
        public var codeType: UInt8 = 0
        /// Size in 512-byte units.
        public var blocks: Int = 2
        /// EFI machine type (0x8664 x64) for EFI images.
        public var efiMachine: UInt16 = 0x8664
        /// Extra device IDs (PCIR revision 3 device list).
        public var deviceList: [UInt16] = []
        /// Leave the checksum wrong.
        public var badChecksum = false
        /// Clear the last-image flag even on the last image.
        public var clearLastFlag = false
        /// Override the PCIR pointer (to point outside the image).
        public var pcirPointer: UInt16?
        /// Override the length field.
        public var lengthField: UInt16?

        /// Creates an image.
        public init(vendor: UInt16, device: UInt16, codeType: UInt8 = 0, blocks: Int = 2) {
            self.vendor = vendor
            self.device = device
            self.codeType = codeType
            self.blocks = blocks
        }
    }

    /// The images, in order; the last gets the last-image flag.
    public var images: [Image]

    /// Creates a ROM from images.
    public init(_ images: [Image]) {
        self.images = images
    }

    /// A legacy x86 ROM for one device.
    public static func legacy(vendor: UInt16 = 0x10de, device: UInt16 = 0x1b81) -> ROMBuilder {
        ROMBuilder([Image(vendor: vendor, device: device)])
    }

    /// A legacy x86 image followed by an EFI x64 image, as GPU ROMs ship.
    public static func hybrid(vendor: UInt16 = 0x10de, device: UInt16 = 0x1b81) -> ROMBuilder {
        ROMBuilder([Image(vendor: vendor, device: device), Image(vendor: vendor, device: device, codeType: 3)])
    }

    /// The bytes.
    public func bytes() -> [UInt8] {
        var rom: [UInt8] = []
        for (index, image) in images.enumerated() {
            var b = [UInt8](repeating: 0, count: image.blocks * 512)
            func put16(_ at: Int, _ value: UInt16) {
                guard at + 1 < b.count else { return }
                b[at] = UInt8(value & 0xFF)
                b[at + 1] = UInt8(value >> 8)
            }
            b[0] = 0x55
            b[1] = 0xAA
            b[2] = UInt8(truncatingIfNeeded: image.blocks)
            if image.codeType == 3 {
                put16(4, 0x0EF1)
                put16(8, 0x0B)
                put16(0x0A, image.efiMachine)
                put16(0x16, 0x0400)
            } else {
                // A short jump to the init code, and "VIDEO" where video BIOSes put it (the nvflash rule's anchor).
                b[3] = 0xEB
                b[4] = 0x4B
                b[0x0E..<0x13] = Array("VIDEO".utf8)[...]
            }
            let pcir = 0x40
            put16(0x18, image.pcirPointer ?? UInt16(pcir))
            b[pcir..<(pcir + 4)] = [0x50, 0x43, 0x49, 0x52][...]
            put16(pcir + 4, image.vendor)
            put16(pcir + 6, image.device)
            put16(pcir + 0x0A, 0x1C)
            b[pcir + 0x0C] = image.deviceList.isEmpty ? 0 : 3
            b[pcir + 0x0F] = 0x03  // class 0x030000
            put16(pcir + 0x10, image.lengthField ?? UInt16(image.blocks))
            b[pcir + 0x14] = image.codeType
            b[pcir + 0x15] = index == images.count - 1 && !image.clearLastFlag ? 0x80 : 0
            if !image.deviceList.isEmpty {
                put16(pcir + 8, 0x20)
                for (i, id) in image.deviceList.enumerated() { put16(pcir + 0x20 + 2 * i, id) }
            }
            let sum = b.dropLast().reduce(UInt8(0), &+)
            b[b.count - 1] = (0 &- sum) &+ (image.badChecksum ? 1 : 0)
            rom += b
        }
        return rom
    }

    /// An nvflash-style header (a `55 AA` that is not followed by EB…VIDEO, then padding) of `size` bytes before
    /// the ROM.
    public static func nvflashHeader(size: Int = 0x600) -> [UInt8] {
        var header = [UInt8](repeating: 0xFF, count: size)
        header[0] = 0x4E
        header[1] = 0x56
        header[0x10] = 0x55
        header[0x11] = 0xAA
        return header
    }
}
