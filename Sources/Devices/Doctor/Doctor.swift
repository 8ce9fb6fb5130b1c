import SystemPackage

extension Host {
    /// Checks everything GPU passthrough depends on.
    ///
    /// IOMMU, interrupt remapping, kernel command line, KVM, vfio modules, hugepages, every GPU's group, ROM and
    /// reset, QEMU/libvirt/OVMF, and qemu.conf's evdev ACL. Reads only; writes nothing.
    /// - Parameter user: the user whose evdev access to check (the `input` group).
    /// - Returns: one check per line, in the order they are shown.
    /// - Throws: `DevicesError` when the sysroot or the PCI device directory cannot be read.
    public func diagnose(user: String? = nil) throws -> Diagnosis {
        let report = try self.report()
        var warnings = report.warnings
        let input: InputReport?
        do {
            input = try inputDevices(user: user)
        } catch let error as DevicesError {
            warnings.append("input devices: \(error.message)")
            input = nil
        }
        var diagnosis = try Doctor(files: files, report: report, input: input).diagnose(warnings: warnings)
        diagnosis.checks.append(leftovers())
        return diagnosis
    }

    /// What vfioctl (or a killed vfioctl) left changed, as `recover` would find it.
    func leftovers() -> Diagnosis.Check {
        let title = "vfioctl's own changes"
        let items: [RecoveryItem]
        do {
            items = try planRecovery()
        } catch let error as DevicesError {
            return Diagnosis.Check(
                id: "recover", title: title, status: .fail, summary: error.message,
                fix: "move the file away once the devices it names are where they belong")
        } catch {
            return Diagnosis.Check(id: "recover", title: title, status: .fail, summary: "\(error)")
        }
        let open = items.filter { $0.hold == nil }
        let details = items.map { item -> String in
            var line: String
            switch item.subject {
            case .guest(let guest): line = "guest \(guest): hook prepared the host"
            case .physicalFunction(let address):
                if case .sriovChange(let from, let to) = item.cause {
                    line = "\(address): VF count change \(from) → \(to) did not finish"
                } else {
                    line = "\(address)"
                }
            case .device(let address):
                switch item.cause {
                case .journal(let phase, let owner):
                    line =
                        "\(address): \(phase.rawValue) by \(owner), on \(item.driver ?? "no driver"), from "
                        + (item.originalDriver ?? "no driver")
                case .staleOverride(let override):
                    line = "\(address): driver_override \(override) but on \(item.driver ?? "no driver")"
                case .preparedGuest, .sriovChange, .mdevCreated: line = "\(address)"
                }
            case .mediatedDevice(let uuid):
                line = "mediated device \(uuid): created for a guest whose definition was not written"
            }
            if case .guestRunning(let guest, _)? = item.hold { line += " (guest \(guest) is running)" }
            if case .inUse? = item.hold { line += " (in use)" }
            return line
        }
        guard !open.isEmpty else {
            return Diagnosis.Check(
                id: "recover", title: title, status: .ok,
                summary: items.isEmpty ? "nothing left changed" : "\(items.count) change(s) of running guests",
                details: details)
        }
        return Diagnosis.Check(
            id: "recover", title: title, status: .warn,
            summary: "\(open.count) change(s) left behind (a killed or failed run, or a stale driver_override)",
            details: details, fix: "vfioctl recover")
    }
}

/// The individual checks of `Host.diagnose()`, each from facts already read.
struct Doctor {
    let files: HostFiles
    let report: HostReport
    let input: InputReport?

    typealias Check = Diagnosis.Check

