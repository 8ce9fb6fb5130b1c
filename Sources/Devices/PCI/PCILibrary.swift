import CPci
import Glibc
import SystemPackage

/// What the library reads from a function's configuration space through libpci.
struct ConfigSpace: Sendable {
    /// Header type (byte 0x0E, low 7 bits): 0 endpoint, 1 PCI-to-PCI bridge, 2 CardBus bridge.
    var headerType: UInt8 = 0
    /// Byte 0x0E bit 7: the device has more than one function.
    var isMultifunction = false
    /// The PCI Express device/port type (PCIe capability flags bits 4–7), nil for conventional PCI.
    var pcieType: UInt8?
    /// PCIe DevCap bit 28 (`PCI_EXP_DEVCAP_FLR`).
    var supportsFLR = false
    /// Advanced Features capability with `PCI_AF_CAP_FLR` and `TP`.
    var supportsAFFLR = false
    /// PM capability present.
    var hasPowerManagement = false
    /// PM control/status `PCI_PM_CTRL_NO_SOFT_RESET`; nil without a PM capability.
    var pmNoSoftReset: Bool?
    /// ACS extended capability (ID 0x000D) present.
    var hasACS = false
    /// ACS capability register, when present.
    var acsCapabilities: UInt16?
    /// ACS control register, when present.
    var acsControl: UInt16?
    /// Whether configuration space past the 64-byte header could be read (it needs root on a real host).
    var isExtendedReadable = true
    /// Revision (byte 0x08).
    var revision: UInt8 = 0
    /// Subsystem vendor and device (bytes 0x2C–0x2F of an endpoint header).
    var subsystem: (vendor: UInt16, device: UInt16)?
}

/// The one owner of a libpci handle: configuration-space capabilities and names from pci.ids.
///
/// libpci's fatal errors are turned into thrown errors by the `CPci` shim. Not thread-safe: use from one thread.
final class PCILibrary {
    private let access: UnsafeMutablePointer<pci_access>
    private let sysfsRoot: FilePath
    private var nameBuffer = [CChar](repeating: 0, count: 512)

    /// Opens libpci on the PCI bus directory `sysfsRoot` (for example `<sysroot>/sys/bus/pci`).
    /// - Throws: `DevicesError` when libpci cannot be initialised.
    init(sysfsRoot: FilePath, idsPath: String? = nil) throws {
        self.sysfsRoot = sysfsRoot
        // libpci falls back to no names at all, silently, when the file cannot be read.
        if let idsPath {
            let fd = open(idsPath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let errno = Errno(rawValue: Glibc.errno)
                throw DevicesError(
                    code: DevicesError.code(for: errno),
                    message: "cannot read the pci.ids file \(idsPath): \(DevicesError.hint(for: errno))", cause: errno)
            }
            var info = stat()
            let isRegular = fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
            close(fd)
            guard isRegular else {
                throw DevicesError(
                    code: .invalidData, message: "the pci.ids file \(idsPath) is not a regular file")
            }
        }
        let handle: UnsafeMutablePointer<pci_access>? = sysfsRoot.string.withCString { root in
            if let idsPath {
                return idsPath.withCString { cpci_open(root, $0) }
            }
            return cpci_open(root, nil)
        }
        guard let handle else {
            throw DevicesError(
                code: .internalError,
                message: "cannot initialise libpci on \(sysfsRoot): \(String(cString: cpci_last_error()))")
        }
        access = handle
        // An explicit ID file is the only source of names (deterministic for tests and saved trees).
        cpci_use_id_file_only(idsPath == nil ? 0 : 1)
    }

    deinit {
        cpci_close(access)
    }

    /// Parses the header and the capabilities of the function at `address` from its configuration space
    /// `bytes` (the content of its sysfs `config` file: 64 bytes unprivileged, 256 or 4096 as root).
    /// - Throws: `DevicesError` naming the device when the bytes are too short or libpci fails on them.
    func configSpace(of address: PCIAddress, bytes: [UInt8]) throws -> ConfigSpace {
        guard bytes.count >= 64 else {
            throw DevicesError(
                code: .invalidData,
                message: "the configuration space of \(address) (\(configPath(address))) is \(bytes.count) bytes, "
                    + "not a PCI header (64 bytes or more)")
        }
        guard
            let dev = cpci_get_dev(
                access, Int32(bitPattern: address.domain), Int32(address.bus), Int32(address.device),
                Int32(address.function))
        else {
            throw libraryError(address)
        }
        defer { cpci_free_dev(dev) }
        var info = ConfigSpace()
        info.headerType = bytes[0x0E] & 0x7F
        info.isMultifunction = bytes[0x0E] & 0x80 != 0
        info.revision = bytes[0x08]
        if info.headerType == 0 {
            info.subsystem = (
                UInt16(bytes[0x2C]) | UInt16(bytes[0x2D]) << 8, UInt16(bytes[0x2E]) | UInt16(bytes[0x2F]) << 8
            )
        }
        // The kernel shows unprivileged readers only the 64-byte header.
        info.isExtendedReadable = bytes.count > 64
        guard info.isExtendedReadable else { return info }
        var cache = bytes
        return try cache.withUnsafeMutableBufferPointer { buffer in
            // libpci reads from this buffer instead of reopening the config file for every register.
            cpci_setup_cache(dev, buffer.baseAddress, Int32(buffer.count))
            defer { cpci_setup_cache(dev, nil, 0) }
            return try capabilities(dev, address, into: info)
        }
    }

