import SystemPackage

/// A ROM file put where QEMU may read it.
public struct ROMInstallation: Sendable, Hashable, Codable {
    /// The installed file, as the host names it.
    public var path: String
    /// Where a different previous file was kept, if any.
    public var backup: String?
    /// Whether the same bytes were already installed.
    public var unchanged: Bool
    /// The line for the `<hostdev>` element: `<rom file='…'/>`.
    public var romElement: String
}

extension Host {
    /// Dumps a device's ROM through sysfs: `rom` ← 1, read it, `rom` ← 0 again (also when reading fails).
    /// - Parameters:
    ///   - address: the device.
    ///   - io: the kernel-attribute access; tests pass a fake that plays the kernel.
    /// - Returns: the ROM's bytes, unchecked.
    /// - Throws: `DevicesError` naming the device, with the likely cause and the ways out when the kernel refuses.
    public func dumpROM(of address: PCIAddress, io: (any HostIO)? = nil) throws -> [UInt8] {
        let io = io ?? self.io
        let files = self.files
        let directory = try deviceDirectory(address)
        let rom = directory.appending("rom")
        guard files.entryExists(rom) else {
            throw DevicesError(
                code: .notFound,
                message: "\(address) has no ROM BAR (no rom attribute): there is nothing to dump; use the card "
                    + "vendor's ROM file, or none (`<rom bar='off'/>`)")
        }
        do {
            try io.write("1", to: rom)
        } catch let error as DevicesError {
            throw DevicesError(
                code: error.code, message: "cannot enable the ROM of \(address): \(error.message)", cause: error)
        }
        var bytes: [UInt8]?
        var failure: DevicesError?
        do {
            bytes = try io.read(rom)
        } catch let error as DevicesError {
            failure = error
        }
        // The ROM is switched off again whatever happened; a failure to do so is reported, not hidden.
        do {
            try io.write("0", to: rom)
        } catch let error as DevicesError {
            if failure == nil {
                failure = DevicesError(
                    code: error.code,
                    message: "read the ROM of \(address) but could not disable it again: "
                        + error.message, cause: error)
            }
        }
        if let failure {
            if let errno = failure.cause as? Errno, errno == .ioError {
                throw refusal(address, directory: directory, cause: failure)
            }
            throw DevicesError(code: failure.code, message: failure.message, cause: failure)
        }
        guard let bytes, !bytes.isEmpty else {
            throw refusal(address, directory: directory, cause: nil)
        }
        return bytes
    }

    /// The kernel refused to hand out the ROM: why that usually happens to this device, and what to do.
    private func refusal(_ address: PCIAddress, directory: FilePath, cause: DevicesError?) -> DevicesError {
        let files = self.files
        let isBootVGA = (try? files.readText(directory.appending("boot_vga"))) == "1"
        let driver = files.linkName(directory.appending("driver"))
        let reason: String
        if isBootVGA {
            reason =
                "it is the boot GPU, whose ROM the kernel serves from the firmware's shadow copy, which may be "
                + "missing or altered"
        } else if let driver, !ViabilityRule.isVFIODriver(driver) {
            reason = "its driver \(driver) is using the card"
        } else {
            reason = "the ROM holds no valid image (no 55 AA signature)"
        }
        return DevicesError(
            code: .io,
            message: "the kernel refused to read the ROM of \(address) (input/output error): likely \(reason); "
                + "bind it to vfio-pci first and retry, dump it with the card in a second (non-boot) slot, or use a "
                + "trusted ROM file (the card vendor's)",
            cause: cause)
    }

    /// The vendor and device IDs of a PCI function, from sysfs.
    /// - Throws: `DevicesError` when the device does not exist or its IDs are unreadable.
    public func ids(of address: PCIAddress) throws -> (vendor: UInt16, device: UInt16) {
        let files = self.files
        let directory = try deviceDirectory(address)
        guard let vendorText = try files.readText(directory.appending("vendor")),
            let deviceText = try files.readText(directory.appending("device")),
            let vendor = parseHex(vendorText, bits: 16), let device = parseHex(deviceText, bits: 16)
        else {
            throw DevicesError(code: .invalidData, message: "cannot read the IDs of \(address) from \(directory)")
        }
        return (UInt16(vendor), UInt16(device))
    }

    /// Installs a checked ROM for a device under `/usr/share/vgabios` (mode 0644, atomically, with a backup of a
    /// different previous file) and returns the `<rom file=…/>` line.
    /// - Throws: `DevicesError` when the ROM is not valid or not for this device, or the file cannot be written.
    public func installROM(_ bytes: [UInt8], for address: PCIAddress, source: String) throws -> ROMInstallation {
        let ids = try self.ids(of: address)
        let check = VBIOS.check(bytes, for: ids)
        guard check.valid else {
            throw DevicesError(
                code: .invalidData,
                message: "\(source) is not a usable ROM for \(address): " + check.problems.joined(separator: "; "))
        }
        let hostPath = Self.installedROMPath(vendor: ids.vendor, device: ids.device, address: address)
        let outcome = try AtomicFile.write(bytes, to: files.path(hostPath), mode: 0o644, within: files.sysroot)
        return ROMInstallation(
            path: hostPath.string, backup: outcome.backup.map { files.hostPath($0).string },
            unchanged: outcome.unchanged,
            romElement: "<rom file='\(hostPath.string)'/>")
    }

    /// Where `installROM` puts the ROM of a device: `/usr/share/vgabios/VVVV-DDDD-DOMAIN-BB-SS.F.rom`.
    static func installedROMPath(vendor: UInt16, device: UInt16, address: PCIAddress) -> FilePath {
        HostPaths.vgaBIOS.appending(
            "\(hex(vendor, width: 4))-\(hex(device, width: 4))-"
                + address.description.replacingOccurrences(of: ":", with: "-") + ".rom")
    }

    /// The rooted sysfs directory of a PCI function.
    /// - Throws: `DevicesError` when the sysroot is unusable or the device does not exist.
    func deviceDirectory(_ address: PCIAddress) throws -> FilePath {
        try validate()
        let directory = files.path(HostPaths.pciDevices.appending(address.description))
        guard files.exists(directory) else {
            throw DevicesError(
                code: .notFound, message: "no PCI device \(address) on this host", object: .target(address.description))
        }
        return directory
    }
}
