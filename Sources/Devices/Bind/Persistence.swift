import Glibc
import SystemPackage

/// How a binding is made to survive a reboot.
public enum PersistMethod: String, Sendable, Codable, CaseIterable {
    /// `options vfio-pci ids=…` in modprobe.d: simple, but takes every device with the same IDs.
    case ids
    /// A udev rule that sets `driver_override` for exactly these addresses (the driverctl model).
    case override
}

/// One file `persist` writes or edits.
public struct PersistFile: Sendable, Hashable, Codable {
    /// The file, as the host names it.
    public var path: String
    /// Its full new content (for a shared file: the user's content with vfioctl's block).
    public var content: String
    /// Whether the file belongs to the user (only vfioctl's marked block is vfioctl's).
    public var isShared: Bool
}

/// Everything `persist` would do.
public struct PersistPlan: Sendable, Hashable, Codable {
    /// The functions made persistent.
    public var functions: [PCIAddress]
    /// `ids` or `override`.
    public var method: PersistMethod
    /// The files and their new content.
    public var files: [PersistFile]
    /// Files to delete (`--remove`).
    public var removals: [String]
    /// Commands the user runs afterwards (initramfs, bootloader).
    public var commands: [String]
    /// What to know (shared IDs, bootloaders vfioctl does not edit).
    public var notes: [String]
}

/// The marker lines around vfioctl's block in a file that belongs to the user.
enum ManagedBlock {
    static let begin = "# >>> vfioctl (managed block: `vfioctl persist --remove` takes it out)"
    static let beginAfterNewline = "# >>> vfioctl (managed block, a newline was added before it)"
    static let end = "# <<< vfioctl"

    /// `text` with `body` as vfioctl's block (replacing an earlier one).
    static func apply(_ body: [String], to text: String) -> String {
        let base = remove(from: text)
        if base.isEmpty { return ([begin] + body + [end]).joined(separator: "\n") + "\n" }
        let needsNewline = !base.hasSuffix("\n")
        return base + (needsNewline ? "\n" : "")
            + ([needsNewline ? beginAfterNewline : begin] + body + [end])
            .joined(separator: "\n") + "\n"
    }

    /// `text` without vfioctl's block, byte for byte as it was before the block was added.
    static func remove(from text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0 == begin || $0 == beginAfterNewline }),
            let stop = lines[start...].firstIndex(of: end)
        else { return text }
        let addedNewline = lines[start] == beginAfterNewline
        lines.removeSubrange(start...stop)
        var result = lines.joined(separator: "\n")
        if addedNewline && result.hasSuffix("\n") { result.removeLast() }
        return result
    }
}

extension Host {
    /// Module names whose driver must wait for vfio-pci (`softdep <driver> pre: vfio-pci`).
    static let softdepDrivers = ["amdgpu", "radeon", "nouveau", "nvidia"]

