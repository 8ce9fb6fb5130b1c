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
    /// Whether the file belongs to the user (a file of theirs with vfioctl's block, or their own file put back).
    public var isShared: Bool
}

/// Everything `persist` would do.
public struct PersistPlan: Sendable, Hashable, Codable {
    /// The functions this call persists, or takes out (`--remove`).
    public var functions: [PCIAddress]
    /// How `functions` are bound at boot (`ids` or `override`); nil when they are taken out.
    public var method: PersistMethod?
    /// Every function persisted once the plan is applied: earlier persists and this one.
    public var persisted: [PersistedFunction]
    /// The files and their new content, the state file first.
    public var files: [PersistFile]
    /// Files to delete: vfioctl's own files, backups earlier versions kept beside them, and the state file last.
    public var removals: [String]
    /// Folders vfioctl created for its files, removed after the files when they are empty.
    public var directories: [String]
    /// Commands the user runs afterwards (initramfs, bootloader).
    public var commands: [String]
    /// What to know (shared IDs, bootloaders vfioctl does not edit).
    public var notes: [String]
    /// What the guards refused and `force` overrode.
    public var forced: [GuardRefusal] = []
}

extension Host {
    /// Module names whose driver must wait for vfio-pci (`softdep <driver> pre: vfio-pci`).
    static let softdepDrivers = ["amdgpu", "radeon", "nouveau", "nvidia"]
    /// Every softdep vfioctl writes, in the order it writes them.
    static let softdepOrder = softdepDrivers + ["xhci_hcd", "i2c_nvidia_gpu"]
    /// The files that are vfioctl's own: it writes them whole, and `--remove` deletes them (or puts back the user's
    /// file that was there first).
    static let ownPersistFiles = [
        HostPaths.modprobeConfig.appending("vfioctl.conf"), HostPaths.udevRules.appending("80-vfioctl.rules"),
        HostPaths.dracutConfig.appending("vfioctl.conf"), HostPaths.mkinitcpioConfig.appending("vfioctl.conf"),
        HostPaths.grubDropIn,
    ]
    /// The first line of every file that is vfioctl's own.
    static let ownHeader = "# Written by vfioctl persist"

