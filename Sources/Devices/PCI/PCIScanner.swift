import Dispatch
import Glibc
import SystemPackage

/// The PCI functions of a host and what went wrong while reading them.
struct PCIScan: Sendable {
    var devices: [PCIDevice]
    var warnings: [String]
}

/// Reads every PCI function under `/sys/bus/pci/devices`: sysfs attributes directly, configuration space and
/// names through libpci.
///
/// Reading is bound by system calls, one small file at a time, so large hosts are read by a few threads in
/// parallel, each with its own libpci handle; names are filled in afterwards from one handle, so pci.ids is
/// loaded once.
struct PCIScanner: Sendable {
    let files: HostFiles
    let idsPath: String?

    /// Below this many functions one thread is faster than starting more.
    static let parallelThreshold = 256

    /// Scans all functions.
    ///
    /// Devices that vanish or hold garbage are skipped with a warning naming the path.
    /// - Throws: `DevicesError` when the PCI device directory itself is missing or unreadable, or libpci fails.
    func scan() throws -> PCIScan {
        let directory = files.path(HostPaths.pciDevices)
        guard let entries = try files.list(directory) else {
            throw DevicesError(
                code: .notFound,
                message: "no PCI devices directory at \(directory): is sysfs mounted"
                    + (files.sysroot.isHostRoot ? "?" : ", and is \(files.sysroot) a host tree?"),
                object: files.sysroot.isHostRoot ? .file(directory.string) : .sysroot(files.sysroot.description))
        }
        var warnings: [String] = []
        var addresses: [PCIAddress] = []
        addresses.reserveCapacity(entries.count)
        for entry in entries {
            guard let address = PCIAddress(entry), address.description == entry else {
                warnings.append("ignoring \(directory.appending(entry)): not a PCI address")
                continue
            }
            addresses.append(address)
        }
        let busRoot = files.path(HostPaths.pciBus)
        let workers = addresses.count < Self.parallelThreshold ? 1 : min(4, max(1, activeProcessorCount()))
        let chunkSize = (addresses.count + workers - 1) / max(workers, 1)
        var chunks = [Result<PCIScan, any Error>](
            repeating: .success(PCIScan(devices: [], warnings: [])), count: workers)
        let all = addresses
        chunks.withUnsafeMutableBufferPointer { buffer in
            let results = DisjointSlots(buffer: buffer)
            let run: @Sendable (Int) -> Void = { index in
                let start = index * chunkSize
                let end = min(all.count, start + chunkSize)
                guard start < end else { return }
                results.buffer[index] = Result {
                    let library = try PCILibrary(sysfsRoot: busRoot)
                    return self.read(all[start..<end], library: library)
                }
            }
            if workers == 1 {
                run(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: workers, execute: run)
            }
        }
        var devices: [PCIDevice] = []
        devices.reserveCapacity(addresses.count)
        for chunk in chunks {
            let scan = try chunk.get()
            devices.append(contentsOf: scan.devices)
            warnings.append(contentsOf: scan.warnings)
        }
        let names = try PCILibrary(sysfsRoot: busRoot, idsPath: idsPath)
        for index in devices.indices {
            names.name(&devices[index])
        }
        return PCIScan(devices: devices.sorted { $0.address < $1.address }, warnings: warnings)
    }

    /// Reads a run of functions with one libpci handle.
    private func read(_ addresses: ArraySlice<PCIAddress>, library: PCILibrary) -> PCIScan {
        var warnings: [String] = []
        var devices: [PCIDevice] = []
        devices.reserveCapacity(addresses.count)
        for address in addresses {
            do {
                if let device = try read(address, library: library, warnings: &warnings) {
                    devices.append(device)
                }
            } catch let error as DevicesError {
                warnings.append("skipping \(address): \(error.message)")
            } catch {
                warnings.append("skipping \(address): \(error)")
            }
        }
        return PCIScan(devices: devices, warnings: warnings)
    }

