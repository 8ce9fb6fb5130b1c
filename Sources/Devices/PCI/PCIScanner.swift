import SystemPackage

/// The PCI functions of a host and what went wrong while reading them.
struct PCIScan: Sendable {
    var devices: [PCIDevice]
    var warnings: [String]
}

/// Reads every PCI function under `/sys/bus/pci/devices`: sysfs attributes directly, configuration space and
/// names through libpci.
struct PCIScanner {
    let files: HostFiles
    let library: PCILibrary

    /// Scans all functions. Devices that vanish or hold garbage are skipped with a warning naming the path.
    /// - Throws: `DevicesError` when the PCI device directory itself is missing or unreadable.
    func scan() throws -> PCIScan {
        let directory = files.path(HostPaths.pciDevices)
        guard let entries = try files.list(directory) else {
            throw DevicesError(
                code: .notFound,
                message: "no PCI devices directory at \(directory): is sysfs mounted"
                    + (files.sysroot.isHostRoot ? "?" : ", and is --sysroot \(files.sysroot) a host tree?"))
        }
        var warnings: [String] = []
        var devices: [PCIDevice] = []
        devices.reserveCapacity(entries.count)
        for entry in entries {
            guard let address = PCIAddress(entry), address.description == entry else {
                warnings.append("ignoring \(directory.appending(entry)): not a PCI address")
                continue
            }
            do {
                if let device = try read(address, warnings: &warnings) {
                    devices.append(device)
                }
            } catch let error as DevicesError {
                warnings.append("skipping \(address): \(error.message)")
            }
        }
        return PCIScan(devices: devices.sorted { $0.address < $1.address }, warnings: warnings)
    }

    /// Reads one function; nil (with a warning) when it disappeared or its identity is unreadable.
    func read(_ address: PCIAddress, warnings: inout [String]) throws -> PCIDevice? {
        let dir = files.path(HostPaths.pciDevices.appending(address.description))
        guard files.exists(dir) else {
            warnings.append(
                "skipping \(address): \(dir) is a dangling link (the device disappeared during the scan)")
            return nil
        }
        func required(_ name: String, bits: Int) throws -> UInt32? {
            let path = dir.appending(name)
            guard let text = try files.readText(path) else {
                warnings.append("skipping \(address): \(path) is missing (the device disappeared during the scan?)")
                return nil
            }
            guard let value = parseHex(text, bits: bits) else {
                warnings.append("skipping \(address): \(path) holds \"\(text.prefix(40))\", not a hex value")
                return nil
            }
            return value
        }
        func optionalHex(_ name: String, bits: Int) throws -> UInt32? {
            let path = dir.appending(name)
            guard let text = try files.readText(path) else { return nil }
            guard let value = parseHex(text, bits: bits) else {
                warnings.append("\(address): ignoring \(path): \"\(text.prefix(40))\" is not a hex value")
                return nil
            }
            return value
        }
        guard let vendor = try required("vendor", bits: 16),
            let device = try required("device", bits: 16),
            let classCode = try required("class", bits: 24)
        else { return nil }
        let subsystemVendor = try optionalHex("subsystem_vendor", bits: 16)
        let subsystemDevice = try optionalHex("subsystem_device", bits: 16)
        let revision = try optionalHex("revision", bits: 8)
        let pciClass = PCIClass(rawValue: classCode)

        var iommuGroup: Int?
        if let group = files.linkName(dir.appending("iommu_group")) {
            if let id = Int(group) {
                iommuGroup = id
            } else {
                warnings.append("\(address): ignoring \(dir.appending("iommu_group")) → \(group): not a group number")
            }
        }
        var numaNode: Int?
        if let text = try files.readText(dir.appending("numa_node")), let node = Int(text), node >= 0 {
            numaNode = node
        }
        let override = try files.readText(dir.appending("driver_override"))
        let resetMethods = try files.readText(dir.appending("reset_method"))?.split(separator: " ").map(String.init)

        var config = ConfigSpace()
        var isConfigComplete = true
        do {
            config = try library.configSpace(of: address)
            isConfigComplete = config.isExtendedReadable
        } catch let error as DevicesError {
            warnings.append(error.message)
            isConfigComplete = false
        }

        let v = UInt16(vendor)
        let d = UInt16(device)
        var subsystemName: String?
        if let subsystemVendor, let subsystemDevice, subsystemVendor != 0 || subsystemDevice != 0 {
            subsystemName = library.subsystemName(
                vendor: v, device: d, subvendor: UInt16(subsystemVendor), subdevice: UInt16(subsystemDevice))
        }
        return PCIDevice(
            address: address,
            vendorID: hex(vendor, width: 4),
            deviceID: hex(device, width: 4),
            subsystemVendorID: subsystemVendor.map { hex($0, width: 4) },
            subsystemDeviceID: subsystemDevice.map { hex($0, width: 4) },
            class: pciClass.description,
            className: library.className(pciClass.classAndSubclass),
            revision: revision.map { hex($0, width: 2) },
            vendorName: library.vendorName(v),
            deviceName: library.deviceName(vendor: v, device: d),
            subsystemName: subsystemName,
            driver: files.linkName(dir.appending("driver")),
            driverOverride: override == "(null)" || override?.isEmpty == true ? nil : override,
            iommuGroup: iommuGroup,
            isBridge: config.headerType == 1 || config.headerType == 2,
            headerType: Int(config.headerType),
            isMultifunction: config.isMultifunction,
            isBootVGA: try files.readText(dir.appending("boot_vga")) == "1",
            numaNode: numaNode,
            resetMethods: resetMethods ?? [],
            hasResetAttribute: files.entryExists(dir.appending("reset")),
            supportsFLR: config.supportsFLR,
            supportsAFFLR: config.supportsAFFLR,
            pmNoSoftReset: config.pmNoSoftReset,
            hasACS: config.hasACS,
            acsControl: config.acsControl.map { "0x" + hex($0, width: 4) },
            pcieType: config.pcieType.map(PCIScanner.pcieTypeName),
            hasROM: files.entryExists(dir.appending("rom")),
            vendorResetFamily: ResetQuirks.vendorResetFamily(vendor: v, device: d)?.name,
            isConfigComplete: isConfigComplete
        )
    }

    /// The name of a PCIe device/port type (PCIe capability flags bits 4–7).
    static func pcieTypeName(_ type: UInt8) -> String {
        switch type {
        case 0x0: "endpoint"
        case 0x1: "legacy endpoint"
        case 0x4: "root port"
        case 0x5: "upstream port"
        case 0x6: "downstream port"
        case 0x7: "PCIe-to-PCI bridge"
        case 0x8: "PCI-to-PCIe bridge"
        case 0x9: "root complex integrated endpoint"
        case 0xA: "root complex event collector"
        default: "type \(type)"
        }
    }
}

/// Parses `0x10de`, `10de` (with at most `bits` bits); nil for anything else.
func parseHex(_ text: String, bits: Int) -> UInt32? {
    var digits = Substring(text)
    if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
    guard !digits.isEmpty, digits.count <= 8, let value = UInt32(digits, radix: 16) else { return nil }
    guard bits >= 32 || value < (1 << UInt32(bits)) else { return nil }
    return value
}