    func diagnose(warnings: [String]) throws -> Diagnosis {
        let cpu = try CPUInfo(files: files)
        let distribution = try Distribution(files: files)
        var checks = [iommu(), try interruptRemapping(), try commandLine(), kvm(cpu), try vfioModules()]
        checks.append(try hugepages())
        for (index, gpu) in report.gpus.enumerated() {
            let label = "gpu:\(index + 1) \(gpu.address)"
            checks.append(gpuGroup(gpu, label: label))
            checks.append(try rom(gpu, label: label))
            checks.append(reset(gpu, label: label))
        }
        if report.gpus.isEmpty {
            checks.append(
                Check(
                    id: "gpus", title: "GPUs", status: .warn, summary: "no GPU (PCI class 03) found",
                    fix: "`vfioctl list` shows what the host has; a GPU the firmware hides (disabled slot, "
                        + "iGPU off) must be enabled in the firmware setup"))
        }
        checks.append(contentsOf: software(distribution))
        checks.append(evdevAccess())
        return Diagnosis(checks: checks, warnings: warnings)
    }

    // MARK: IOMMU and interrupts

    func iommu() -> Check {
        let status = report.iommu
        guard status.enabled else {
            return Check(
                id: "iommu", title: "IOMMU", status: .fail,
                summary: "off: the kernel created no IOMMU groups, so no device can be passed through",
                details: status.firmwareTable.map { ["firmware table: \($0)"] } ?? [],
                fix: status.advice.joined(separator: "; "))
        }
        var facts = ["\(status.groupCount) groups"]
        if let table = status.firmwareTable { facts.append("firmware table \(table)") }
        if !status.units.isEmpty { facts.append("units " + status.units.sorted().joined(separator: ", ")) }
        let risky = status.advice.filter { $0.hasPrefix("pcie_acs_override") }
        return Check(
            id: "iommu", title: "IOMMU", status: risky.isEmpty ? .ok : .warn,
            summary: "on: " + facts.joined(separator: ", "), details: risky,
            fix: risky.isEmpty
                ? nil : "move devices to slots with their own groups and drop pcie_acs_override when you can")
    }

    func interruptRemapping() throws -> Check {
        let title = "Interrupt remapping"
        let interrupts = try files.readText(files.path(HostPaths.interrupts)) ?? ""
        let chips = Set(interrupts.split(whereSeparator: { $0 == " " || $0 == "\n" }).filter { $0.hasPrefix("IR-") })
        if !chips.isEmpty {
            return Check(
                id: "interrupt-remapping", title: title, status: .ok,
                summary: "on (" + chips.map(String.init).sorted().joined(separator: ", ") + ")")
        }
        let unsafe = try files.readText(
            files.path(HostPaths.modules.appending("vfio_iommu_type1/parameters/allow_unsafe_interrupts")))
        let arguments = try KernelCommandLine.read(files).words
        let disabledBy = arguments.filter { $0 == "nointremap" || $0 == "intremap=off" }
        let supported = try intelRemappingSupported()
        var details: [String] = []
        if !disabledBy.isEmpty { details.append("the kernel command line has " + disabledBy.joined(separator: " ")) }
        if supported == true { details.append("the IOMMU reports interrupt remapping support (ECAP.IR)") }
        if interrupts.isEmpty { details.append("\(HostPaths.interrupts) is missing or empty") }
        let fix =
            !disabledBy.isEmpty
            ? "remove \(disabledBy.joined(separator: " ")) from the kernel command line and reboot"
            : !report.iommu.enabled
                ? "turn the IOMMU on first (see the IOMMU line): remapping comes with it"
                : "enable interrupt remapping / x2APIC in the firmware setup; only if the hardware has none, "
                    + "`options vfio_iommu_type1 allow_unsafe_interrupts=1` in /etc/modprobe.d (a guest can then "
                    + "inject interrupts into the host)"
        if unsafe == "Y" || unsafe == "1" {
            return Check(
                id: "interrupt-remapping", title: title, status: .warn,
                summary: "off, allowed by vfio_iommu_type1 allow_unsafe_interrupts=Y: a guest can inject "
                    + "interrupts into the host",
                details: details, fix: fix)
        }
        return Check(
            id: "interrupt-remapping", title: title, status: .fail,
            summary: "off: vfio refuses to attach devices without it (\"No interrupt remapping support\")",
            details: details, fix: fix)
    }

