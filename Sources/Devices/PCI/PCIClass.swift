/// A PCI class code, `0xCCSSPP`: base class, subclass and programming interface.
public struct PCIClass: Hashable, Sendable, CustomStringConvertible {
    /// The 24-bit class code as sysfs reports it in `class`.
    public let rawValue: UInt32

    /// Creates a class from its 24-bit code.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue & 0xFF_FFFF
    }

    /// The base class byte (`0x03` display).
    public var base: UInt8 { UInt8(rawValue >> 16) }
    /// The subclass byte (`0x00` VGA under display).
    public var subclass: UInt8 { UInt8((rawValue >> 8) & 0xFF) }
    /// The programming interface byte.
    public var progIf: UInt8 { UInt8(rawValue & 0xFF) }
    /// Base class and subclass, `0xCCSS`.
    public var classAndSubclass: UInt16 { UInt16(rawValue >> 8) }

    /// `0x030000` form, as sysfs writes it.
    public var description: String { "0x" + hex(rawValue, width: 6) }

    /// Any display controller: VGA 0x0300, XGA 0x0301, 3D 0x0302, other 0x0380.
    public var isDisplay: Bool { base == 0x03 }
    /// HD audio (0x0403), the usual HDMI/DP audio function of a GPU.
    public var isHDAudio: Bool { classAndSubclass == 0x0403 }
    /// Any multimedia device (0x04).
    public var isMultimedia: Bool { base == 0x04 }
    /// A USB controller (0x0c03).
    public var isUSBController: Bool { classAndSubclass == 0x0C03 }
    /// A serial-bus device of "other" type (0x0c80), for example the USB-C UCSI function of NVIDIA cards.
    public var isSerialBusOther: Bool { classAndSubclass == 0x0C80 }
    /// Any bridge class (0x06).
    public var isBridgeClass: Bool { base == 0x06 }
    /// Storage controllers (0x01).
    public var isStorage: Bool { base == 0x01 }
    /// Network controllers (0x02).
    public var isNetwork: Bool { base == 0x02 }

    /// Chipset functions the host needs and that never go to a guest: host, ISA/LPC and other non-PCI
    /// bridges, SMBus, and system peripherals.
    public var isChipsetFunction: Bool {
        switch classAndSubclass {
        case 0x0600, 0x0601, 0x0602, 0x0603, 0x0680, 0x0C05, 0x0800, 0x0801, 0x0802, 0x0803, 0x0805, 0x0880, 0x1180:
            true
        default:
            false
        }
    }
}
