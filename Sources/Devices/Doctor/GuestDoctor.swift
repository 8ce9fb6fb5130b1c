import SystemPackage

extension Host {
    /// Checks a guest against this host, from the domain's XML and what the host shows.
    ///
    /// One line per `GuestDiagnosis.CheckID` (per hostdev for device checks). Reads only; writes nothing.
    /// - Parameters:
    ///   - document: the guest's domain XML.
    ///   - resolution: the guest's display resolution, to judge the Looking Glass size by; nil judges it by 1080p.
    /// - Returns: the checks, in the order of `GuestDiagnosis.CheckID`.
    /// - Throws: `DevicesError` when the sysroot or the PCI device directory cannot be read, or the domain's
    ///   memory size cannot be counted.
    public func diagnose(guest document: XMLDocument, resolution: (width: Int, height: Int)? = nil) throws
        -> GuestDiagnosis
    {
        let report = try self.report()
        let doctor = GuestDoctor(domain: document.root, resolution: resolution, side: .readable(self, report))
        return try doctor.diagnose()
    }
}

extension GuestDiagnosis {
    /// Checks what the domain's XML shows by itself, for a guest whose host cannot be read from here (a remote
    /// libvirt): every check that needs the host says so instead of guessing.
    /// - Parameters:
    ///   - document: the guest's domain XML.
    ///   - reason: why the host cannot be read, as the lines will say it (`the host is remote (qemu+ssh://h/system)`).
    ///   - resolution: as for `Host.diagnose(guest:resolution:)`.
    /// - Returns: the checks, those that need the host as warnings that say why they were not made.
    /// - Throws: `DevicesError` when the domain's memory size cannot be counted.
    public static func domainOnly(
        _ document: XMLDocument, reason: String, resolution: (width: Int, height: Int)? = nil
    ) throws -> GuestDiagnosis {
        try GuestDoctor(domain: document.root, resolution: resolution, side: .unreadable(reason)).diagnose()
    }
}

/// A PCI hostdev of a domain.
struct DomainHostdev {
    let element: XMLElement
    /// The host device it passes.
    let source: PCIAddress
    /// Where the guest sees it, when the XML says.
    let guestAddress: GuestPCIAddress?
    /// The guest address carries `multifunction='on'`.
    let multifunction: Bool
    /// `managed='yes'`: libvirt moves the device to vfio-pci at start.
    let managed: Bool
    /// `<rom file>`.
    let romFile: String?
    /// `<rom bar='off'>`.
    let romOff: Bool

    /// The PCI hostdevs of a domain.
    static func all(in domain: XMLElement) -> [DomainHostdev] {
        (domain.child("devices")?.children("hostdev") ?? []).compactMap { element in
            guard element.attribute("type") == "pci", let address = element.child("source")?.child("address"),
                let source = GuestPCIAddress(address)
            else { return nil }
            let guest = element.children("address").first { $0.attribute("type") == "pci" }
            let rom = element.child("rom")
            return DomainHostdev(
                element: element, source: PCIAddress(slot: source), guestAddress: guest.flatMap(GuestPCIAddress.init),
                multifunction: guest?.attribute("multifunction") == "on", managed: element.attribute("managed") != "no",
                romFile: rom?.attribute("file"), romOff: rom?.attribute("bar") == "off")
        }
    }
}

/// The individual checks of a guest diagnosis.
struct GuestDoctor {
    enum Side {
        case readable(Host, HostReport)
        case unreadable(String)
    }

    typealias Check = GuestDiagnosis.Check

    let domain: XMLElement
    let resolution: (width: Int, height: Int)?
    let side: Side
    let hostdevs: [DomainHostdev]
    /// The `vendor:device` of each hostdev vfioctl added, as the host had it then (from the ownership record).
    let recordedIDs: [PCIAddress: String]

    init(domain: XMLElement, resolution: (width: Int, height: Int)?, side: Side) {
        self.domain = domain
        self.resolution = resolution
        self.side = side
        hostdevs = DomainHostdev.all(in: domain)
        recordedIDs = DomainOwnership.element(in: domain).map(DomainOwnership.init)?.recordedIDs ?? [:]
    }

    static let qemuNamespace = "http://libvirt.org/schemas/domain/qemu/1.0"

    func diagnose() throws -> GuestDiagnosis {
        var checks: [Check] = []
        checks += perDevice(.hostdevMissing, hostdevMissing)
        checks += perDevice(.group, group)
        checks += perDevice(.companions, companions)
        checks += perDevice(.rom, rom)
        checks.append(xVGA())
        checks += try perDevice(.bootfb, bootFramebuffer)
        checks += try perDevice(.configSpace, configSpace)
        checks += perDevice(.reset, reset)
        checks += try perDevice(.largeBAR, largeBAR)
        checks.append(try whole(.hugepages, hugepages))
        checks.append(try whole(.pinning, pinning))
        checks.append(try whole(.evdev, evdev))
        checks.append(shmem())
        checks.append(whole(.hidden, hidden))
        checks.append(try whole(.iommu, iommu))
        let name = domain.child("name")?.text.trimmingWhitespace() ?? ""
        return GuestDiagnosis(domain: name, checks: checks)
    }