    /// Works out the files that make a binding survive reboot, without writing anything.
    /// - Parameters:
    ///   - targets: what the user named (as for `bind`).
    ///   - options: `--group` and `--only`, as for `bind`.
    ///   - method: nil picks `ids`, or `override` when another device shares an ID.
    ///   - remove: take everything out again instead.
    /// - Returns: every file with its new content, the removals, and the commands to run afterwards.
    /// - Throws: `DevicesError` for unknown targets or unreadable files.
    public func planPersist(
        _ targets: [BindTarget], options: BindOptions, method: PersistMethod?, remove: Bool
    ) throws -> PersistPlan {
        let files = self.files
        let report = try report()
        var notes: [String] = []
        var functions: [PCIAddress] = []
        if !remove {
            var forced = options
            forced.force = true
            // The same resolution as bind, without the "in use now" refusals: persistence acts at the next boot.
            let plan = try planBind(targets, options: forced)
            functions = (plan.functions + plan.alreadyBound).sorted()
            notes += plan.notes.filter { !$0.hasPrefix("forced: ") }
        }
        let chosen = functions.compactMap { report.device(at: $0) }
        let ids = Array(Set(chosen.map(\.ids))).sorted()
        let others = report.devices.filter { device in
            ids.contains(device.ids) && !functions.contains(device.address)
        }
        var method = method ?? (others.isEmpty ? .ids : .override)
        if !others.isEmpty {
            let names = others.map { "\($0.address) (\($0.ids))" }.joined(separator: ", ")
            notes.append(
                "ids= would also take \(names), which share\(others.count == 1 ? "s" : "") an ID; "
                    + (method == .ids ? "use --method override to bind by address" : "binding by address instead"))
        }
        if remove { method = .ids }
        let state = BindingState.load(files)
        var drivers = Set<String>()
        for device in chosen {
            if let driver = device.driver, driver != "vfio-pci" { drivers.insert(driver) }
            if let original = state.functions[device.address.description]?.originalDriver { drivers.insert(original) }
        }
        // The GPU drivers that would grab these devices at boot must wait for vfio-pci; NVIDIA's USB-C functions
        // are claimed by xhci_hcd and i2c_nvidia_gpu.
        var softdeps = Self.softdepDrivers.filter { drivers.contains($0) }
        for device in chosen where device.pciClass.isDisplay {
            if device.vendor == 0x1002 { softdeps += ["amdgpu", "radeon"] }
            if device.vendor == 0x10DE { softdeps += ["nouveau", "nvidia"] }
        }
        if chosen.contains(where: {
            $0.vendor == 0x10DE && ($0.pciClass.isUSBController || $0.pciClass.isSerialBusOther)
        }) {
            softdeps += ["xhci_hcd", "i2c_nvidia_gpu"]
        }
        softdeps =
            Self.softdepDrivers.filter(softdeps.contains) + ["xhci_hcd", "i2c_nvidia_gpu"].filter(softdeps.contains)
        let kernel = try kernelRelease().flatMap(KernelVersion.init(release:))
        var modules = ["vfio_pci", "vfio", "vfio_iommu_type1"]
        if let kernel, kernel < KernelVersion(6, 2) { modules.append("vfio_virqfd") }

        var plan = PersistPlan(
            functions: functions, method: method, files: [], removals: [], commands: [], notes: notes)
        let modprobe = HostPaths.modprobeConfig.appending("vfioctl.conf")
        let udevRule = HostPaths.udevRules.appending("80-vfioctl.rules")
        if remove {
            plan.removals = [
                modprobe.string, udevRule.string, HostPaths.dracutConfig.appending("vfioctl.conf").string,
                HostPaths.mkinitcpioConfig.appending("vfioctl.conf").string, HostPaths.grubDropIn.string,
            ]
            .filter { files.entryExists(files.path(FilePath($0))) }
        } else {
            var lines = ["# Written by vfioctl persist: vfio-pci takes these devices at boot."]
            lines += chosen.map { "#   \($0.address) \($0.ids) \($0.deviceName ?? $0.className ?? "")" }
            if method == .ids { lines.append("options vfio-pci ids=" + ids.joined(separator: ",")) }
            lines += softdeps.map { "softdep \($0) pre: vfio-pci" }
            plan.files.append(
                PersistFile(path: modprobe.string, content: lines.joined(separator: "\n") + "\n", isShared: false))
            if method == .override {
                var rule = ["# Written by vfioctl persist: these exact devices go to vfio-pci (driver_override)."]
                rule += chosen.map {
                    "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"\($0.address)\", ATTR{driver_override}=\"vfio-pci\", "
                        + "RUN+=\"/sbin/modprobe vfio-pci\""
                }
                plan.files.append(
                    PersistFile(path: udevRule.string, content: rule.joined(separator: "\n") + "\n", isShared: false))
            }
        }

        // The initramfs: vfio-pci must be there before the GPU drivers.
        let initramfsTools = HostPaths.initramfsModules
        if files.exists(files.path(initramfsTools)) || files.exists(files.path(FilePath("/usr/sbin/update-initramfs")))
        {
            let current = String(decoding: try files.read(files.path(initramfsTools)) ?? [], as: UTF8.self)
            let content = remove ? ManagedBlock.remove(from: current) : ManagedBlock.apply(modules, to: current)
            if remove && content.isEmpty && !current.isEmpty {
                plan.removals.append(initramfsTools.string)
            } else if content != current || !remove {
                plan.files.append(PersistFile(path: initramfsTools.string, content: content, isShared: true))
            }
            plan.commands.append("update-initramfs -u -k all")
        } else if files.exists(files.path(FilePath("/usr/bin/dracut")))
            || files.exists(files.path(HostPaths.dracutConfig))
        {
            if !remove {
                plan.files.append(
                    PersistFile(
                        path: HostPaths.dracutConfig.appending("vfioctl.conf").string,
                        content:
                            "# Written by vfioctl persist.\nforce_drivers+=\" \(modules.joined(separator: " ")) \"\n",
                        isShared: false))
            }
            plan.commands.append("dracut -f --regenerate-all")
        } else if files.exists(files.path(FilePath("/usr/bin/mkinitcpio")))
            || files.exists(files.path(HostPaths.mkinitcpioConfig))
        {
            if !remove {
                plan.files.append(
                    PersistFile(
                        path: HostPaths.mkinitcpioConfig.appending("vfioctl.conf").string,
                        content: "# Written by vfioctl persist.\nMODULES+=(\(modules.joined(separator: " ")))\n",
                        isShared: false))
            }
            plan.commands.append("mkinitcpio -P")
        } else {
            plan.notes.append(
                "no initramfs tool found (initramfs-tools, dracut, mkinitcpio): add \(modules.joined(separator: " ")) to yours"
            )
        }

        // The kernel command line, as a drop-in: the user's own options are never rewritten.
        let iommu = report.iommu
        var arguments = ["iommu=pt"]
        if iommu.cpuVendor == "intel" { arguments.insert("intel_iommu=on", at: 0) }
        if files.exists(files.path(HostPaths.grubDefaults)) {
            if !remove {
                plan.files.append(
                    PersistFile(
                        path: HostPaths.grubDropIn.string,
                        content: "# Written by vfioctl persist: the IOMMU options vfio needs.\n"
                            + "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT \(arguments.joined(separator: " "))\"\n",
                        isShared: false))
            }
            plan.commands.append(
                files.exists(files.path(FilePath("/usr/sbin/update-grub")))
                    ? "update-grub" : "grub-mkconfig -o /boot/grub/grub.cfg")
        } else if !remove {
            plan.notes.append(
                "no GRUB found: add \(arguments.joined(separator: " ")) to your bootloader's kernel command line "
                    + "(systemd-boot: /etc/kernel/cmdline; kernelstub -a; grubby --update-kernel=ALL --args)")
        }
        return plan
    }

    /// Writes a persistence plan: every file atomically, keeping a backup of a different previous file.
    /// - Returns: the files written (unchanged ones are left alone) and removed.
    /// - Throws: `DevicesError` naming the file that could not be written.
    public func applyPersist(_ plan: PersistPlan) throws -> (written: [String], removed: [String]) {
        let files = self.files
        var written: [String] = []
        for file in plan.files {
            let outcome = try AtomicFile.write(
                Array(file.content.utf8), to: files.path(FilePath(file.path)), mode: 0o644, backup: !file.isShared,
                within: files.sysroot)
            if !outcome.unchanged { written.append(file.path) }
        }
        var removed: [String] = []
        for path in plan.removals {
            let rooted = files.path(FilePath(path))
            let backup = rooted.removingLastComponent().appending((rooted.lastComponent?.string ?? "") + ".bak")
            if files.entryExists(backup) {
                guard files.rename(backup, rooted) == 0 else {
                    throw DevicesError.write(rooted, Errno(rawValue: errno))
                }
            } else {
                guard files.unlink(rooted) == 0 else { throw DevicesError.write(rooted, Errno(rawValue: errno)) }
            }
            removed.append(path)
        }
        return (written, removed)
    }
}