    /// Reads one function; nil (with a warning) when it disappeared or its identity is unreadable.
    ///
    /// The device's folder is opened once and every attribute read relative to it (see `OpenFolder`).
    func read(_ address: PCIAddress, library: PCILibrary, warnings: inout [String]) throws -> PCIDevice? {
        let entry = files.path(HostPaths.pciDevices.appending(address.description))
        guard let dir = try files.openFolder(entry) else {
            warnings.append(
                files.entryExists(entry)
                    ? "skipping \(address): \(entry) is a dangling link (the device disappeared during the scan)"
                    : "skipping \(address): \(entry) is missing (the device disappeared during the scan?)")
            return nil
        }
        func required(_ name: String, bits: Int) throws -> UInt32? {
            guard let text = try dir.readText(name) else {
                warnings.append(
                    "skipping \(address): \(dir.path(name)) is missing (the device disappeared during the scan?)")
                return nil
            }
            guard let value = parseHex(text, bits: bits) else {
                warnings.append("skipping \(address): \(dir.path(name)) holds \"\(text.prefix(40))\", not a hex value")
                return nil
            }
            return value
        }
        func optionalHex(_ name: String, bits: Int) throws -> UInt32? {
            guard let text = try dir.readText(name) else { return nil }
            guard let value = parseHex(text, bits: bits) else {
                warnings.append("\(address): ignoring \(dir.path(name)): \"\(text.prefix(40))\" is not a hex value")
                return nil
            }
            return value
        }
        guard let vendor = try required("vendor", bits: 16),
            let device = try required("device", bits: 16),
            let classCode = try required("class", bits: 24)
        else { return nil }
        let pciClass = PCIClass(rawValue: classCode)

        var config: ConfigSpace?
        do {
            guard let bytes = try dir.readAttribute("config") else {
                throw DevicesError(
                    code: .notFound,
                    message: "cannot read the configuration space of \(address): \(dir.path("config")) is missing")
            }
            config = try library.configSpace(of: address, bytes: bytes)
        } catch let error as DevicesError {
            warnings.append(error.message)
        }

        // Revision and an endpoint's subsystem come with the header; bridges keep theirs in a capability, which
        // the kernel's own attribute files already decode.
        var revision = config.map { UInt32($0.revision) }
        var subsystemVendor = config?.subsystem.map { UInt32($0.vendor) }
        var subsystemDevice = config?.subsystem.map { UInt32($0.device) }
        if config == nil { revision = try optionalHex("revision", bits: 8) }
        if config?.subsystem == nil {
            subsystemVendor = try optionalHex("subsystem_vendor", bits: 16)
            subsystemDevice = try optionalHex("subsystem_device", bits: 16)
        }

        var iommuGroup: Int?
        if let group = dir.linkName("iommu_group") {
            if let id = Int(group) {
                iommuGroup = id
            } else {
                warnings.append("\(address): ignoring \(dir.path("iommu_group")) → \(group): not a group number")
            }
        }
        var numaNode: Int?
        if let text = try dir.readText("numa_node"), let node = Int(text), node >= 0 {
            numaNode = node
        }
        let override = try dir.readText("driver_override")
        let resetMethods = try dir.readText("reset_method")?.split(separator: " ").map(String.init)
        // `reset_method` (5.15+) is visible exactly when `reset` is; older kernels have only `reset`.
        let hasReset = resetMethods.map { !$0.isEmpty } ?? dir.entryExists("reset")
        // The kernel creates `boot_vga` only for VGA-class devices.
        let isBootVGA = pciClass.isDisplay ? try dir.readText("boot_vga") == "1" : false
        let driver = dir.linkName("driver")
        let hasROM = dir.entryExists("rom")

        let v = UInt16(vendor)
        let d = UInt16(device)
        let space = config ?? ConfigSpace()
        return PCIDevice(
            address: address,
            vendorID: PCIID(v),
            deviceID: PCIID(d),
            subsystemVendorID: subsystemVendor.map { PCIID(UInt16(truncatingIfNeeded: $0)) },
            subsystemDeviceID: subsystemDevice.map { PCIID(UInt16(truncatingIfNeeded: $0)) },
            class: pciClass.description,
            className: nil,
            revision: revision.map { hex($0, width: 2) },
            vendorName: nil,
            deviceName: nil,
            subsystemName: nil,
            driver: driver,
            driverOverride: override == "(null)" || override?.isEmpty == true ? nil : override,
            iommuGroup: iommuGroup,
            isBridge: space.headerType == 1 || space.headerType == 2,
            headerType: Int(space.headerType),
            isMultifunction: space.isMultifunction,
            isBootVGA: isBootVGA,
            numaNode: numaNode,
            resetMethods: resetMethods ?? [],
            hasResetAttribute: hasReset,
            supportsFLR: space.supportsFLR,
            supportsAFFLR: space.supportsAFFLR,
            pmNoSoftReset: space.pmNoSoftReset,
            hasACS: space.hasACS,
            acsControl: space.acsControl.map { "0x" + hex($0, width: 4) },
            pcieType: space.pcieType.map(PCIScanner.pcieTypeName),
            hasROM: hasROM,
            vendorResetFamily: ResetQuirks.vendorResetFamily(vendor: v, device: d)?.name,
            isConfigComplete: config?.isExtendedReadable ?? false,
            sharing: try SharingReader(files: files).read(dir, warnings: &warnings),
            bars: try PCIBAR.read(in: dir)
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

/// The number of online CPUs.
func activeProcessorCount() -> Int {
    max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

/// Result slots that concurrent workers fill, each worker writing only its own index.
private struct DisjointSlots<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
}