    /// Whether an Intel IOMMU unit reports interrupt remapping (ECAP bit 3); nil when no unit says.
    private func intelRemappingSupported() throws -> Bool? {
        var answer: Bool?
        for unit in report.iommu.units.sorted() {
            let path = files.path(HostPaths.iommuClass.appending("\(unit)/intel-iommu/ecap"))
            guard let text = try files.readText(path), let ecap = UInt64(text.hexDigits, radix: 16) else { continue }
            answer = (answer ?? false) || ecap & 0x8 != 0
        }
        return answer
    }

    func commandLine() throws -> Check {
        let title = "Kernel command line"
        let cmdline = try KernelCommandLine.read(files)
        let arguments = report.iommu.commandLineArguments
        let shown = arguments.isEmpty ? "no IOMMU or vfio options" : arguments.joined(separator: " ")
        var problems: [String] = []
        var fixes: [String] = []
        var status = Diagnosis.Status.ok
        for off in ["intel_iommu=off", "amd_iommu=off", "iommu=off"] where arguments.contains(off) {
            status = .fail
            problems.append("\(off) turns the IOMMU off")
            fixes.append("remove \(off)")
        }
        if !report.iommu.enabled, report.iommu.cpuVendor == "intel", !arguments.contains("intel_iommu=on") {
            status = .fail
            problems.append("intel_iommu=on is missing (this kernel does not turn the Intel IOMMU on by itself)")
            fixes.append(
                "add intel_iommu=on (`vfioctl persist` writes it to /etc/default/grub.d/vfioctl.cfg; then update-grub)")
        }
        if arguments.contains("amd_iommu=on") {
            status = max(status, .warn)
            problems.append("amd_iommu=on is not a kernel switch: it does nothing")
            fixes.append("remove amd_iommu=on")
        }
        if arguments.contains(where: { $0 == "pcie_acs_override" || $0.hasPrefix("pcie_acs_override=") }) {
            status = max(status, .warn)
            problems.append("pcie_acs_override splits groups the hardware does not isolate (a security risk)")
        }
        if cmdline.contains("nointremap") || cmdline.contains("intremap=off") {
            status = max(status, .warn)
            problems.append("interrupt remapping is turned off")
            fixes.append("remove nointremap / intremap=off")
        }
        if cmdline.words.isEmpty {
            status = max(status, .warn)
            problems.append("\(HostPaths.kernelCmdline) is missing or empty")
        }
        return Check(
            id: "cmdline", title: title, status: status, summary: shown, details: problems,
            fix: fixes.isEmpty ? nil : fixes.joined(separator: "; "))
    }

    // MARK: KVM, modules, memory

    func kvm(_ cpu: CPUInfo) -> Check {
        let title = "KVM"
        let node = files.entryExists(files.path(HostPaths.kvm))
        let extensions = cpu.flags.contains("vmx") ? "vmx" : cpu.flags.contains("svm") ? "svm" : nil
        let firmwareName = cpu.vendor == "amd" ? "SVM (AMD-V)" : "VT-x (Intel Virtualization Technology)"
        switch (node, extensions) {
        case (true, let flag?):
            return Check(id: "kvm", title: title, status: .ok, summary: "\(HostPaths.kvm) present, CPU has \(flag)")
        case (false, let flag?):
            let module = flag == "vmx" ? "kvm_intel" : "kvm_amd"
            return Check(
                id: "kvm", title: title, status: .fail,
                summary: "the CPU has \(flag) but \(HostPaths.kvm) is missing: guests would run without acceleration",
                fix: "`modprobe \(module)`; if it fails, check `dmesg | grep -i kvm` (virtualization may be locked "
                    + "off in the firmware)")
        case (_, nil):
            var summary = "the CPU offers no hardware virtualization (no vmx/svm flag)"
            if node { summary += "; \(HostPaths.kvm) exists but cannot run ordinary guests" }
            if cpu.isVirtualMachine { summary += "; this host is itself a virtual machine" }
            return Check(
                id: "kvm", title: title, status: .fail, summary: summary,
                fix: cpu.isVirtualMachine
                    ? "enable nested virtualization on the outer hypervisor (QEMU: -cpu host with kvm_intel nested=1 "
                        + "or kvm_amd nested=1)"
                    : "enable \(firmwareName) in the firmware setup and reboot")
        }
    }