    private func capabilities(_ dev: UnsafeMutablePointer<pci_dev>, _ address: PCIAddress, into info: ConfigSpace)
        throws -> ConfigSpace
    {
        var info = info
        guard cpci_fill(dev, Int32(PCI_FILL_CAPS | PCI_FILL_EXT_CAPS)) >= 0 else {
            throw libraryError(address)
        }
        let express = cpci_find_cap(dev, UInt32(PCI_CAP_ID_EXP), UInt32(PCI_CAP_NORMAL))
        if express > 0 {
            let flags = readWord(dev, express + 2)
            info.pcieType = UInt8((flags & 0x00F0) >> 4)
            let devcap = readLong(dev, express + 4)
            info.supportsFLR = devcap & 0x1000_0000 != 0
        }
        let advanced = cpci_find_cap(dev, UInt32(PCI_CAP_ID_AF), UInt32(PCI_CAP_NORMAL))
        if advanced > 0 {
            // AF capability byte at +3: bit 0 TP, bit 1 FLR.
            let capabilities = readByte(dev, advanced + 3)
            info.supportsAFFLR = capabilities & 0x03 == 0x03
        }
        let power = cpci_find_cap(dev, UInt32(PCI_CAP_ID_PM), UInt32(PCI_CAP_NORMAL))
        if power > 0 {
            info.hasPowerManagement = true
            let control = readWord(dev, power + 4)
            info.pmNoSoftReset = control & UInt16(PCI_PM_CTRL_NO_SOFT_RST) != 0
        }
        let acs = cpci_find_cap(dev, UInt32(PCI_EXT_CAP_ID_ACS), UInt32(PCI_CAP_EXTENDED))
        if acs > 0 {
            info.hasACS = true
            info.acsCapabilities = readWord(dev, acs + 4)
            info.acsControl = readWord(dev, acs + 6)
        }
        return info
    }

    /// Fills a device's vendor, device, subsystem and class names from pci.ids.
    func name(_ device: inout PCIDevice) {
        let vendor = device.vendor
        let id = device.device
        device.vendorName = vendorName(vendor)
        device.deviceName = deviceName(vendor: vendor, device: id)
        device.className = className(device.pciClass.classAndSubclass)
        if let subvendor = device.subsystemVendorID?.rawValue, let subdevice = device.subsystemDeviceID?.rawValue,
            subvendor != 0 || subdevice != 0
        {
            device.subsystemName = subsystemName(vendor: vendor, device: id, subvendor: subvendor, subdevice: subdevice)
        }
    }

    /// The vendor's name from pci.ids, or nil when unknown.
    func vendorName(_ vendor: UInt16) -> String? {
        lookup { cpci_lookup_vendor(access, $0, $1, UInt32(vendor)) }
    }

    /// The device's name from pci.ids, or nil when unknown.
    func deviceName(vendor: UInt16, device: UInt16) -> String? {
        lookup { cpci_lookup_device(access, $0, $1, UInt32(vendor), UInt32(device)) }
    }

    /// The subsystem's name from pci.ids, or nil when unknown.
    func subsystemName(vendor: UInt16, device: UInt16, subvendor: UInt16, subdevice: UInt16) -> String? {
        lookup {
            cpci_lookup_subsystem(
                access, $0, $1, UInt32(vendor), UInt32(device), UInt32(subvendor), UInt32(subdevice))
        }
    }

    /// The name of a class (`0xCCSS`, base class and subclass), falling back to the base class name.
    func className(_ classAndSubclass: UInt16) -> String? {
        lookup { cpci_lookup_class(access, $0, $1, UInt32(classAndSubclass)) }
    }

    /// The name of a programming interface within a class, or nil.
    func progIfName(_ classAndSubclass: UInt16, _ progIf: UInt8) -> String? {
        lookup { cpci_lookup_progif(access, $0, $1, UInt32(classAndSubclass), UInt32(progIf)) }
    }

    private func lookup(_ body: (UnsafeMutablePointer<CChar>, Int32) -> UnsafePointer<CChar>?) -> String? {
        let count = Int32(nameBuffer.count)
        return nameBuffer.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = body(base, count) else { return nil }
            let name = String(cString: result)
            return name.isEmpty ? nil : name
        }
    }

    private func readByte(_ dev: UnsafeMutablePointer<pci_dev>, _ pos: Int32) -> UInt8 {
        UInt8(truncatingIfNeeded: cpci_read_byte(dev, pos))
    }

    private func readWord(_ dev: UnsafeMutablePointer<pci_dev>, _ pos: Int32) -> UInt16 {
        UInt16(truncatingIfNeeded: cpci_read_word(dev, pos))
    }

    private func readLong(_ dev: UnsafeMutablePointer<pci_dev>, _ pos: Int32) -> UInt32 {
        UInt32(truncatingIfNeeded: cpci_read_long(dev, pos))
    }

    private func configPath(_ address: PCIAddress) -> FilePath {
        sysfsRoot.pushing(FilePath("devices/\(address)/config"))
    }

    private func libraryError(_ address: PCIAddress) -> DevicesError {
        let message = String(cString: cpci_last_error())
        return DevicesError(
            code: .io, message: "libpci failed on \(address): \(message.isEmpty ? "unknown error" : message)")
    }
}