    /// One line per hostdev from the host side, or the reason the host cannot be read.
    private func perDevice(
        _ id: GuestDiagnosis.CheckID, _ body: (DomainHostdev, Host, HostReport) throws -> Check?
    ) rethrows -> [Check] {
        guard !hostdevs.isEmpty else { return [Check(id, .ok, "the guest has no PCI hostdev")] }
        switch side {
        case .unreadable(let reason):
            return hostdevs.map { Check(id, .warn, device: $0.source, "not checked: \(reason)") }
        case .readable(let host, let report):
            return try hostdevs.compactMap { hostdev in
                // A device the host lacks has its one line under hostdev-missing.
                guard id == .hostdevMissing || report.device(at: hostdev.source) != nil else { return nil }
                return try body(hostdev, host, report)
            }
        }
    }

    /// One line for the guest from the host side, or the reason the host cannot be read.
    private func whole(_ id: GuestDiagnosis.CheckID, _ body: (Host, HostReport) throws -> Check) rethrows -> Check {
        switch side {
        case .unreadable(let reason): Check(id, .warn, "not checked: \(reason)")
        case .readable(let host, let report): try body(host, report)
        }
    }

    private func isPassed(_ address: PCIAddress) -> Bool { hostdevs.contains { $0.source == address } }

    private func name(_ device: PCIDevice) -> String {
        "\(device.address) (\(device.ids)\(device.deviceName.map { " \($0)" } ?? ""))"
    }

    // MARK: Devices

    func hostdevMissing(_ hostdev: DomainHostdev, host: Host, report: HostReport) -> Check? {
        guard let device = report.device(at: hostdev.source) else {
            return Check(
                .hostdevMissing, .fail, device: hostdev.source,
                "hostdev \(hostdev.source) (line \(hostdev.element.line)) is not on this host: the hardware moved "
                    + "or changed",
                fix: "remove the hostdev and pass the device at its new address")
        }
        if let recorded = recordedIDs[hostdev.source], recorded.lowercased() != device.ids.lowercased() {
            return Check(
                .hostdevMissing, .fail, device: hostdev.source,
                "hostdev \(hostdev.source) (line \(hostdev.element.line)) was \(recorded) when vfioctl attached it; "
                    + "the host now has " + name(device) + " there: the hardware changed",
                fix: "detach the hostdev and attach the device you mean to pass at its address")
        }
        return Check(.hostdevMissing, .ok, device: hostdev.source, "on this host: " + name(device))
    }

    func group(_ hostdev: DomainHostdev, host: Host, report: HostReport) -> Check? {
        let address = hostdev.source
        guard let device = report.device(at: address), let id = device.iommuGroup,
            let group = report.group(id)
        else {
            return Check(
                .group, .fail, device: address, "\(address) has no IOMMU group: the IOMMU is off",
                fix: "turn the IOMMU on (see the iommu line)")
        }
        var blockers: [String] = []
        var toBind: [PCIAddress] = []
        var toPass: [PCIAddress] = []
        for member in group.devices.compactMap({ PCIAddress($0) }).sorted() {
            guard let other = report.device(at: member), !other.isBridge else { continue }
            let driver = other.driver
            let free = driver == nil || driver == "vfio-pci" || driver == "pci-stub"
            if let passed = hostdevs.first(where: { $0.source == member }) {
                // libvirt moves a managed hostdev itself; an unmanaged one must already be free.
                if !passed.managed, !free {
                    blockers.append("\(member) is passed with managed='no' but is on \(driver ?? "no driver")")
                    toBind.append(member)
                }
            } else if !free {
                blockers.append("\(member) (\(other.ids)) is on \(driver ?? "no driver") and not given to the guest")
                toPass.append(member)
            }
        }
        guard blockers.isEmpty else {
            return Check(
                .group, .fail, device: address,
                "group \(id) is not viable at start: " + blockers.joined(separator: "; "),
                fix: toPass.isEmpty
                    ? nil
                    : "give the guest the rest of the group, or move the card to a slot with its own group",
                attach: toPass.map { GuestPart.hostdev($0) }, bind: toBind)
        }
        return Check(
            .group, .ok, device: address,
            "group \(id): every other member is passed, a bridge, or on vfio-pci, pci-stub or no driver")
    }