    func vfioModules() throws -> Check {
        let title = "vfio modules"
        let wanted = ["vfio", "vfio_iommu_type1", "vfio_pci"]
        let loaded = wanted.filter { files.exists(files.path(HostPaths.modules.appending($0))) }
        let missing = wanted.filter { !loaded.contains($0) }
        let available = try installedModules()
        var details: [String] = []
        let container = files.entryExists(files.path(HostPaths.vfioContainer))
        if loaded.contains("vfio") {
            details.append("\(HostPaths.vfioContainer) " + (container ? "present" : "missing"))
        }
        if missing.isEmpty {
            guard container else {
                return Check(
                    id: "vfio-modules", title: title, status: .warn,
                    summary: "loaded, but \(HostPaths.vfioContainer) is missing", details: details,
                    fix:
                        "check that udev/devtmpfs is running (`ls -l /dev/vfio`); `modprobe -r vfio_pci vfio_iommu_type1 "
                        + "vfio && modprobe vfio_pci` recreates it")
            }
            return Check(
                id: "vfio-modules", title: title, status: .ok, summary: "vfio, vfio_iommu_type1, vfio_pci loaded",
                details: details)
        }
        if let available {
            let absent = missing.filter { !available.contains($0) }
            if absent.isEmpty {
                return Check(
                    id: "vfio-modules", title: title, status: .ok,
                    summary: "not loaded yet: " + missing.joined(separator: ", ")
                        + " (installed; `vfioctl bind` loads them, `vfioctl persist` loads them at boot)",
                    details: details)
            }
            return Check(
                id: "vfio-modules", title: title, status: .fail,
                summary: "this kernel has no " + absent.joined(separator: ", ") + " module", details: details,
                fix: "install a kernel built with CONFIG_VFIO, CONFIG_VFIO_IOMMU_TYPE1 and CONFIG_VFIO_PCI "
                    + "(every distribution kernel has them)")
        }
        return Check(
            id: "vfio-modules", title: title, status: .warn,
            summary: "not loaded: " + missing.joined(separator: ", ")
                + "; the kernel's module list (\(HostPaths.kernelModules)/<release>) could not be read",
            details: details, fix: "`modprobe vfio-pci`")
    }

    /// Module names (`vfio_pci`) the running kernel has, built in or as files; nil when the lists are missing.
    private func installedModules() throws -> Set<String>? {
        guard let release = report.kernelRelease else { return nil }
        let directory = HostPaths.kernelModules.appending(release)
        var names: Set<String> = []
        var found = false
        for list in ["modules.dep", "modules.builtin"] {
            guard let text = try files.readText(files.path(directory.appending(list))) else { continue }
            found = true
            for line in text.split(separator: "\n") {
                let path = line.split(separator: ":", maxSplits: 1).first ?? ""
                guard let file = path.split(separator: "/").last, let base = file.split(separator: ".").first
                else { continue }
                names.insert(String(base).replacingOccurrences(of: "-", with: "_"))
            }
        }
        return found ? names : nil
    }

