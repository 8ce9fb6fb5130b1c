import Devices
import Foundation
import SystemPackage

/// One PCI function of a fake host.
public struct FakePCIDevice: Sendable {
    /// Address, `0000:01:00.0`.
    public var address: String
    /// Configuration space description; also gives vendor, device, class and revision to sysfs.
    public var config: ConfigSpaceBuilder
    /// Bound driver, or nil.
    public var driver: String?
    /// IOMMU group, or nil (the IOMMU is off).
    public var iommuGroup: Int?
    /// `boot_vga` content; nil leaves the file out (non-VGA devices have none).
    public var bootVGA: Bool?
    /// `numa_node`.
    public var numaNode: Int = -1
    /// `reset_method` content; nil leaves the file out.
    public var resetMethods: [String]?
    /// ROM bytes; nil leaves `rom` out.
    public var rom: [UInt8]?
    /// `driver_override`, nil writes `(null)`.
    public var driverOverride: String?

    /// Creates a device.
    public init(
        _ address: String, vendor: UInt16, device: UInt16, classCode: UInt32, driver: String? = nil,
        group: Int? = nil, configure: (inout ConfigSpaceBuilder) -> Void = { _ in }
    ) {
        self.address = address
        var config = ConfigSpaceBuilder(vendor: vendor, device: device, classCode: classCode)
        configure(&config)
        self.config = config
        self.driver = driver
        self.iommuGroup = group
        if classCode >> 8 == 0x0300 { bootVGA = false }
    }

    /// A copy with sysfs attributes changed.
    public func with(_ change: (inout FakePCIDevice) -> Void) -> FakePCIDevice {
        var copy = self
        change(&copy)
        return copy
    }
}

/// A fake host tree in a temporary folder: sysfs devices, IOMMU groups, driver links, /proc files.
///
/// Each test builds its own; the folder is removed when the value is released.
public final class FakeHost: @unchecked Sendable {
    /// The tree's root, to pass as `--sysroot`.
    public let root: String
    /// The pci.ids file written into the tree (deterministic names).
    public let pciIDs: String

    /// A `Host` on this tree.
    public var host: Devices.Host { Devices.Host(sysroot: Sysroot(FilePath(root)), pciIDsPath: pciIDs) }

    /// Reads the tree as vfioctl would, keeping the tree alive until the report is made.
    public func report() throws -> HostReport {
        try withExtendedLifetime(self) { try host.report() }
    }

    /// Creates an empty host with `/sys/bus/pci/devices`, `/sys/kernel/iommu_groups`, `/proc` and a pci.ids file.
    public init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-fake-\(UUID().uuidString)")
        root = base.path
        pciIDs = base.appendingPathComponent("pci.ids").path
        for dir in [
            "sys/bus/pci/devices", "sys/bus/pci/drivers", "sys/devices/pci0000:00", "sys/kernel/iommu_groups",
            "sys/class/iommu", "sys/firmware/acpi/tables", "sys/module", "proc/sys/kernel", "dev", "etc", "run",
        ] {
            try FileManager.default.createDirectory(
                atPath: base.appendingPathComponent(dir).path, withIntermediateDirectories: true)
        }
        try write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n")
        try write("/proc/sys/kernel/osrelease", "6.1.0-26-amd64\n")
        try setCPU(vendor: "GenuineIntel")
        try FakeHost.pciIDsText.write(toFile: pciIDs, atomically: true, encoding: .utf8)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The absolute location of a host path inside the tree.
    public func path(_ hostPath: String) -> String {
        root + (hostPath.hasPrefix("/") ? hostPath : "/" + hostPath)
    }

    /// Writes a text file, creating folders.
    public func write(_ hostPath: String, _ text: String) throws {
        try write(hostPath, Array(text.utf8))
    }