    func companions(_ hostdev: DomainHostdev, host: Host, report: HostReport) -> Check? {
        guard let gpu = report.gpus.first(where: { $0.address == hostdev.source }) else {
            // The other functions of a GPU are judged on the GPU's line.
            if report.gpus.contains(where: { $0.functions.contains(hostdev.source) && isPassed($0.address) }) {
                return nil
            }
            return Check(.companions, .ok, device: hostdev.source, "not a GPU")
        }
        let missing = gpu.functions.filter { !isPassed($0) }
        if !missing.isEmpty {
            let roles = missing.map { address in
                (gpu.companions.first { $0.address == address }?.role).map { "\(address) (\($0))" }
                    ?? address.description
            }
            return Check(
                .companions, .fail, device: gpu.address,
                "the card's other functions are not passed: " + roles.joined(separator: ", ")
                    + " (drivers see half a card: Code 43, no HDMI audio, no reset of the slot)",
                attach: [.gpu(gpu.address)])
        }
        let passed = gpu.functions.compactMap { function in hostdevs.first { $0.source == function } }
        let slots = Set(passed.compactMap { $0.guestAddress.map { "\($0.domain):\($0.bus):\($0.slot)" } })
        guard passed.count > 1 else {
            return Check(.companions, .ok, device: gpu.address, "a single-function card")
        }
        if slots.count > 1 {
            return Check(
                .companions, .warn, device: gpu.address,
                "the card's \(passed.count) functions sit on \(slots.count) guest slots: the guest driver expects "
                    + "them as functions of one device",
                attach: [.gpu(gpu.address)])
        }
        let first = passed.first { $0.guestAddress?.function == 0 }
        if slots.count == 1, first?.multifunction != true {
            return Check(
                .companions, .warn, device: gpu.address,
                "the card's functions share a guest slot but its function 0 lacks multifunction='on'",
                attach: [.gpu(gpu.address)])
        }
        return Check(
            .companions, .ok, device: gpu.address,
            "all \(passed.count) functions passed" + (slots.count == 1 ? ", on one guest slot" : ""))
    }

    func rom(_ hostdev: DomainHostdev, host: Host, report: HostReport) -> Check? {
        let address = hostdev.source
        guard let device = report.device(at: address) else { return nil }
        let files = host.files
        if hostdev.romOff { return Check(.rom, .ok, device: address, "<rom bar='off'>: the guest gets no ROM") }
        if let file = hostdev.romFile {
            let path = FilePath(file)
            guard path.isAbsolute else {
                return Check(
                    .rom, .fail, device: address, "<rom file='\(file)'> is not an absolute path",
                    fix: "give the full path, under /usr/share/vgabios")
            }
            let bytes: [UInt8]?
            do {
                bytes = try files.read(files.path(path))
            } catch let error as DevicesError {
                return Check(.rom, .fail, device: address, error.message, fix: "make \(file) readable")
            } catch {
                return Check(.rom, .fail, device: address, "\(file): \(error)")
            }
            guard let bytes else {
                return Check(
                    .rom, .fail, device: address, "<rom file='\(file)'> does not exist: QEMU will not start",
                    fix: "put the card's ROM there (dump it with vfioctl's vbios dump) or remove the <rom> element")
            }
            let check = VBIOS.check(bytes, for: (device.vendor, device.device))
            guard check.valid else {
                return Check(
                    .rom, .fail, device: address,
                    "\(file) is not a ROM for \(device.ids): " + check.problems.joined(separator: "; "),
                    fix: "use the ROM of this card (vfioctl's vbios check tells a good one)")
            }
            if let problem = romAccessProblem(path, files: files) {
                return Check(
                    .rom, .warn, device: address, "\(file) is a ROM for \(device.ids), but " + problem,
                    fix: "install it under \(HostPaths.vgaBIOS) readable by everyone (vfioctl's vbios install)")
            }
            return Check(.rom, .ok, device: address, "\(file) is a ROM for \(device.ids), readable by QEMU")
        }
        let isGPU = report.gpus.contains { $0.address == address }
        if isGPU, device.vendor == 0x10de, report.gpus.first(where: { $0.address == address })?.isBootVGA == true {
            return Check(
                .rom, .warn, device: address,
                "no <rom file>: this NVIDIA card is the boot display, so the kernel shows only its shadow copy, "
                    + "which the guest cannot use",
                fix: "dump the ROM with another GPU primary, install it and add <rom file='…'/> to the hostdev")
        }
        if isGPU, !device.hasROM {
            return Check(
                .rom, .warn, device: address, "no <rom file> and the kernel exposes no ROM for the card",
                fix: "install the card's ROM and add <rom file='…'/> to the hostdev")
        }
        return Check(.rom, .ok, device: address, "no <rom file>: the guest gets the card's own ROM")
    }