    /// Works out the files that make bindings survive reboot, without writing anything.
    ///
    /// Persisting adds to what earlier persists recorded in `/etc/vfioctl/persist.json` (a function persisted again
    /// takes the new method), and every file is computed from that whole set. Removing with targets takes out those
    /// functions (a GPU's companions with it, as persisting brought them); removing without targets takes out all.
    /// When nothing is left, vfioctl's own files are deleted (or the user's file that was at their place is put
    /// back), its block leaves the user's files, which are then byte for byte what they were, and the state file and
    /// the folders vfioctl created go too.
    /// - Parameters:
    ///   - targets: what the user named (as for `bind`); with `remove`, empty means everything.
    ///   - options: `--group` and `--only`, as for `bind`.
    ///   - method: nil picks `ids`, or `override` when a device not persisted shares an ID.
    ///   - remove: take the targets (or everything) out instead.
    ///   - io: the kernel (asked whether block devices are claimed).
    /// - Returns: every file with its new content, the removals, and the commands to run afterwards.
    /// - Throws: `DevicesError` for unknown targets, targets that are not persisted, and unreadable files.
    public func planPersist(
        _ targets: [BindTarget], options: BindOptions, method: PersistMethod?, remove: Bool,
        io: (any HostIO)? = nil
    ) throws -> PersistPlan {
        let io = io ?? self.io
        let files = self.files
        let report = try report()
        let state = try PersistState.load(files)
        // Without a state file, what an earlier version wrote is read back, so a persist adds to it.
        var persisted = state?.functions ?? PersistState.imported(files)
        var notes: [String] = []
        var forced: [GuardRefusal] = []
        var functions: [PCIAddress] = []
        var chosenMethod: PersistMethod?
        if remove {
            functions =
                targets.isEmpty
                ? persisted.map(\.address)
                : try persistedFunctions(targets, options: options, report: report, persisted: persisted)
            persisted.removeAll { functions.contains($0.address) }
        } else {
            // The same resolution and the same guards as bind: what would hurt the host now hurts it at every boot.
            let plan = try planBind(targets, options: options, io: io)
            functions = (plan.functions + plan.alreadyBound).sorted()
            notes += plan.notes
            forced = plan.forced
            let chosen = functions.compactMap { report.device(at: $0) }
            let ids = Set(chosen.map(\.ids))
            let kept = Set(functions + persisted.map(\.address))
            let others = report.devices.filter { ids.contains($0.ids) && !kept.contains($0.address) }
            let method = method ?? (others.isEmpty ? .ids : .override)
            if !others.isEmpty {
                let names = others.map { "\($0.address) (\($0.ids))" }.joined(separator: ", ")
                notes.append(
                    "ids= would also take \(names), which share\(others.count == 1 ? "s" : "") an ID; "
                        + (method == .ids
                            ? "binding by address (the override method) avoids that" : "binding by address instead"))
            }
            chosenMethod = method
            let bindings = BindingState.load(files)
            for device in chosen {
                var function = PersistedFunction(
                    address: device.address, vendor: device.vendor, device: device.device, method: method,
                    softdeps: Self.softdeps(
                        of: device, originalDriver: bindings.functions[device.address]?.originalDriver))
                if let index = persisted.firstIndex(where: { $0.address == device.address }) {
                    // Once on vfio-pci after a reboot a device no longer shows the driver it had: keep what was known.
                    function.softdeps = Self.ordered(Set(function.softdeps + persisted[index].softdeps))
                    persisted[index] = function
                } else {
                    persisted.append(function)
                }
            }
            persisted.sort { $0.address < $1.address }
        }

        var plan = PersistPlan(
            functions: functions, method: chosenMethod, persisted: persisted, files: [], removals: [],
            directories: [], commands: [], notes: notes, forced: forced)
        let wanted = try persistFiles(persisted, report: report, plan: &plan)
        var originals: [PersistState.Original] = []
        try planOwnFiles(wanted: wanted, recorded: state?.originals ?? [], originals: &originals, plan: &plan)
        try planInitramfsModules(
            wanted: wanted.modules, recorded: state?.originals ?? [], originals: &originals, plan: &plan)

        if persisted.isEmpty {
            if state != nil { plan.removals.append(HostPaths.persistState.string) }
            plan.directories = (state?.createdDirectories ?? [])
                .filter { files.isDirectory(files.path(FilePath($0))) }
                .sorted { FilePath($0).components.count > FilePath($1).components.count }
        } else {
            var created = state?.createdDirectories ?? []
            for path in [HostPaths.persistState.string] + plan.files.map(\.path) {
                var directory = FilePath(path).removingLastComponent()
                var missing: [String] = []
                while !directory.components.isEmpty && !files.isDirectory(files.path(directory)) {
                    missing.append(directory.string)
                    directory = directory.removingLastComponent()
                }
                created += missing.filter { !created.contains($0) }
            }
            let next = PersistState(
                functions: persisted, originals: originals.sorted { $0.path < $1.path },
                createdDirectories: created.sorted())
            plan.files.insert(
                PersistFile(path: HostPaths.persistState.string, content: try next.encoded(), isShared: false), at: 0)
        }
        return plan
    }

