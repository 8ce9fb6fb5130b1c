import Glibc
import SystemPackage

/// A Linux host (or a fake host tree) to inspect: the entry point of the library.
public struct Host: Sendable {
    /// Where host paths are resolved.
    public let sysroot: Sysroot
    /// The pci.ids file libpci reads names from; nil for libpci's default.
    public let pciIDsPath: String?

    /// Creates a host rooted at `sysroot`.
    public init(sysroot: Sysroot = .host, pciIDsPath: String? = nil) {
        self.sysroot = sysroot
        self.pciIDsPath = pciIDsPath
    }

    var files: HostFiles { HostFiles(sysroot: sysroot) }

    /// Kernel-attribute access confined to this host's sysroot (no host program is run under another root).
    public var io: LiveHostIO { LiveHostIO(sysroot: sysroot) }

    /// Checks that the sysroot is a readable directory.
    /// - Throws: `DevicesError` naming the sysroot and the fix.
    public func validate() throws {
        let files = self.files
        guard files.exists(sysroot.root) else {
            throw DevicesError(
                code: .notFound,
                message: "sysroot \(sysroot) does not exist", object: .sysroot(sysroot.description))
        }
        guard files.isDirectory(sysroot.root) else {
            throw DevicesError(code: .invalidArgument, message: "sysroot \(sysroot) is not a directory")
        }
        _ = try files.list(sysroot.root)
    }

    /// The running kernel's release (`/proc/sys/kernel/osrelease`), or nil.
    public func kernelRelease() throws -> String? {
        try files.readText(files.path(HostPaths.kernelRelease))
    }

    /// Reads the whole host: IOMMU, devices, groups, GPUs.
    /// - Throws: `DevicesError` when the sysroot or the PCI device directory cannot be read.
    public func report() throws -> HostReport {
        try validate()
        let files = self.files
        var scan = try PCIScanner(files: files, idsPath: pciIDsPath).scan()
        let release = try kernelRelease()
        let kernel = release.flatMap(KernelVersion.init(release:))
        var onBus: [UInt64: Int] = [:]
        var inSlot: [PCIAddress: Int] = [:]
        for device in scan.devices {
            onBus[UInt64(device.address.domain) << 8 | UInt64(device.address.bus), default: 0] += 1
            inSlot[device.address.slot, default: 0] += 1
        }
        for index in scan.devices.indices {
            let address = scan.devices[index].address
            scan.devices[index].reset = ResetReport(
                device: scan.devices[index],
                busSiblings: (onBus[UInt64(address.domain) << 8 | UInt64(address.bus)] ?? 1) - 1,
                functionsInSlot: inSlot[address.slot] ?? 1, kernel: kernel)
        }
        let running = runningGuestDefinitions()
        for index in scan.devices.indices {
            guard var sharing = scan.devices[index].sharing, !sharing.mediatedDevices.isEmpty else { continue }
            for m in sharing.mediatedDevices.indices {
                let uuid = sharing.mediatedDevices[m].uuid
                sharing.mediatedDevices[m].guest = running.first { $0.definition.lowercased().contains(uuid) }?.name
            }
            scan.devices[index].sharing = sharing
        }
        let rule = ViabilityRule(kernel: kernel)
        let builder = GroupBuilder(files: files, rule: rule)
        let members = try builder.members()
        var byAddress: [PCIAddress: PCIDevice] = [:]
        for device in scan.devices { byAddress[device.address] = device }
        let groups = builder.judge(members, devices: byAddress)
        let iommu = try IOMMUInspector(files: files).inspect(groupCount: groups.count)
        var groupsByID: [Int: IOMMUGroup] = [:]
        for group in groups { groupsByID[group.id] = group }
        var gpus = GPUAnalyzer(devices: scan.devices, groups: groupsByID, iommuEnabled: iommu.enabled).gpus()
        for index in gpus.indices where gpus[index].vendor == "intel" && gpus[index].isIntegrated {
            guard let device = byAddress[gpus[index].address] else { continue }
            gpus[index].intel = try IntelGraphics.read(device, files: files)
        }
        var warnings = scan.warnings
        if sysroot.isHostRoot, geteuid() != 0, scan.devices.contains(where: { !$0.isConfigComplete }) {
            warnings.append(
                "not root: configuration space past the first 64 bytes is hidden, so FLR, PM reset and ACS are "
                    + "unknown; run as root for the full report")
        }
        return HostReport(
            iommu: iommu, kernelRelease: release, viabilityRule: rule, devices: scan.devices, groups: groups,
            gpus: gpus, warnings: warnings)
    }

    /// The live definitions of the running guests: libvirt's `/run/libvirt/qemu/<guest>.xml` files whose guest has a
    /// live process.
    func runningGuestDefinitions() -> [(name: String, definition: String)] {
        let files = self.files
        let names = (try? files.list(files.path(HostPaths.libvirtQEMURun))) ?? nil
        var found: [(name: String, definition: String)] = []
        for file in (names ?? []).sorted() where file.hasSuffix(".xml") {
            let guest = String(file.dropLast(".xml".count))
            guard runningGuestPID(guest) != nil,
                let text = try? files.readText(files.path(HostPaths.libvirtQEMURun.appending(file)))
            else { continue }
            found.append((guest, text))
        }
        return found
    }
}