    /// Why QEMU may not read a ROM file: a directory on the way or the file not open to others, or a path an
    /// SELinux host does not label for guests.
    private func romAccessProblem(_ path: FilePath, files: HostFiles) -> String? {
        var current = FilePath("/")
        var paths: [FilePath] = []
        for component in path.components {
            current.append(component)
            paths.append(current)
        }
        for (index, step) in paths.enumerated() {
            guard let mode = files.mode(files.path(step)) else { continue }
            let last = index == paths.count - 1
            if last, mode & 0o004 == 0 { return "it is not readable by others (QEMU runs as its own user)" }
            if !last, mode & 0o001 == 0 { return "\(step) is closed to others (QEMU runs as its own user)" }
        }
        let enforcing = (try? files.readText(files.path(FilePath("/sys/fs/selinux/enforce")))) ?? nil
        if enforcing == "1", !path.starts(with: HostPaths.vgaBIOS), !path.starts(with: FilePath("/usr/share/qemu")) {
            return "SELinux is enforcing and the file is outside \(HostPaths.vgaBIOS) (labelled for guests)"
        }
        return nil
    }

    func xVGA() -> Check {
        let requested =
            qemuArguments().contains { $0.contains("x-vga=on") || $0.contains("x-vga=true") }
            || qemuOverrideProperties().contains { $0.name == "x-vga" && ["true", "on"].contains($0.value) }
        guard requested else { return Check(.xVGA, .ok, "no x-vga") }
        guard isUEFI else { return Check(.xVGA, .ok, "x-vga on a SeaBIOS guest (legacy VGA boot)") }
        return Check(
            .xVGA, .fail, "x-vga is set on an OVMF (UEFI) guest: the card gets legacy VGA ranges UEFI never uses",
            fix: "remove x-vga from the domain's <qemu:commandline> or <qemu:override>")
    }

    /// Whether the guest boots UEFI firmware.
    private var isUEFI: Bool {
        guard let os = domain.child("os") else { return false }
        if os.attribute("firmware") == "efi" { return true }
        guard let loader = os.child("loader") else { return false }
        let text = loader.text.lowercased()
        return loader.attribute("type") == "pflash" || text.contains("ovmf") || text.contains("edk2")
    }

    /// Every `<qemu:arg value>` of the domain.
    private func qemuArguments() -> [String] {
        domain.children.filter { $0.name == "commandline" && $0.namespace == Self.qemuNamespace }
            .flatMap { $0.children.filter { $0.name == "arg" }.compactMap { $0.attribute("value") } }
    }

    /// Every `<qemu:property>` of `<qemu:override>`.
    private func qemuOverrideProperties() -> [(name: String, value: String)] {
        domain.children.filter { $0.name == "override" && $0.namespace == Self.qemuNamespace }
            .flatMap(\.children).flatMap(\.children).flatMap(\.children)
            .filter { $0.name == "property" }
            .compactMap { property in property.attribute("name").map { ($0, property.attribute("value") ?? "") } }
    }

    func bootFramebuffer(_ hostdev: DomainHostdev, host: Host, report: HostReport) throws -> Check? {
        let address = hostdev.source
        guard report.gpus.contains(where: { $0.address == address }) else {
            return Check(.bootfb, .ok, device: address, "not a GPU")
        }
        let bars = try host.bars(of: address).filter { !$0.isIO && $0.start != 0 }
        guard let text = try host.files.readText(host.files.path(FilePath("/proc/iomem"))) else {
            return Check(.bootfb, .warn, device: address, "/proc/iomem cannot be read")
        }
        let regions = IOMemRegion.parse(text)
        if !regions.isEmpty, regions.allSatisfy({ $0.start == 0 && $0.end == 0 }) {
            return Check(
                .bootfb, .warn, device: address, "/proc/iomem shows no addresses to this user",
                fix: "run as root to check")
        }
        let framebuffers = ["bootfb", "simple-framebuffer", "simpledrm", "efifb", "vesafb"]
        for region in regions where framebuffers.contains(where: region.name.lowercased().contains) {
            if let bar = bars.first(where: { $0.start <= region.start && region.end <= $0.end }) {
                return Check(
                    .bootfb, .fail, device: address,
                    "the boot framebuffer \(region.name) sits in BAR \(bar.index) (\(hexText(region.start))-"
                        + "\(hexText(region.end))): vfio-pci reports \"BAR \(bar.index): can't reserve\" and the guest "
                        + "gets a black screen",
                    fix: "add video=efifb:off (or initcall_blacklist=sysfb_init) to the kernel command line and reboot")
            }
        }
        return Check(.bootfb, .ok, device: address, "no boot framebuffer inside the card's BARs")
    }

    func configSpace(_ hostdev: DomainHostdev, host: Host, report: HostReport) throws -> Check? {
        let address = hostdev.source
        let path = host.files.path(HostPaths.pciDevices.appending("\(address)/config"))
        guard let bytes = try host.files.read(path), bytes.count >= 16 else {
            return Check(.configSpace, .warn, device: address, "its config space cannot be read")
        }
        if bytes[0] == 0xFF, bytes[1] == 0xFF, bytes[14] == 0xFF {
            return Check(
                .configSpace, .fail, device: address,
                "config space reads all ones (header type 0x7f): the card is off the bus or stuck after a failed "
                    + "reset (\"Unknown PCI header type '127'\")",
                fix: "remove and rescan it (echo 1 > /sys/bus/pci/devices/\(address)/remove; echo 1 > "
                    + "/sys/bus/pci/rescan); if it stays so, power the host off and on")
        }
        return Check(.configSpace, .ok, device: address, "config space answers")
    }