    /// The content vfioctl's files should have for `persisted` (none when it is empty), and the commands to run.
    private func persistFiles(
        _ persisted: [PersistedFunction], report: HostReport, plan: inout PersistPlan
    ) throws -> (own: [FilePath: String], modules: [String]?) {
        let files = self.files
        var own: [FilePath: String] = [:]
        var modules = ["vfio_pci", "vfio", "vfio_iommu_type1"]
        let kernel = try kernelRelease().flatMap(KernelVersion.init(release:))
        if let kernel, kernel < KernelVersion(6, 2) { modules.append("vfio_virqfd") }
        let persisting = !persisted.isEmpty
        if persisting {
            var lines = ["\(Self.ownHeader): vfio-pci takes these devices at boot."]
            lines += persisted.map { function in
                let device = report.device(at: function.address)
                return "#   \(function.address) \(function.idsText) \(device?.deviceName ?? device?.className ?? "")"
            }
            let ids = Set(persisted.filter { $0.method == .ids }.map(\.idsText)).sorted()
            if !ids.isEmpty { lines.append("options vfio-pci ids=" + ids.joined(separator: ",")) }
            lines += Self.ordered(Set(persisted.flatMap(\.softdeps))).map { "softdep \($0) pre: vfio-pci" }
            own[HostPaths.modprobeConfig.appending("vfioctl.conf")] = lines.joined(separator: "\n") + "\n"
            let byAddress = persisted.filter { $0.method == .override }
            if !byAddress.isEmpty {
                var rule = ["\(Self.ownHeader): these exact devices go to vfio-pci (driver_override)."]
                rule += byAddress.map {
                    "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"\($0.address)\", ATTR{driver_override}=\"vfio-pci\", "
                        + "RUN+=\"/sbin/modprobe vfio-pci\""
                }
                own[HostPaths.udevRules.appending("80-vfioctl.rules")] = rule.joined(separator: "\n") + "\n"
            }
        }

        // The initramfs: vfio-pci must be there before the GPU drivers.
        var initramfsModules: [String]?
        if files.exists(files.path(HostPaths.initramfsModules))
            || files.exists(files.path(FilePath("/usr/sbin/update-initramfs")))
        {
            if persisting { initramfsModules = modules }
            plan.commands.append("update-initramfs -u -k all")
        } else if files.exists(files.path(FilePath("/usr/bin/dracut")))
            || files.exists(files.path(HostPaths.dracutConfig))
        {
            if persisting {
                own[HostPaths.dracutConfig.appending("vfioctl.conf")] =
                    "\(Self.ownHeader).\nforce_drivers+=\" \(modules.joined(separator: " ")) \"\n"
            }
            plan.commands.append("dracut -f --regenerate-all")
        } else if files.exists(files.path(FilePath("/usr/bin/mkinitcpio")))
            || files.exists(files.path(HostPaths.mkinitcpioConfig))
        {
            if persisting {
                own[HostPaths.mkinitcpioConfig.appending("vfioctl.conf")] =
                    "\(Self.ownHeader).\nMODULES+=(\(modules.joined(separator: " ")))\n"
            }
            plan.commands.append("mkinitcpio -P")
        } else if persisting {
            plan.notes.append(
                "no initramfs tool found (initramfs-tools, dracut, mkinitcpio): add \(modules.joined(separator: " ")) to yours"
            )
        }

        // The kernel command line, as a drop-in: the user's own options are never rewritten.
        var arguments = ["iommu=pt"]
        if report.iommu.cpuVendor == "intel" { arguments.insert("intel_iommu=on", at: 0) }
        if files.exists(files.path(HostPaths.grubDefaults)) {
            if persisting {
                own[HostPaths.grubDropIn] =
                    "\(Self.ownHeader): the IOMMU options vfio needs.\n"
                    + "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT \(arguments.joined(separator: " "))\"\n"
            }
            plan.commands.append(
                files.exists(files.path(FilePath("/usr/sbin/update-grub")))
                    ? "update-grub" : "grub-mkconfig -o /boot/grub/grub.cfg")
        } else if persisting {
            plan.notes.append(
                "no GRUB found: add \(arguments.joined(separator: " ")) to your bootloader's kernel command line "
                    + "(systemd-boot: /etc/kernel/cmdline; kernelstub -a; grubby --update-kernel=ALL --args)")
        }
        return (own, initramfsModules)
    }