    func hugepages() throws -> Check {
        let title = "Hugepages"
        var reserved: [String] = []
        var total = 0
        for name in (try files.list(files.path(HostPaths.hugepages)) ?? []).sorted() {
            guard name.hasPrefix("hugepages-"), name.hasSuffix("kB"),
                let kib = Int(name.dropFirst("hugepages-".count).dropLast(2))
            else { continue }
            let directory = HostPaths.hugepages.appending(name)
            let count = Int(try files.readText(files.path(directory.appending("nr_hugepages"))) ?? "") ?? 0
            let free = Int(try files.readText(files.path(directory.appending("free_hugepages"))) ?? "") ?? 0
            guard count > 0 else { continue }
            total += count * kib
            reserved.append("\(count) × \(Self.size(kib: kib)) reserved (\(free) free)")
        }
        if !reserved.isEmpty {
            return Check(
                id: "hugepages", title: title, status: .ok,
                summary: reserved.joined(separator: ", ") + ", \(Self.size(kib: total)) in all")
        }
        let thp = try files.readText(files.path(HostPaths.transparentHugepages))
        let mode = thp.flatMap { text -> String? in
            guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close else {
                return nil
            }
            return String(text[text.index(after: open)..<close])
        }
        let reserve =
            "reserve pages for the guest's memory: `echo 8192 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages` "
            + "for 16 GiB now, or hugepages=8192 on the kernel command line; then <memoryBacking><hugepages/>"
            + "</memoryBacking> in the guest"
        if let mode, mode == "always" || mode == "madvise" {
            return Check(
                id: "hugepages", title: title, status: .ok,
                summary: "none reserved; transparent hugepages (\(mode)) back QEMU's memory when the kernel finds "
                    + "free 2 MiB blocks",
                details: ["static pages are never split or swapped: " + reserve])
        }
        return Check(
            id: "hugepages", title: title, status: .warn,
            summary: "none reserved and transparent hugepages are \(mode ?? "unavailable"): guest memory uses "
                + "4 KiB pages (more TLB misses, slower)",
            fix: reserve)
    }

    static func size(kib: Int) -> String {
        if kib % (1024 * 1024) == 0 { return "\(kib / (1024 * 1024)) GiB" }
        if kib % 1024 == 0 { return "\(kib / 1024) MiB" }
        return "\(kib) KiB"
    }

    // MARK: GPUs

    func gpuGroup(_ gpu: GPU, label: String) -> Check {
        let id = "gpu-group:\(gpu.address)"
        let title = "\(label) group"
        let name =
            gpu.name ?? report.device(at: gpu.address).map { "device \($0.vendorID):\($0.deviceID)" } ?? gpu.vendor
        let group = gpu.iommuGroup.map { "group \($0)" } ?? "no group"
        switch gpu.status {
        case .ready:
            return Check(
                id: id, title: title, status: .ok, summary: "\(name): \(group), every function on vfio-pci",
                details: gpu.reasons)
        case .blocked:
            return Check(
                id: id, title: title, status: .fail, summary: "\(name): \(group), cannot be passed through",
                details: gpu.reasons,
                fix: gpu.reasons.first { $0.contains("chipset") }.map { _ in "move the card to another slot" }
                    ?? "see the IOMMU line")
        case .bootGPU:
            return Check(
                id: id, title: title, status: .warn, summary: "\(name): \(group), the host's boot display",
                details: gpu.reasons,
                fix: "give the host another GPU (or make another one primary in the firmware setup), or pass it "
                    + "with single-GPU steps: stop the display manager, release the consoles and the framebuffer, "
                    + "then bind")
        case .needsBinding:
            let sharers = sharedEndpoints(gpu)
            if !sharers.isEmpty {
                return Check(
                    id: id, title: title, status: .warn,
                    summary: "\(name): \(group) also holds " + sharers.map(\.description).joined(separator: ", "),
                    details: gpu.reasons,
                    fix: "pass them to the guest too (`vfioctl bind \(label.split(separator: " ")[0]) --group`), "
                        + "or move the card to a slot with its own group")
            }
            return Check(
                id: id, title: title, status: .ok,
                summary: "\(name): \(group) holds only this card; \(gpu.functions.count) function"
                    + (gpu.functions.count == 1 ? "" : "s")
                    + " to bind (`vfioctl bind \(label.split(separator: " ")[0])`, or libvirt's managed='yes')",
                details: gpu.reasons)
        }
    }

    /// Endpoints in the GPU's group that are not functions of the card.
    private func sharedEndpoints(_ gpu: GPU) -> [PCIAddress] {
        guard let id = gpu.iommuGroup, let group = report.group(id) else { return [] }
        return group.devices.compactMap { PCIAddress($0) }.filter { address in
            !gpu.functions.contains(address) && report.device(at: address)?.isBridge == false
        }
    }