    func reset(_ hostdev: DomainHostdev, host: Host, report: HostReport) -> Check? {
        let address = hostdev.source
        if let gpu = report.gpus.first(where: { $0.address == address }) {
            let check = Doctor(files: host.files, report: report, input: nil).reset(gpu, label: address.description)
            return Check(.reset, check.status, device: address, check.summary, fix: check.fix)
        }
        // The other functions of a passed card are reset with it, on the card's line.
        if report.gpus.contains(where: { $0.functions.contains(address) && isPassed($0.address) }) { return nil }
        guard let device = report.device(at: address) else { return nil }
        if !device.resetMethods.isEmpty {
            return Check(
                .reset, .ok, device: address, "the kernel resets it by " + device.resetMethods.joined(separator: ", "))
        }
        if device.hasResetAttribute || device.supportsFLR || device.supportsAFFLR {
            return Check(.reset, .ok, device: address, "the kernel can reset it")
        }
        return Check(
            .reset, .warn, device: address, "no reset method: it may stay in a bad state after the guest stops",
            fix: "shut the guest down cleanly; reboot the host if the device does not come back")
    }

    func largeBAR(_ hostdev: DomainHostdev, host: Host, report: HostReport) throws -> Check? {
        let address = hostdev.source
        let bars = try host.bars(of: address).filter { !$0.isIO }
        guard !bars.isEmpty else { return Check(.largeBAR, .ok, device: address, "no memory BARs to check") }
        let shown = bars.map { "BAR \($0.index) \(sizeText($0.size))" + ($0.is64Bit ? " 64-bit" : "") }
            .joined(separator: ", ")
        let window = try mmioWindow(host: host)
        var total: UInt64 = 0
        for passed in hostdevs {
            total += try host.bars(of: passed.source).filter { $0.is64Bit && !$0.isIO }.reduce(0) { $0 + $1.size }
        }
        if bars.contains(where: \.is64Bit), total > window.size {
            let usesPassthroughCPU = domain.child("cpu")?.attribute("mode") == "host-passthrough"
            let needed = SharedMemory.nextPowerOfTwo(Int(total / (1 << 30)) * 2)
            let fix =
                usesPassthroughCPU
                ? "add <maxphysaddr mode='passthrough'/> inside <cpu> (libvirt ≥ 8.7): OVMF then sizes the window "
                    + "from the host's address bits"
                : "give the pcie-root controller a larger 64-bit hole: <controller type='pci' index='0' "
                    + "model='pcie-root'><pcihole64 unit='GiB'>\(needed)</pcihole64></controller>"
            return Check(
                .largeBAR, .fail, device: address,
                "\(shown); the guest's 64-bit BARs need \(sizeText(total)) and its 64-bit MMIO window is about "
                    + "\(sizeText(window.size)) (\(window.reason)): the firmware cannot map them",
                fix: fix)
        }
        let large = bars.filter { bar in (bar.resizable?.currentSize ?? 0) > 256 << 20 }
        if let bar = large.first, let resizable = bar.resizable {
            let smallest = resizable.supportedSizes.first { $0 >= 256 << 20 } ?? resizable.supportedSizes.first
            let bit = smallest.flatMap(PCIBAR.resizeBit)
            return Check(
                .largeBAR, .warn, device: address,
                "Resizable BAR is on: BAR \(bar.index) is \(sizeText(resizable.currentSize)) (supported: "
                    + resizable.supportedSizes.map(sizeText).joined(separator: ", ")
                    + "); QEMU shows the guest only this size, and some guest drivers fail with it (Code 43)",
                fix: "turn Resizable BAR off in the firmware setup, or with every driver of the card unbound: "
                    + "echo \(bit.map(String.init) ?? "N") > /sys/bus/pci/devices/\(address)/resource\(bar.index)_resize"
            )
        }
        return Check(
            .largeBAR, .ok, device: address, "\(shown); the 64-bit window is about \(sizeText(window.size))")
    }