    /// Plans each of vfioctl's own files: written when wanted, otherwise deleted, or the user's file that was there
    /// before put back; never from a backup of vfioctl's own content.
    private func planOwnFiles(
        wanted: (own: [FilePath: String], modules: [String]?), recorded: [PersistState.Original],
        originals: inout [PersistState.Original], plan: inout PersistPlan
    ) throws {
        let files = self.files
        for path in Self.ownPersistFiles {
            let current = try files.read(files.path(path))
            let backupPath = FilePath(path.string + ".bak")
            let backup = try files.read(files.path(backupPath))
            var original = PersistState.Original(path: path.string, existed: false, content: nil)
            var backupIsOriginal = false
            if let current, !Self.isOwn(current) {
                // The user's file (again): it is what vfioctl's file replaces, and what --remove puts back.
                original = .init(path: path.string, existed: true, content: try Self.text(current, of: path))
            } else if let earlier = recorded.first(where: { $0.path == path.string }) {
                original = earlier
            } else if current != nil, let backup, !Self.isOwn(backup) {
                // Without a state file, vfioctl's file of an earlier version: the backup it kept is the user's file.
                original = .init(path: path.string, existed: true, content: try Self.text(backup, of: backupPath))
                backupIsOriginal = true
            }
            if let backup, Self.isOwn(backup) || backupIsOriginal { plan.removals.append(backupPath.string) }
            if let content = wanted.own[path] {
                plan.files.append(PersistFile(path: path.string, content: content, isShared: false))
                originals.append(original)
                if let current, !Self.isOwn(current) {
                    plan.notes.append(
                        "\(path) holds a file vfioctl did not write: \(HostPaths.persistState) keeps it, and removing "
                            + "everything persisted puts it back")
                }
            } else if let current, !Self.isOwn(current) {
                continue
            } else if original.existed, let content = original.content {
                if current != Array(content.utf8) {
                    plan.files.append(PersistFile(path: path.string, content: content, isShared: true))
                }
            } else if current != nil {
                plan.removals.append(path.string)
            }
        }
    }

    /// Plans initramfs-tools' modules file, the user's: vfioctl's block in it, or out again.
    private func planInitramfsModules(
        wanted: [String]?, recorded: [PersistState.Original], originals: inout [PersistState.Original],
        plan: inout PersistPlan
    ) throws {
        let path = HostPaths.initramfsModules
        let current = try files.read(files.path(path)).map { try Self.text($0, of: path) }
        let existed =
            recorded.first { $0.path == path.string }?.existed
            // Without a state file: a file that is only vfioctl's block was created by vfioctl.
            ?? current.map {
                ManagedBlock.persist.remove(from: $0) == $0 || !ManagedBlock.persist.remove(from: $0).isEmpty
            } ?? false
        if let wanted {
            plan.files.append(
                PersistFile(
                    path: path.string, content: ManagedBlock.persist.apply(wanted, to: current ?? ""), isShared: true))
            originals.append(.init(path: path.string, existed: existed, content: nil))
        } else if let current, ManagedBlock.persist.remove(from: current) != current {
            let content = ManagedBlock.persist.remove(from: current)
            if content.isEmpty && !existed {
                plan.removals.append(path.string)
            } else {
                plan.files.append(PersistFile(path: path.string, content: content, isShared: true))
            }
        }
    }

    /// The persisted functions the targets name, resolved as `persist` resolves them (with a GPU's companions unless
    /// `only`, with the IOMMU group when `group`), including recorded functions no longer on the host.
    /// - Throws: `DevicesError` when a target names no persisted function.
    private func persistedFunctions(
        _ targets: [BindTarget], options: BindOptions, report: HostReport, persisted: [PersistedFunction]
    ) throws -> [PCIAddress] {
        let recorded = Set(persisted.map(\.address))
        var chosen = Set<PCIAddress>()
        for target in targets {
            var named: [PCIAddress]
            switch target {
            case .gpu(let index):
                guard index <= report.gpus.count else {
                    throw DevicesError(
                        code: .notFound,
                        message: "there is no gpu:\(index): this host has \(report.gpus.count) GPU"
                            + (report.gpus.count == 1 ? "" : "s"))
                }
                named = [report.gpus[index - 1].address]
            case .device(let selector):
                named = report.devices.filter(selector.matches).map(\.address)
                named += persisted.filter { function in
                    switch selector {
                    case .address(let address): function.address == address
                    case .ids(let vendor, let device): function.vendor == vendor && function.device == device
                    }
                }
                .map(\.address)
            }
            var found = Set(named)
            if !options.only {
                for address in named {
                    guard let gpu = report.gpus.first(where: { $0.address == address }) else { continue }
                    found.formUnion(gpu.companions.map(\.address))
                }
            }
            if options.group {
                for address in found {
                    guard let id = report.device(at: address)?.iommuGroup, let group = report.group(id) else {
                        continue
                    }
                    found.formUnion(group.devices.compactMap(PCIAddress.init))
                }
            }
            let matched = found.intersection(recorded)
            guard !matched.isEmpty else {
                throw DevicesError(
                    code: .notFound,
                    message: "\(target) is not persisted: "
                        + (persisted.isEmpty
                            ? "no device is"
                            : "the persisted devices are "
                                + persisted.map(\.address.description).joined(separator: ", ")))
            }
            chosen.formUnion(matched)
        }
        return chosen.sorted()
    }