    func rom(_ gpu: GPU, label: String) throws -> Check {
        let id = "rom:\(gpu.address)"
        let title = "\(label) ROM"
        guard let device = report.device(at: gpu.address) else {
            return Check(id: id, title: title, status: .warn, summary: "the device disappeared while reading")
        }
        let installed = Host.installedROMPath(vendor: device.vendor, device: device.device, address: gpu.address)
        if let bytes = try files.read(files.path(installed)) {
            let check = VBIOS.check(bytes, for: (device.vendor, device.device))
            if check.valid {
                return Check(
                    id: id, title: title, status: .ok,
                    summary: "ROM file \(installed) installed and valid (<rom file='\(installed)'/>)",
                    details: check.nvflashHeader ? ["it starts with an nvflash header"] : [])
            }
            return Check(
                id: id, title: title, status: .fail, summary: "the installed ROM file \(installed) is not usable",
                details: check.problems,
                fix: "install a good one: `vfioctl vbios dump \(gpu.address) -o gpu.rom` (with the card bound to "
                    + "vfio-pci), then `vfioctl vbios install gpu.rom --for \(gpu.address)`")
        }
        if !device.hasROM {
            return Check(
                id: id, title: title, status: .warn,
                summary: "the kernel exposes no ROM for it: the guest firmware may not initialise the card",
                fix: "get the card's ROM (a dump from another machine or slot, or the vendor's file; check it with "
                    + "`vfioctl vbios check FILE --for \(gpu.address)`) and `vfioctl vbios install FILE --for "
                    + "\(gpu.address)`")
        }
        if gpu.isBootVGA {
            return Check(
                id: id, title: title, status: .warn,
                summary: "only the boot display's shadow copy is readable (the firmware may have changed it)",
                fix: "dump the ROM while another GPU is primary (or from a second slot), check it and "
                    + "`vfioctl vbios install FILE --for \(gpu.address)`")
        }
        return Check(
            id: id, title: title, status: .ok,
            summary: "the ROM is exposed (`vfioctl vbios dump \(gpu.address)` reads and checks it)",
            details: ["no ROM file installed: the guest gets the card's own ROM, which is what most cards need"])
    }

    func reset(_ gpu: GPU, label: String) -> Check {
        let id = "reset:\(gpu.address)"
        let title = "\(label) reset"
        guard let device = report.device(at: gpu.address), let reset = device.reset else {
            return Check(id: id, title: title, status: .warn, summary: "unknown: the device could not be read")
        }
        if let family = reset.vendorResetFamily {
            let loaded = files.exists(files.path(HostPaths.modules.appending("vendor_reset")))
            if !loaded {
                return Check(
                    id: id, title: title, status: .fail,
                    summary: "AMD reset bug (\(family)): the card will not come back after the guest stops",
                    details: reset.summary,
                    fix: "install vendor-reset (DKMS), load it before vfio-pci and add the udev rule: "
                        + (reset.vendorResetRule ?? ""))
            }
            if !reset.methods.isEmpty, reset.methods.first != "device_specific" {
                return Check(
                    id: id, title: title, status: .warn,
                    summary: "vendor-reset is loaded but reset_method is " + reset.methods.joined(separator: ",")
                        + ", not device_specific: the kernel will not use it",
                    details: reset.summary, fix: "add the udev rule: " + (reset.vendorResetRule ?? ""))
            }
            return Check(
                id: id, title: title, status: .ok, summary: "vendor-reset handles the AMD reset bug (\(family))",
                details: reset.summary)
        }
        let functionsInSlot = gpu.functions.count
        var ways: [String] = []
        if reset.flr || reset.afFLR { ways.append("FLR") }
        if reset.busReset { ways.append("bus reset" + (functionsInSlot > 1 ? " (all functions to the guest)" : "")) }
        if reset.pmReset { ways.append("PM reset") }
        if !reset.methods.isEmpty {
            return Check(
                id: id, title: title, status: .ok,
                summary: "the kernel resets it by " + reset.methods.joined(separator: ", ")
                    + (ways.isEmpty ? "" : "; config space offers " + ways.joined(separator: ", ")),
                details: reset.summary)
        }
        if !ways.isEmpty || device.hasResetAttribute {
            return Check(
                id: id, title: title, status: .ok,
                summary: ways.isEmpty ? "the kernel can reset it" : "resets by " + ways.joined(separator: ", "),
                details: reset.summary)
        }
        return Check(
            id: id, title: title, status: .warn,
            summary: "no reset method: after the guest stops the card may stay in a bad state",
            details: reset.summary,
            fix: "give the guest every function of the card and shut the guest down cleanly; reboot the host if the "
                + "card does not come back")
    }