    /// The guest's 64-bit MMIO window as OVMF sizes it: 32 GiB, or an eighth of the guest's physical address
    /// space when the address bits are given, or `<pcihole64>` when larger.
    private func mmioWindow(host: Host) throws -> (size: UInt64, reason: String) {
        var size: UInt64 = 32 << 30
        var reason = "OVMF's default"
        if let maxphys = domain.child("cpu")?.child("maxphysaddr") {
            var bits = maxphys.attribute("bits").flatMap(Int.init)
            if maxphys.attribute("mode") == "passthrough" {
                bits = try hostPhysicalBits(host)
                if let limit = maxphys.attribute("limit").flatMap(Int.init), let current = bits {
                    bits = min(current, limit)
                }
            }
            if let bits, bits > 3, bits < 64 {
                let window = UInt64(1) << UInt64(bits - 3)
                if window > size {
                    size = window
                    reason = "an eighth of \(bits) address bits"
                }
            }
        }
        let hole = domain.child("devices")?.children("controller")
            .first { $0.attribute("model") == "pcie-root" || $0.attribute("model") == "pci-root" }?
            .child("pcihole64")
        if let hole, let value = UInt64(hole.text.trimmingWhitespace()) {
            let unit = (hole.attribute("unit") ?? "KiB").lowercased()
            let scale: UInt64 = unit.hasPrefix("g") ? 1 << 30 : unit.hasPrefix("m") ? 1 << 20 : 1 << 10
            if value * scale > size {
                size = value * scale
                reason = "<pcihole64>"
            }
        }
        return (size, reason)
    }

