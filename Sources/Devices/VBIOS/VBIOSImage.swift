/// One image of a PCI option ROM (a ROM holds a legacy x86 image, an EFI image, or several).
public struct VBIOSImage: Sendable, Codable, Hashable {
    /// Offset of the image's `55 AA` in the file.
    public var offset: Int
    /// `x86`, `openfirmware`, `hppa`, `efi` or `unknown` (PCIR code type 0, 1, 2, 3, other).
    public var codeType: String
    /// Vendor ID from the PCIR structure, lowercase hex.
    public var vendorID: String
    /// Device ID from the PCIR structure, lowercase hex.
    public var deviceID: String
    /// Further device IDs the image supports (PCIR revision 3 device list).
    public var deviceList: [String]
    /// Class code from the PCIR structure (`0x030000`).
    public var classCode: String
    /// Image length in bytes (PCIR length × 512).
    public var length: Int
    /// The PCIR indicator's bit 7: the last image of the ROM.
    public var isLast: Bool
    /// The image's bytes sum to 0 mod 256.
    public var checksumOK: Bool
    /// For EFI images: the machine type (`x64`, `ia32`, `arm64`, `ebc`, `itanium`, `arm`, or its hex value).
    public var efiMachine: String?
    /// For EFI images: the subsystem (11 boot-service driver, 12 runtime driver).
    public var efiSubsystem: Int?
    /// For EFI images: whether the image is compressed.
    public var efiCompressed: Bool?
}

/// The verdict on a ROM file: its images as the kernel walks them, and what is wrong with it.
public struct VBIOSCheck: Sendable, Codable, Hashable {
    /// Usable as a `<rom file=…/>`: at least one image, the chain ends with a last image, every x86 checksum is
    /// right, nothing is truncated, and (when a device was given) it belongs to that device.
    public var valid: Bool
    /// The file starts with an nvflash header before the ROM (run `vfioctl vbios patch`).
    public var nvflashHeader: Bool
    /// Offset of the ROM after an nvflash header, when there is one.
    public var romOffset: Int?
    /// What is wrong, one sentence each.
    public var problems: [String]
    /// The images, in order.
    public var images: [VBIOSImage]
    /// The file's size in bytes.
    public var size: Int
    /// Bytes after the last image (padding, NVIDIA certificates); the kernel never reads them.
    public var trailingBytes: Int
    /// An EFI x64 image is present: the GPU can show OVMF's (UEFI) boot screen.
    public var isUEFICapable: Bool
    /// With a device: whether the ROM's IDs match it; nil without one.
    public var matchesDevice: Bool?
}