    // MARK: Software

    func software(_ distribution: Distribution) -> [Check] {
        let qemu = files.program("qemu-system-x86_64") ?? files.program("qemu-kvm")
        let daemon = files.program("virtqemud") ?? files.program("libvirtd")
        let virsh = files.program("virsh")
        var found: [String] = []
        var missing: [String] = []
        for (name, path) in [("QEMU", qemu), ("libvirt daemon", daemon), ("virsh", virsh)] {
            if let path { found.append(path.string) } else { missing.append(name) }
        }
        let stack =
            missing.isEmpty
            ? Check(id: "libvirt", title: "QEMU and libvirt", status: .ok, summary: found.joined(separator: ", "))
            : Check(
                id: "libvirt", title: "QEMU and libvirt", status: .fail,
                summary: "missing: " + missing.joined(separator: ", ")
                    + (found.isEmpty ? "" : " (found " + found.joined(separator: ", ") + ")"),
                fix: distribution.installCommand(for: .virtualization))
        let firmware: Check
        if let ovmf = ovmfFiles().first {
            firmware = Check(
                id: "ovmf", title: "UEFI firmware (OVMF)", status: .ok, summary: ovmf.string,
                details: ["GPUs are passed to UEFI guests (<os firmware='efi'>): the card's GOP ROM drives the screen"])
        } else {
            firmware = Check(
                id: "ovmf", title: "UEFI firmware (OVMF)", status: .warn,
                summary: "no OVMF found: guests can only boot with SeaBIOS, which many GPUs and Windows 11 do not "
                    + "support",
                fix: distribution.installCommand(for: .ovmf))
        }
        return [stack, firmware]
    }

    private func ovmfFiles() -> [FilePath] {
        var found: [FilePath] = []
        for directory in HostPaths.ovmfDirectories {
            guard let names = try? files.list(files.path(directory)) else { continue }
            for name in names.sorted()
            where name.hasPrefix("OVMF_CODE") || name == "OVMF.fd" || name == "edk2-x86_64-code.fd" {
                found.append(directory.appending(name))
            }
        }
        return found
    }

    func evdevAccess() -> Check {
        let id = "evdev-acl"
        let title = "qemu.conf evdev access"
        guard let input else {
            return Check(id: id, title: title, status: .warn, summary: "the input devices could not be read")
        }
        let chosen = [input.keyboard, input.mouse].compactMap { $0 }
        guard !chosen.isEmpty else {
            return Check(
                id: id, title: title, status: .warn,
                summary: "no keyboard or mouse found to share with a guest (`vfioctl input list` shows every node)")
        }
        let paths = chosen.map { $0.stablePath ?? $0.eventPath }
        let denied = chosen.filter { $0.allowedByQEMUConf != true }.map { $0.stablePath ?? $0.eventPath }
        guard let text = try? files.readText(files.path(HostPaths.libvirtQEMUConf)) else {
            return Check(
                id: id, title: title, status: .warn,
                summary: "no \(HostPaths.libvirtQEMUConf) (libvirt's QEMU driver is not installed)",
                details: ["keyboard and mouse to share: " + paths.joined(separator: ", ")],
                fix: "install libvirt, then allow the devices in its qemu.conf's cgroup_device_acl (or use "
                    + "libvirt's native <input type='evdev'>, libvirt ≥ 7.6, which needs no ACL entry)")
        }
        let acl = QEMUConf.deviceACL(text)
        guard !denied.isEmpty else {
            return Check(
                id: id, title: title, status: .ok,
                summary: "cgroup_device_acl allows " + paths.joined(separator: ", "))
        }
        return Check(
            id: id, title: title, status: .warn,
            summary: "cgroup_device_acl does not allow " + denied.joined(separator: ", ")
                + ": a guest with <qemu:commandline> input-linux cannot open them",
            details: QEMUConf.aclBlock(existing: acl, adding: denied).split(separator: "\n").map(String.init),
            fix: "put the cgroup_device_acl block above in \(HostPaths.libvirtQEMUConf) and restart libvirt "
                + "(or use libvirt's native <input type='evdev'>, libvirt ≥ 7.6, which needs no ACL entry)")
    }
}