    /// The host CPU's physical address bits from `/proc/cpuinfo`.
    private func hostPhysicalBits(_ host: Host) throws -> Int? {
        let text = try host.files.readText(host.files.path(HostPaths.cpuinfo)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("address sizes") {
            let value = line.split(separator: ":", maxSplits: 1).last ?? ""
            return Int(value.split(separator: " ").first ?? "")
        }
        return nil
    }

    // MARK: The guest as a whole

    func hugepages(host: Host, report: HostReport) throws -> Check {
        guard let backing = domain.child("memoryBacking"), let hugepages = backing.child("hugepages") else {
            return Check(.hugepages, .ok, "the guest asks for no hugepages")
        }
        let files = host.files
        guard let memory = try DomainMerger.memoryKiB(of: domain) else {
            return Check(.hugepages, .warn, "the domain gives no <memory>")
        }
        var pageKiB = 2048
        if let page = hugepages.children("page").first {
            pageKiB = try DomainMerger.pageKiB(of: page)
        } else if let meminfo = try files.readText(files.path(HostPaths.meminfo)) {
            for line in meminfo.split(separator: "\n") where line.hasPrefix("Hugepagesize:") {
                pageKiB = Int(line.filter(\.isNumber)) ?? pageKiB
            }
        }
        let directory = HostPaths.hugepages.appending("hugepages-\(pageKiB)kB")
        let needed = (memory + pageKiB - 1) / pageKiB
        guard let freeText = try files.readText(files.path(directory.appending("free_hugepages"))) else {
            return Check(
                .hugepages, .fail, "the guest wants \(pageKiB) KiB pages and the host has none of that size",
                fix:
                    "reserve them on the kernel command line (hugepagesz=\(pageSize(pageKiB)) hugepages=\(needed)) and "
                    + "reboot")
        }
        let free = Int(freeText) ?? 0
        let reserved = Int(try files.readText(files.path(directory.appending("nr_hugepages"))) ?? "") ?? 0
        guard free >= needed else {
            return Check(
                .hugepages, .fail,
                "the guest's \(memory / 1024) MiB need \(needed) pages of \(pageKiB) KiB and the host has \(free) "
                    + "free: the guest will not start",
                fix: "echo \(reserved - free + needed) > \(directory.appending("nr_hugepages")) (or hugepages="
                    + "\(reserved - free + needed) on the kernel command line)")
        }
        return Check(
            .hugepages, .ok, "the guest's \(needed) pages of \(pageKiB) KiB fit in the host's \(free) free")
    }

    func pinning(host: Host, report: HostReport) throws -> Check {
        guard let cputune = domain.child("cputune") else { return Check(.pinning, .ok, "no pinning") }
        let vcpuPins = cputune.children("vcpupin").compactMap { pin in pin.attribute("cpuset").flatMap(CPUList.parse) }
        let otherPins = (cputune.children("emulatorpin") + cputune.children("iothreadpin"))
            .compactMap { pin in pin.attribute("cpuset").flatMap(CPUList.parse) }
        guard !vcpuPins.isEmpty || !otherPins.isEmpty else { return Check(.pinning, .ok, "no pinning") }
        let topology = try host.topology()
        let known = Set(topology.cores.flatMap(\.threads))
        let missing = Set((vcpuPins + otherPins).flatMap { $0 }).subtracting(known).sorted()
        if !missing.isEmpty {
            return Check(
                .pinning, .fail, "pins to CPUs this host does not have: \(CPUList.format(missing))",
                fix: "pin to \(CPUList.format(known.sorted())) only", attach: [.pin])
        }
        var seen: [Int: Int] = [:]
        for pins in vcpuPins where pins.count == 1 { seen[pins[0], default: 0] += 1 }
        let shared = seen.filter { $0.value > 1 }.keys.sorted()
        if !shared.isEmpty {
            return Check(
                .pinning, .warn, "several vCPUs share host CPU \(CPUList.format(shared))", attach: [.pin])
        }
        let vcpuCPUs = Set(vcpuPins.filter { $0.count == 1 }.flatMap { $0 })
        let overlap = vcpuCPUs.intersection(otherPins.flatMap { $0 }).sorted()
        if !overlap.isEmpty {
            return Check(
                .pinning, .warn,
                "the emulator or I/O thread shares host CPU \(CPUList.format(overlap)) with the vCPUs",
                attach: [.pin])
        }
        let groups = topology.groups.enumerated().filter { !vcpuCPUs.isDisjoint(with: $0.element.threads) }
        let largest = topology.groups.map(\.threads.count).max() ?? 0
        if groups.count > 1, vcpuCPUs.count <= largest {
            return Check(
                .pinning, .warn,
                "the \(vcpuCPUs.count) pinned vCPUs span \(groups.count) L3 caches though one holds \(largest) "
                    + "threads: every cross-cache access is slower",
                attach: [.pin])
        }
        return Check(.pinning, .ok, "\(vcpuCPUs.count) vCPUs pinned to \(CPUList.format(vcpuCPUs.sorted()))")
    }

    func evdev(host: Host, report: HostReport) throws -> Check {
        let files = host.files
        let native = (domain.child("devices")?.children("input") ?? []).filter { $0.attribute("type") == "evdev" }
            .compactMap { $0.child("source")?.attribute("dev") }
        let commandLine = qemuArguments().flatMap(Self.evdevPaths)
        guard !native.isEmpty || !commandLine.isEmpty else { return Check(.evdev, .ok, "no evdev input") }
        let missing = (native + commandLine).filter { !files.exists(files.path(FilePath($0))) }
        if !missing.isEmpty {
            return Check(
                .evdev, .fail,
                "the guest's evdev input " + missing.joined(separator: ", ")
                    + " does not exist (unplugged or renamed): the guest will not start",
                fix: "plug the device in, or point the guest at the keyboard and mouse the host has now",
                attach: [.evdev])
        }
        if !commandLine.isEmpty {
            let text = try files.readText(files.path(HostPaths.libvirtQEMUConf)) ?? ""
            let acl = QEMUConf.deviceACL(text) ?? []
            let denied = commandLine.filter { !acl.contains($0) }
            if !denied.isEmpty {
                return Check(
                    .evdev, .fail,
                    "qemu.conf's cgroup_device_acl does not allow " + denied.joined(separator: ", ")
                        + ": QEMU cannot open them",
                    fix: "add them to cgroup_device_acl in \(HostPaths.libvirtQEMUConf) and restart libvirt, or "
                        + "use native <input type='evdev'> (libvirt ≥ 7.6)")
            }
        }
        return Check(.evdev, .ok, "evdev inputs present: " + (native + commandLine).joined(separator: ", "))
    }

    /// The evdev paths of one QEMU argument: `input-linux,…,evdev=/dev/…` (commas doubled in the path), or
    /// `'evdev':'/dev/…'` in JSON.
    static func evdevPaths(_ argument: String) -> [String] {
        if let path = DomainMerger.evdevPath(argument) { return [path] }
        let characters = Array(argument)
        var paths: [String] = []
        for marker in ["evdev=", "'evdev':'", "\"evdev\":\""].map(Array.init) {
            var index = 0
            while index + marker.count <= characters.count {
                guard Array(characters[index..<index + marker.count]) == marker else {
                    index += 1
                    continue
                }
                var end = index + marker.count
                while end < characters.count, !",'\"}".contains(characters[end]) { end += 1 }
                let path = String(characters[(index + marker.count)..<end])
                if path.hasPrefix("/") { paths.append(path) }
                index = end
            }
        }
        return paths
    }

    func shmem() -> Check {
        let devices = (domain.child("devices")?.children("shmem") ?? []).map { element -> (String, Int?) in
            let size = element.child("size").flatMap { size -> Int? in
                guard let value = Int(size.text.trimmingWhitespace()) else { return nil }
                switch (size.attribute("unit") ?? "M").lowercased() {
                case "g", "gib": return value * 1024
                case "k", "kib": return value / 1024
                case "b", "bytes": return value / (1024 * 1024)
                default: return value
                }
            }
            return (element.attribute("name") ?? "", size)
        }
        guard !devices.isEmpty else { return Check(.shmem, .ok, "no IVSHMEM shared memory") }
        var sizes: [Int: [String]] = [:]
        for (name, size) in devices {
            guard let size else {
                return Check(.shmem, .fail, "<shmem name='\(name)'> has no size libvirt can use")
            }
            sizes[size, default: []].append(name)
            if size & (size - 1) != 0 || size == 0 {
                return Check(
                    .shmem, .fail, "<shmem name='\(name)'> is \(size) MiB: IVSHMEM sizes must be powers of two",
                    fix: "set it to \(SharedMemory.nextPowerOfTwo(size)) MiB")
            }
            if name.contains("looking-glass") {
                let (width, height) = resolution ?? (1920, 1080)
                let needed = SharedMemory.lookingGlassMiB(width: width, height: height, hdr: false)
                if size < needed {
                    return Check(
                        .shmem, resolution == nil ? .warn : .fail,
                        "<shmem name='\(name)'> is \(size) MiB; Looking Glass needs \(needed) MiB for "
                            + "\(width)x\(height)",
                        fix: "set it to \(needed) MiB", attach: [.lookingGlass])
                }
                if size > 2048 {
                    return Check(
                        .shmem, .warn,
                        "<shmem name='\(name)'> is \(size) MiB: the Windows IVSHMEM driver fails above 2 GiB",
                        fix: "set it to \(needed) MiB", attach: [.lookingGlass])
                }
            }
            if name.contains("scream"), size < SharedMemory.screamMiB {
                return Check(
                    .shmem, .warn, "<shmem name='\(name)'> is \(size) MiB; Scream expects \(SharedMemory.screamMiB)",
                    attach: [.scream])
            }
        }
        if let (size, names) = sizes.first(where: { $0.value.count > 1 }) {
            return Check(
                .shmem, .fail,
                "two IVSHMEM devices of \(size) MiB (" + names.joined(separator: ", ")
                    + "): the guest side tells them apart by size",
                fix: "give each a different size")
        }
        return Check(
            .shmem, .ok,
            devices.map { "\($0.0) \($0.1 ?? 0) MiB" }.joined(separator: ", ")
                + (resolution.map { " (for \($0.width)x\($0.height))" } ?? ""))
    }

    func hidden(host: Host, report: HostReport) -> Check {
        let consumer = hostdevs.compactMap { report.device(at: $0.source) }.filter { device in
            guard device.vendor == 0x10de, device.pciClass.isDisplay else { return false }
            let name = device.deviceName ?? ""
            return !["Quadro", "Tesla", "RTX A", "NVS", "GRID"].contains { name.contains($0) }
        }
        guard let card = consumer.first else { return Check(.hidden, .ok, "no NVIDIA consumer card passed") }
        let features = domain.child("features")
        let hidden = features?.child("kvm")?.child("hidden")?.attribute("state") == "on"
        let vendorID = features?.child("hyperv")?.child("vendor_id")?.attribute("state") == "on"
        guard hidden, vendorID || features?.child("hyperv") == nil else {
            var lacking: [String] = []
            if !hidden { lacking.append("<kvm><hidden state='on'/>") }
            if !vendorID { lacking.append("<hyperv><vendor_id state='on' value='…'/>") }
            return Check(
                .hidden, .warn, device: card.address,
                "NVIDIA card \(card.address) without " + lacking.joined(separator: " and ")
                    + ": drivers before 465 stop with Code 43",
                attach: [.hidden])
        }
        return Check(.hidden, .ok, device: card.address, "KVM hidden and a vendor_id for the NVIDIA card")
    }

    func iommu(host: Host, report: HostReport) throws -> Check {
        let doctor = Doctor(files: host.files, report: report, input: nil)
        let iommu = doctor.iommu()
        if iommu.status == .fail { return Check(.iommu, .fail, "IOMMU " + iommu.summary, fix: iommu.fix) }
        let remapping = try doctor.interruptRemapping()
        if remapping.status != .ok {
            return Check(
                .iommu, remapping.status, "interrupt remapping " + remapping.summary, fix: remapping.fix)
        }
        return Check(.iommu, .ok, "IOMMU " + iommu.summary + "; interrupt remapping " + remapping.summary)
    }
}

/// One line of `/proc/iomem`.
struct IOMemRegion: Hashable {
    var start: UInt64
    var end: UInt64
    var name: String