    /// Writes a binary file, creating folders.
    public func write(_ hostPath: String, _ bytes: [UInt8]) throws {
        let full = path(hostPath)
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: full, contents: Data(bytes)) else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    /// Creates a symbolic link at `hostPath` pointing at `target` (a host path inside the tree, or relative).
    public func link(_ hostPath: String, to target: String) throws {
        let full = path(hostPath)
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: full)
        // Relative, as the kernel makes sysfs links: the tree can move, and links resolve inside it.
        let destination = target.hasPrefix("/") ? relativeLink(from: hostPath, to: target) : target
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: destination)
    }

    /// Removes a file, link or folder.
    public func remove(_ hostPath: String) throws {
        try FileManager.default.removeItem(atPath: path(hostPath))
    }

    /// Sets `/proc/cpuinfo` to one CPU of this vendor, with the `hypervisor` flag when asked.
    public func setCPU(vendor: String, hypervisor: Bool = false) throws {
        let flags =
            "fpu vme de pse tsc msr pae" + (hypervisor ? " hypervisor" : "")
            + (vendor == "GenuineIntel" ? " vmx" : " svm")
        try write("/proc/cpuinfo", "processor\t: 0\nvendor_id\t: \(vendor)\ncpu family\t: 6\nflags\t\t: \(flags)\n\n")
    }

    /// Adds a PCI function: its sysfs directory, attribute files, config bytes and links.
    public func add(_ device: FakePCIDevice) throws {
        let dir = "/sys/devices/pci0000:00/\(device.address)"
        let config = device.config
        try write(dir + "/vendor", "0x\(hex(config.vendor, 4))\n")
        try write(dir + "/device", "0x\(hex(config.device, 4))\n")
        try write(dir + "/class", "0x\(hex(config.classCode, 6))\n")
        try write(dir + "/revision", "0x\(hex(config.revision, 2))\n")
        if let subsystem = config.subsystem {
            try write(dir + "/subsystem_vendor", "0x\(hex(subsystem.vendor, 4))\n")
            try write(dir + "/subsystem_device", "0x\(hex(subsystem.device, 4))\n")
        }
        try write(dir + "/config", config.bytes())
        try write(dir + "/numa_node", "\(device.numaNode)\n")
        try write(dir + "/driver_override", (device.driverOverride ?? "(null)") + "\n")
        try write(
            dir + "/resource",
            String(repeating: "0x0000000000000000 0x0000000000000000 0x0000000000000000\n", count: 13))
        if let bootVGA = device.bootVGA { try write(dir + "/boot_vga", bootVGA ? "1\n" : "0\n") }
        if let methods = device.resetMethods {
            try write(dir + "/reset_method", methods.joined(separator: " ") + "\n")
            if !methods.isEmpty { try write(dir + "/reset", "") }
        }
        if let rom = device.rom { try write(dir + "/rom", rom) }
        try link("/sys/bus/pci/devices/\(device.address)", to: dir)
        if let driver = device.driver {
            try FileManager.default.createDirectory(
                atPath: path("/sys/bus/pci/drivers/\(driver)"), withIntermediateDirectories: true)
            try link(dir + "/driver", to: "/sys/bus/pci/drivers/\(driver)")
            try link("/sys/bus/pci/drivers/\(driver)/\(device.address)", to: dir)
        }
        if let group = device.iommuGroup {
            try FileManager.default.createDirectory(
                atPath: path("/sys/kernel/iommu_groups/\(group)/devices"), withIntermediateDirectories: true)
            try link(dir + "/iommu_group", to: "/sys/kernel/iommu_groups/\(group)")
            try link("/sys/kernel/iommu_groups/\(group)/devices/\(device.address)", to: dir)
        }
    }

    /// Adds several functions.
    public func add(_ devices: [FakePCIDevice]) throws {
        for device in devices { try add(device) }
    }

    private func hex<T: BinaryInteger>(_ value: T, _ width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// A small pci.ids with the names the tests expect.
    static let pciIDsText = """
        # Test names, in pci.ids format.
        1002  Advanced Micro Devices, Inc. [AMD/ATI]
        \t67df  Ellesmere [Radeon RX 470/480/570/570X/580/580X/590]
        \t\t1da2 e387  Radeon RX 580 Pulse 4GB
        \t744c  Navi 31 [Radeon RX 7900 XT/7900 XTX]
        \taaf0  Ellesmere HDMI Audio [Radeon RX 470/480 / 570/580/590]
        1022  Advanced Micro Devices, Inc. [AMD]
        \t1487  Starship/Matisse HD Audio Controller
        10de  NVIDIA Corporation
        \t1f08  TU106 [GeForce RTX 2060 Rev. A]
        \t10f9  TU106 High Definition Audio Controller
        \t1ada  TU106 USB 3.1 Host Controller
        \t1adb  TU106 USB Type-C UCSI Controller
        1234  Technical Corp.
        \t1111  QEMU Virtual Video Controller
        1af4  Red Hat, Inc.
        \t1052  Virtio 1.0 input
        1b36  Red Hat, Inc.
        \t000c  QEMU PCIe Root port
        \t000e  QEMU PCIe-to-PCI bridge
        8086  Intel Corporation
        \t1502  82579LM Gigabit Network Connection (Lewisville)
        \t29c0  82G33/G31/P35/P31 Express DRAM Controller
        \t2918  82801IB (ICH9) LPC Interface Controller
        \t3e92  CoffeeLake-S GT2 [UHD Graphics 630]
        \t10d3  82574L Gigabit Network Connection

        # List of known device classes
        C 00  Unclassified device
        C 01  Mass storage controller
        \t06  SATA controller
        C 02  Network controller
        \t00  Ethernet controller
        C 03  Display controller
        \t00  VGA compatible controller
        \t02  3D controller
        \t80  Display controller
        C 04  Multimedia controller
        \t03  Audio device
        C 06  Bridge
        \t00  Host bridge
        \t01  ISA bridge
        \t04  PCI bridge
        C 09  Input device controller
        \t80  Input device controller
        C 0c  Serial bus controller
        \t03  USB controller
        \t05  SMBus
        \t80  Serial bus controller

        """
}

/// The relative target of a link at `link` to `target`, both absolute paths in one tree.
public func relativeLink(from link: String, to target: String) -> String {
    let from = link.split(separator: "/").dropLast()
    let to = target.split(separator: "/")
    var common = 0
    while common < from.count, common < to.count, from[from.startIndex + common] == to[common] { common += 1 }
    let up = Array(repeating: "..", count: from.count - common)
    let parts = up + to[common...].map(String.init)
    return parts.isEmpty ? "." : parts.joined(separator: "/")
}