/// The host's distribution, for install commands.
struct Distribution {
    enum Need {
        case virtualization, ovmf
    }

    /// `debian`, `fedora`, `arch`, `suse`, or nil.
    var family: String?

    init(files: HostFiles) throws {
        let text = try files.readText(files.path(HostPaths.osRelease)) ?? ""
        var ids: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("ID=") || line.hasPrefix("ID_LIKE=") {
            let value = line.split(separator: "=", maxSplits: 1).last ?? ""
            ids += String(value).replacingOccurrences(of: "\"", with: "").split(separator: " ").map(String.init)
        }
        family =
            ids.contains { ["debian", "ubuntu"].contains($0) }
            ? "debian"
            : ids.contains { ["fedora", "rhel", "centos"].contains($0) }
                ? "fedora"
                : ids.contains("arch")
                    ? "arch"
                    : ids.contains { $0.hasPrefix("opensuse") || $0 == "suse" } ? "suse" : nil
    }

    func installCommand(for need: Need) -> String {
        switch (family, need) {
        case ("debian", .virtualization): "`apt-get install qemu-system-x86 libvirt-daemon-system libvirt-clients`"
        case ("debian", .ovmf): "`apt-get install ovmf`"
        case ("fedora", .virtualization): "`dnf install qemu-kvm libvirt-daemon-kvm libvirt-client`"
        case ("fedora", .ovmf): "`dnf install edk2-ovmf`"
        case ("arch", .virtualization): "`pacman -S qemu-desktop libvirt`"
        case ("arch", .ovmf): "`pacman -S edk2-ovmf`"
        case ("suse", .virtualization): "`zypper install qemu-x86 libvirt-daemon-qemu libvirt-client`"
        case ("suse", .ovmf): "`zypper install qemu-ovmf-x86_64`"
        case (_, .virtualization): "install QEMU (qemu-system-x86_64) and libvirt with your package manager"
        case (_, .ovmf): "install OVMF (edk2's x86-64 UEFI firmware) with your package manager"
        }
    }
}

extension HostFiles {
    /// The host path of an installed program, searching the usual directories; nil when absent.
    func program(_ name: String) -> FilePath? {
        for directory in HostPaths.programDirectories where exists(path(directory.appending(name))) {
            return directory.appending(name)
        }
        return nil
    }
}

extension String {
    /// The hexadecimal digits of `0x…` text, without the prefix and surrounding white space.
    var hexDigits: String {
        let trimmed = trimmingWhitespace()
        return trimmed.hasPrefix("0x") ? String(trimmed.dropFirst(2)) : trimmed
    }
}

extension QEMUConf {
    /// libvirt's default `cgroup_device_acl` entries (`defaultDeviceACL` in libvirt's qemu_cgroup.c).
    static let defaultDeviceACL = [
        "/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm",
    ]

    /// A `cgroup_device_acl` block: libvirt's defaults (a list that drops them breaks every guest), the entries
    /// already set, and `paths`.
    static func aclBlock(existing: Set<String>?, adding paths: [String]) -> String {
        let current = defaultDeviceACL + (existing ?? []).subtracting(defaultDeviceACL).sorted()
        let entries = (current + paths.filter { !current.contains($0) }).map { "    \"\($0)\"" }
        return "cgroup_device_acl = [\n" + entries.joined(separator: ",\n") + "\n]"
    }
}