    /// Parses `/proc/iomem`: `  start-end : name` at any depth.
    static func parse(_ text: String) -> [IOMemRegion] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let range = parts[0].trimmingCharacters().split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16)
            else { return nil }
            return IOMemRegion(start: start, end: end, name: parts[1].trimmingCharacters())
        }
    }
}

/// A size in bytes as people read it: `256 MiB`, `16 GiB`.
func sizeText(_ size: UInt64) -> String {
    if size >= 1 << 30, size % (1 << 30) == 0 { return "\(size >> 30) GiB" }
    if size >= 1 << 20, size % (1 << 20) == 0 { return "\(size >> 20) MiB" }
    if size >= 1 << 10, size % (1 << 10) == 0 { return "\(size >> 10) KiB" }
    return "\(size) bytes"
}

/// A page size as the kernel command line writes it: `1G`, `2M`.
private func pageSize(_ kib: Int) -> String {
    kib % (1 << 20) == 0 ? "\(kib >> 20)G" : kib % 1024 == 0 ? "\(kib >> 10)M" : "\(kib)K"
}

/// A number as `0x…` hexadecimal.
private func hexText(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

extension HostFiles {
    /// The permission bits of a file, following links; nil when it cannot be examined.
    func mode(_ path: FilePath) -> UInt32? {
        sysroot.status(path, following: true).map { UInt32($0.st_mode) & 0o7777 }
    }
}