    /// The modules that would take `device` at boot before vfio-pci: its driver (or the one it had before vfioctl
    /// bound it), the GPU drivers of its vendor, and for NVIDIA's USB-C functions xhci_hcd and i2c_nvidia_gpu.
    static func softdeps(of device: PCIDevice, originalDriver: String?) -> [String] {
        var names = Set([device.driver, originalDriver].compactMap { $0 }.filter(softdepDrivers.contains))
        if device.pciClass.isDisplay {
            if device.vendor == 0x1002 { names.formUnion(["amdgpu", "radeon"]) }
            if device.vendor == 0x10DE { names.formUnion(["nouveau", "nvidia"]) }
        }
        if device.vendor == 0x10DE && (device.pciClass.isUSBController || device.pciClass.isSerialBusOther) {
            names.formUnion(["xhci_hcd", "i2c_nvidia_gpu"])
        }
        return ordered(names)
    }

    /// Softdep modules in the order vfioctl writes them.
    static func ordered(_ names: Set<String>) -> [String] {
        softdepOrder.filter(names.contains) + names.subtracting(softdepOrder).sorted()
    }

    /// Whether a file's bytes are vfioctl's own (they start with its header).
    static func isOwn(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: Array(ownHeader.utf8))
    }

    /// A file's bytes as text.
    /// - Throws: `DevicesError` when they are not UTF-8, which vfioctl could not keep byte for byte.
    static func text(_ bytes: [UInt8], of path: FilePath) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DevicesError(
                code: .invalidData,
                message: "\(path) is not UTF-8 text, so vfioctl cannot edit it and keep the rest byte for byte")
        }
        return text
    }

    /// Writes a persistence plan: the state file first, every file atomically (vfioctl's own files without backups:
    /// the state file records what was there before), then the removals, the state file last, then empty folders.
    /// - Returns: the files written (unchanged ones are left alone) and the files and folders removed.
    /// - Throws: `DevicesError` naming the file that could not be written or removed.
    public func applyPersist(_ plan: PersistPlan) throws -> (written: [String], removed: [String]) {
        try HostLock.withLock(files, timeout: .seconds(30)) { try applyPersistHoldingLock(plan) }
    }

    private func applyPersistHoldingLock(_ plan: PersistPlan) throws -> (written: [String], removed: [String]) {
        let files = self.files
        var written: [String] = []
        for file in plan.files {
            // An existing file keeps its owner and permissions; vfioctl's own files start as 0644.
            let outcome = try AtomicFile.write(
                Array(file.content.utf8), to: files.path(FilePath(file.path)), mode: 0o644, backup: false,
                within: files.sysroot)
            if !outcome.unchanged { written.append(file.path) }
        }
        var removed: [String] = []
        for path in plan.removals {
            let rooted = files.path(FilePath(path))
            guard files.unlink(rooted) == 0 else {
                let error = Errno(rawValue: errno)
                if error == .noSuchFileOrDirectory { continue }
                throw DevicesError.write(rooted, error)
            }
            removed.append(path)
        }
        for path in plan.directories {
            let rooted = files.path(FilePath(path))
            guard files.rmdir(rooted) == 0 else {
                let error = Errno(rawValue: errno)
                // A folder that now holds files of the user's (or is gone) stays as it is.
                if error == .directoryNotEmpty || error == .noSuchFileOrDirectory || error == .fileExists { continue }
                throw DevicesError.write(rooted, error)
            }
            removed.append(path)
        }
        return (written, removed)
    }
}
