import Glibc
import SystemPackage

/// libvirt's namespace for `<qemu:commandline>`.
let qemuNamespace = "http://libvirt.org/schemas/domain/qemu/1.0"

extension Host {
    /// Merges a request into a libvirt domain: only the lines that must change do, nothing of the user's is lost,
    /// and running it twice gives the same bytes as once.
    /// - Parameters:
    ///   - request: what to add.
    ///   - document: the domain definition.
    ///   - source: its name in messages.
    ///   - recording: whether to record what was added in the domain's `<metadata>` for `detach` (not for
    ///     sections printed to be pasted by hand).
    ///   - otherDomains: the other guests libvirt defines, when known: a mediated device one of them has is
    ///     refused.
    /// - Returns: the new bytes and what the user should know.
    /// - Throws: `DevicesError` for a document that is not a domain, an unknown device, a ROM that does not fit, a
    ///   mediated device that does not exist or another guest has.
    public func attach(
        _ request: GuestRequest, to document: XMLDocument, source: String, recording: Bool = true,
        otherDomains: [LibvirtDomain] = []
    ) throws -> DomainChange {
        var merger = try DomainMerger(host: self, document: document, source: source)
        merger.isRecording = recording
        merger.otherDomains = otherDomains
        try merger.attach(request)
        return merger.finish()
    }

    /// Removes what `attach` adds for a request, and nothing else.
    /// - Returns: the new bytes and what was removed.
    /// - Throws: `DevicesError` for a document that is not a domain or a target that cannot be resolved.
    public func detach(_ request: GuestRequest, from document: XMLDocument, source: String) throws -> DomainChange {
        var merger = try DomainMerger(host: self, document: document, source: source)
        try merger.detach(request)
        return merger.finish()
    }
}

/// A PCI address as libvirt writes it in `<address domain bus slot function/>`.
struct GuestPCIAddress: Hashable {
    var domain: Int
    var bus: Int
    var slot: Int
    var function: Int

    init(domain: Int, bus: Int, slot: Int, function: Int) {
        self.domain = domain
        self.bus = bus
        self.slot = slot
        self.function = function
    }

    init?(_ element: XMLElement) {
        guard let bus = element.attribute("bus").flatMap(Self.number),
            let slot = element.attribute("slot").flatMap(Self.number),
            let function = element.attribute("function").flatMap(Self.number)
        else { return nil }
        domain = element.attribute("domain").flatMap(Self.number) ?? 0
        self.bus = bus
        self.slot = slot
        self.function = function
    }

    init(_ address: PCIAddress) {
        self.init(
            domain: Int(address.domain), bus: Int(address.bus), slot: Int(address.device),
            function: Int(address.function))
    }

    /// Parses libvirt's numbers: `0x1f` or decimal.
    static func number(_ text: String) -> Int? {
        let trimmed = text.trimmingWhitespace()
        if trimmed.hasPrefix("0x") || trimmed.hasPrefix("0X") { return Int(trimmed.dropFirst(2), radix: 16) }
        return Int(trimmed)
    }

    func attributes(guest: Bool, multifunction: Bool = false) -> KeyValuePairs<String, String?> {
        [
            "type": guest ? "pci" : nil, "domain": "0x" + hex(domain, width: 4), "bus": "0x" + hex(bus, width: 2),
            "slot": "0x" + hex(slot, width: 2), "function": "0x" + hex(function, width: 1),
            "multifunction": multifunction ? "on" : nil,
        ]
    }
}

/// The merge of one request into one domain.
struct DomainMerger {
    let host: Host
    let document: XMLDocument
    let source: String
    let domain: XMLElement
    var editor: XMLEditor
    var notes: [String] = []
    var qemuConf: String?
    /// Device elements to add, with the existing sibling to follow (nil: append).
    var deviceInsertions: [(fragment: XMLFragment, after: XMLElement?)] = []
    /// Children of `<domain>` to add.
    var domainInsertions: [XMLFragment] = []
    /// `<qemu:arg>` values to append.
    var argumentInsertions: [String] = []
    /// `<qemu:arg>` elements to remove.
    var goneArguments: [XMLElement] = []
    /// `<qemu:device>` elements for a new `<qemu:override>`.
    var overrideInsertions: [XMLFragment] = []
    /// Whether the merge adds something in libvirt's QEMU namespace besides arguments.
    var needsQEMUNamespace = false
    var report: HostReport?
    var reservedBuses: Set<Int> = []
    /// What vfioctl owns in the domain: as recorded, then as this merge leaves it.
    var ownership: DomainOwnership
    /// The record the document holds, nil when it holds none.
    let recordedOwnership: DomainOwnership?
    /// The `<vfioctl:ownership>` element, if any.
    let ownershipElement: XMLElement?
    /// The part being attached or detached: records go to it.
    var part = GuestPart.pm
    /// Whether the record is written into the domain.
    var isRecording = true
    /// Parts detach was asked for that hold nothing of vfioctl's.
    var unowned: [GuestPart] = []
    /// The other guests libvirt defines (for mediated devices one of them has).
    var otherDomains: [LibvirtDomain] = []

    init(host: Host, document: XMLDocument, source: String) throws {
        self.host = host
        self.document = document
        self.source = source
        let root = document.root
        guard root.name == "domain", root.namespace == nil else {
            throw DevicesError(
                code: .invalidData,
                message: "\(source): the root element is <\(root.qualifiedName)>, not a libvirt <domain> "
                    + "(`virsh dumpxml NAME` prints one)")
        }
        domain = root
        editor = XMLEditor(document)
        let element = DomainOwnership.element(in: root)
        ownershipElement = element
        recordedOwnership = element.map(DomainOwnership.init)
        ownership = recordedOwnership ?? DomainOwnership()
    }

    var devices: XMLElement? { domain.child("devices") }

    mutating func hostReport() throws -> HostReport {
        if let report { return report }
        let fresh = try host.report()
        report = fresh
        return fresh
    }

    // MARK: Namespaces

    /// The prefix the document binds to libvirt's QEMU namespace, if any.
    var qemuPrefix: String? {
        let tag = document.text(domain.startTag)
        for quote in ["'", "\""] {
            let needle = "=\(quote)\(qemuNamespace)\(quote)"
            guard let match = tag.firstRange(of: needle) else { continue }
            let before = tag[..<match.lowerBound]
            guard let start = before.lastIndex(of: ":") else { continue }
            let name = before[before.index(after: start)...]
            if before[..<start].hasSuffix("xmlns") { return String(name) }
        }
        return nil
    }

    var commandline: XMLElement? {
        domain.children.first { $0.name == "commandline" && $0.namespace == qemuNamespace }
    }

    /// Every `<qemu:arg value>` of the document, with its element.
    var arguments: [XMLElement] { commandline?.children.filter { $0.name == "arg" } ?? [] }

    // MARK: Finishing

    mutating func finish() -> DomainChange {
        let prefix = qemuPrefix ?? "qemu"
        let commandlinePath = ElementPath([Step(name: "qemu:commandline")])
        let namespacePath = ElementPath([])
        if !deviceInsertions.isEmpty {
            if let devices {
                for insertion in deviceInsertions {
                    editor.insert(insertion.fragment, into: devices, after: insertion.after)
                }
            } else {
                ownership.addShared(Record(.container, ElementPath([Step(name: "devices")])))
                editor.insert(XMLFragment("devices", children: deviceInsertions.map(\.fragment)), into: domain)
            }
        }
        if let commandline, !goneArguments.isEmpty {
            let remaining = commandline.children.filter { child in !goneArguments.contains { $0.range == child.range } }
            // A <qemu:commandline> vfioctl created goes with its last argument (so does any emptied one in a
            // domain without a record, and one that held only vfioctl's input objects, which an older vfioctl
            // created), and the namespace with the last element that used it.
            let onlyVfioctl = commandline.children.allSatisfy { child in
                let value = child.attribute("value") ?? ""
                return Self.isEvdevArgument(value) || (value.hasPrefix("-") && goneArguments.contains(child))
            }
            let created =
                recordedOwnership == nil || onlyVfioctl
                || ownership.shared.contains { $0.kind == .container && $0.path == commandlinePath }
            if remaining.isEmpty && argumentInsertions.isEmpty && created {
                editor.remove(commandline)
                ownership.shared.removeAll { $0.path == commandlinePath }
                let others = domain.children.filter { $0.namespace == qemuNamespace && $0.range != commandline.range }
                let declared =
                    recordedOwnership == nil || onlyVfioctl
                    || ownership.shared.contains { $0.kind == .attribute && $0.path == namespacePath }
                if others.isEmpty, declared, let prefix = qemuPrefix {
                    editor.removeAttribute("xmlns:\(prefix)", from: domain)
                    ownership.shared.removeAll { $0.path == namespacePath }
                }
            } else {
                for element in goneArguments { editor.remove(element) }
            }
        }
        if !argumentInsertions.isEmpty {
            let fragments = argumentInsertions.map { XMLFragment("\(prefix):arg", ["value": $0]) }
            if let commandline {
                for fragment in fragments { editor.insert(fragment, into: commandline) }
            } else {
                ownership.addShared(Record(.container, commandlinePath))
                editor.insert(XMLFragment("\(prefix):commandline", children: fragments), into: domain)
            }
        }
        if !overrideInsertions.isEmpty {
            ownership.addShared(Record(.container, ElementPath([Step(name: "qemu:override")])))
            editor.insert(XMLFragment("\(prefix):override", children: overrideInsertions), into: domain)
        }
        if !argumentInsertions.isEmpty || needsQEMUNamespace, qemuPrefix == nil {
            ownership.addShared(Record(.attribute, namespacePath, attribute: "xmlns:qemu"))
            editor.addAttribute("xmlns:qemu", qemuNamespace, to: domain)
        } else if argumentInsertions.isEmpty, !needsQEMUNamespace, let prefix = qemuPrefix,
            ownership.shared.contains(where: { $0.kind == .attribute && $0.path == namespacePath }),
            domain.children.allSatisfy({ $0.namespace != qemuNamespace || editor.isRemoved($0) })
        {
            // The namespace vfioctl declared goes with the last element that used it.
            editor.removeAttribute("xmlns:\(prefix)", from: domain)
            ownership.shared.removeAll { $0.path == namespacePath }
        }
        if isRecording { writeOwnership() }
        flushDomainInsertions()
        let bytes = editor.result()
        return DomainChange(
            bytes: bytes, changed: bytes != document.bytes, notes: notes, qemuConf: qemuConf, unowned: unowned,
            isUnrecorded: recordedOwnership == nil)
    }

    // MARK: Attach

    /// An Intel integrated GPU at the host's 00:02.0, passed whole (GVT-d).
    static func isIGD(_ device: PCIDevice) -> Bool {
        device.vendor == 0x8086 && device.pciClass.isDisplay && device.address.domain == 0 && device.address.bus == 0
            && device.address.device == 2 && device.address.function == 0
    }

    mutating func attach(_ request: GuestRequest) throws {
        var request = request
        guard !request.isEmpty else {
            throw DevicesError(
                code: .invalidArgument,
                message: "nothing to attach: the request names no part", object: .request(.parts))
        }
        for target in request.gpus { try attachGPU(target, request: request) }
        if request.gpus.isEmpty, request.romFile != nil || request.romBar != nil {
            throw DevicesError(
                code: .invalidArgument, message: "a ROM setting needs a GPU in the request", object: .request(.rom))
        }
        for target in request.hostdevs { try attachHostdev(target) }
        if !request.mdevs.isEmpty { try attachMdevs(request.mdevs) }
        // GVT-d: QEMU maps the IGD's OpRegion for the guest driver only with x-igd-opregion=on.
        for target in request.gpus {
            guard let display = try hostReport().devices(named: target).first(where: Self.isIGD),
                !request.overrides.contains(where: { $0.device == display.address && $0.property == "x-igd-opregion" })
            else { continue }
            request.overrides.append(
                GuestRequest.Override(device: display.address, property: "x-igd-opregion", value: .bool(true)))
        }
        if !request.overrides.isEmpty || !request.laptopGPUs.isEmpty { try attachOverrides(request) }
        if let lookingGlass = request.lookingGlass {
            part = .lookingGlass
            try attachLookingGlass(lookingGlass)
        }
        if request.scream {
            part = .scream
            attachScream(lookingGlass: request.lookingGlass)
        }
        if let evdev = request.evdev {
            part = .evdev
            try attachEvdev(evdev)
        }
        if !request.tuning.isEmpty { try attachTuning(request.tuning) }
    }

    /// The host's functions of a GPU target, function 0 first.
    mutating func gpuFunctions(_ target: BindTarget) throws -> [PCIDevice] {
        let report = try hostReport()
        let found = try report.devices(named: target)
        guard let display = found.first(where: { $0.pciClass.isDisplay }) else {
            throw DevicesError(
                code: .invalidArgument,
                message: "\(target) is not a GPU (\(found[0].className ?? found[0].class))",
                object: .request(.hostdev))
        }
        guard let gpu = report.gpus.first(where: { $0.address == display.address }) else {
            throw DevicesError(code: .notFound, message: "\(display.address) is not a GPU of this host")
        }
        return gpu.functions.compactMap { report.device(at: $0) }.sorted { $0.address.function < $1.address.function }
    }

    /// Every `<hostdev type='pci'>` by its host source address.
    var pciHostdevs: [GuestPCIAddress: XMLElement] {
        var map: [GuestPCIAddress: XMLElement] = [:]
        for hostdev in devices?.children("hostdev") ?? [] where hostdev.attribute("type") == "pci" {
            guard let address = hostdev.child("source")?.child("address").flatMap(GuestPCIAddress.init) else {
                continue
            }
            map[address] = hostdev
        }
        return map
    }

    /// Every guest PCI address already taken in the document.
    var usedGuestAddresses: [GuestPCIAddress] {
        var used: [GuestPCIAddress] = []
        func walk(_ element: XMLElement, inSource: Bool) {
            if element.name == "address", element.attribute("type") == "pci", !inSource,
                let address = GuestPCIAddress(element)
            {
                used.append(address)
            }
            for child in element.children { walk(child, inSource: inSource || element.name == "source") }
        }
        if let devices { walk(devices, inSource: false) }
        return used
    }

    var isQ35: Bool {
        let machine = domain.child("os")?.child("type")?.attribute("machine") ?? ""
        return machine.contains("q35")
    }

    /// Chooses the guest bus and slot for a new multi-function device: a new PCIe root port on q35, a free slot
    /// of bus 0 on i440fx.
    mutating func newGuestSlot(for gpu: PCIAddress) -> (bus: Int, slot: Int, controller: XMLFragment?) {
        if isQ35 {
            let indexes = (devices?.children("controller") ?? []).filter { $0.attribute("type") == "pci" }
                .compactMap { $0.attribute("index").flatMap(GuestPCIAddress.number) }
            var index = max((indexes.max() ?? 0) + 1, 1)
            while reservedBuses.contains(index) { index += 1 }
            reservedBuses.insert(index)
            let alias = "ua-vfioctl-port-" + hex(gpu.bus, width: 2) + "-" + hex(gpu.device, width: 2)
            let controller = XMLFragment(
                "controller", ["type": "pci", "index": String(index), "model": "pcie-root-port"],
                children: [XMLFragment("alias", ["name": alias])])
            return (index, 0, controller)
        }
        let taken = Set(usedGuestAddresses.filter { $0.bus == 0 }.map(\.slot))
        var slot = 0x08
        while taken.contains(slot) || reservedBuses.contains(-slot) { slot += 1 }
        reservedBuses.insert(-slot)
        return (0, slot, nil)
    }

    mutating func attachGPU(_ target: BindTarget, request: GuestRequest) throws {
        let functions = try gpuFunctions(target)
        guard let display = functions.first(where: { $0.pciClass.isDisplay }) ?? functions.first else { return }
        part = .gpu(display.address)
        let rom = try romElement(for: display, request: request)
        let existing = pciHostdevs
        // Keep the guest slot the user (or an earlier attach) gave any function of the card.
        var guestBus: Int?
        var guestSlot: Int?
        var guestDomain = 0
        for function in functions {
            if let hostdev = existing[GuestPCIAddress(function.address)],
                let address = hostdev.children("address").first(where: { $0.attribute("type") == "pci" })
                    .flatMap(GuestPCIAddress.init)
            {
                guestBus = address.bus
                guestSlot = address.slot
                guestDomain = address.domain
                break
            }
        }
        if guestBus == nil, Self.isIGD(display) {
            // GVT-d: the guest's graphics driver and firmware find the IGD, its OpRegion and stolen memory only at
            // 00:02.0 on the root bus.
            let igd = GuestPCIAddress(domain: 0, bus: 0, slot: 2, function: 0)
            if let used = usedGuestAddresses.first(where: { $0.bus == 0 && $0.slot == 2 }) {
                throw DevicesError(
                    code: .conflict,
                    message: "\(source) already uses guest address \(used.text): an Intel iGPU passed whole (GVT-d) "
                        + "must sit at 00:02.0; move that device to another slot first")
            }
            guestBus = igd.bus
            guestSlot = igd.slot
            notes.append(
                "\(display.address) is an Intel iGPU passed whole (GVT-d): it sits at guest 00:02.0 with "
                    + "x-igd-opregion=on (<qemu:override>, libvirt 8.2+); OVMF needs an IGD option ROM "
                    + "(i915ovmf.rom, or the platform's IntelGopDriver) given as its ROM")
        }
        if guestBus == nil {
            let chosen = newGuestSlot(for: display.address)
            guestBus = chosen.bus
            guestSlot = chosen.slot
            if let controller = chosen.controller {
                addDevice(controller, after: devices?.children("controller").last)
            }
        }
        let multifunction = functions.count > 1
        let lastHostdev = devices?.children("hostdev").last
        for function in functions {
            let guest = GuestPCIAddress(
                domain: guestDomain, bus: guestBus ?? 0, slot: guestSlot ?? 0, function: Int(function.address.function))
            let isDisplay = function.address == display.address
            let guestAddress = XMLFragment(
                "address", guest.attributes(guest: true, multifunction: multifunction && guest.function == 0))
            if let hostdev = existing[GuestPCIAddress(function.address)] {
                updateHostdev(hostdev, rom: isDisplay ? rom : nil, guestAddress: guestAddress)
                continue
            }
            var children = [
                XMLFragment(
                    "source",
                    children: [XMLFragment("address", GuestPCIAddress(function.address).attributes(guest: false))])
            ]
            if isDisplay, let rom { children.append(rom) }
            children.append(guestAddress)
            addDevice(
                XMLFragment("hostdev", ["mode": "subsystem", "type": "pci", "managed": "yes"], children: children),
                after: lastHostdev, ids: function.ids)
        }
        attachLargeBARs(functions)
        if display.isBootVGA {
            notes.append(
                "\(display.address) is the host's boot GPU: the host loses its display while the guest runs "
                    + "(single-GPU passthrough)")
        }
    }

    /// Brings an existing hostdev in line: the ROM element and the guest address's multifunction flag; every
    /// other child and attribute stays as the user wrote it.
    mutating func updateHostdev(_ hostdev: XMLElement, rom: XMLFragment?, guestAddress: XMLFragment) {
        if let rom {
            if let current = hostdev.child("rom") {
                var merged = rom
                for attribute in current.attributes where merged.attribute(attribute.name) == nil {
                    merged.attributes.append(.init(name: attribute.name, value: attribute.value))
                }
                changeElement(current, to: merged)
            } else if let sourceElement = hostdev.child("source") {
                addElement(rom, into: hostdev, after: sourceElement)
            }
        }
        if let address = hostdev.children("address").first(where: { $0.attribute("type") == "pci" }) {
            if guestAddress.attribute("multifunction") == "on", address.attribute("multifunction") == nil {
                addAttribute("multifunction", "on", to: address)
            }
        } else {
            addElement(guestAddress, into: hostdev)
        }
    }

    /// The `<rom>` element for a GPU: `--rom FILE` (checked against the device), else a ROM `vbios install`
    /// put in place, with `bar` when asked.
    mutating func romElement(for display: PCIDevice, request: GuestRequest) throws -> XMLFragment? {
        var file: String?
        if let path = request.romFile {
            let rooted = FilePath(path)
            guard let bytes = try host.files.read(rooted) else {
                throw DevicesError(code: .notFound, message: "ROM file \(path) does not exist")
            }
            let check = VBIOS.check(bytes, for: (display.vendor, display.device))
            guard check.valid, check.matchesDevice != false else {
                let problems =
                    check.problems.isEmpty
                    ? "its images are for another device, not \(display.vendorID):\(display.deviceID)"
                    : check.problems.joined(separator: "; ")
                throw DevicesError(
                    code: .invalidData, message: "\(path) is not a usable ROM for \(display.address): \(problems)")
            }
            let absolute = path.hasPrefix("/") ? path : Self.currentDirectory().appending(path).string
            file = absolute
            if !absolute.hasPrefix(HostPaths.vgaBIOS.string + "/"), !absolute.hasPrefix("/var/lib/libvirt/") {
                notes.append(
                    "QEMU may not be allowed to read \(absolute) under libvirt's AppArmor/SELinux policy: "
                        + "`vfioctl vbios install \(path) --for \(display.address)` copies it to \(HostPaths.vgaBIOS)")
            }
        } else {
            let installed = Host.installedROMPath(
                vendor: display.vendor, device: display.device, address: display.address)
            if host.files.exists(host.files.path(installed)) {
                file = installed.string
                notes.append("using the ROM installed for \(display.address): \(installed)")
            }
        }
        let bar = request.romBar.map { $0 ? "on" : "off" }
        guard file != nil || bar != nil else { return nil }
        return XMLFragment("rom", ["bar": bar, "file": file])
    }

    static func currentDirectory() -> FilePath {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return FilePath("/") }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return FilePath(String(decoding: bytes, as: UTF8.self))
    }

    mutating func attachHostdev(_ target: BindTarget) throws {
        let report = try hostReport()
        let found: [PCIDevice]
        switch target {
        case .gpu:
            throw DevicesError(
                code: .invalidArgument, message: "\(target) is a GPU: it goes with its functions",
                object: .request(.gpu))
        case .device(let selector):
            found = try report.devices(matching: selector)
        }
        let existing = pciHostdevs
        let lastHostdev = devices?.children("hostdev").last
        for device in found {
            if device.isBridge {
                throw DevicesError(
                    code: .invalidArgument,
                    message: "\(device.address) is a bridge: a guest takes the endpoints behind it, not the bridge")
            }
            guard existing[GuestPCIAddress(device.address)] == nil else {
                notes.append("\(device.address) is already in the domain")
                continue
            }
            part = .hostdev(device.address)
            addDevice(
                XMLFragment(
                    "hostdev", ["mode": "subsystem", "type": "pci", "managed": "yes"],
                    children: [
                        XMLFragment(
                            "source",
                            children: [
                                XMLFragment("address", GuestPCIAddress(device.address).attributes(guest: false))
                            ])
                    ]), after: lastHostdev, ids: device.ids)
        }
    }

    // MARK: Shared memory

    func shmem(named name: String) -> XMLElement? {
        devices?.children("shmem").first { $0.attribute("name") == name }
    }

    /// The size of a `<shmem>` in MiB, from its `<size unit>`.
    static func sizeMiB(of shmem: XMLElement) -> Int? {
        guard let size = shmem.child("size"), let value = Int(size.text.trimmingWhitespace()) else { return nil }
        // A size that does not fit in 64 bits is no size vfioctl knows (never a crash).
        switch (size.attribute("unit") ?? "b").lowercased() {
        case "m", "mib": return value
        case "k", "kib": return value / 1024
        case "g", "gib": return value.multipliedReportingOverflow(by: 1024).overflow ? nil : value * 1024
        case "b", "bytes": return value / (1024 * 1024)
        case "mb": return value / (1024 * 1024) * 1_000_000 + value % (1024 * 1024) * 1_000_000 / (1024 * 1024)
        default: return nil
        }
    }

    mutating func ensureShmem(name: String, sizeMiB: Int) {
        let model = XMLFragment("model", ["type": "ivshmem-plain"])
        let size = XMLFragment("size", ["unit": "M"], text: String(sizeMiB))
        if let existing = shmem(named: name) {
            if let current = existing.child("model") {
                if current.attribute("type") != "ivshmem-plain" { changeElement(current, to: model) }
            } else {
                addElement(model, into: existing)
            }
            if let current = existing.child("size") {
                if Self.sizeMiB(of: current) != sizeMiB || current.attribute("unit") != "M" {
                    changeElement(current, to: size)
                }
            } else {
                addElement(size, into: existing)
            }
            return
        }
        addDevice(
            XMLFragment("shmem", ["name": name], children: [model, size]), after: devices?.children("shmem").last)
    }

    /// The kvmfr `-device`/`-object` pair for Looking Glass, in QEMU's JSON syntax (QEMU ≥ 6.2, libvirt ≥ 7.9).
    static func kvmfrArguments(sizeMiB: Int) -> [String] {
        [
            "-device", "{'driver':'ivshmem-plain','id':'shmem-looking-glass','memdev':'looking-glass'}",
            "-object",
            "{'qom-type':'memory-backend-file','id':'looking-glass','mem-path':'/dev/kvmfr0','size':"
                + "\(sizeMiB * 1024 * 1024),'share':true}",
        ]
    }

    /// Whether an argument value belongs to vfioctl's kvmfr pair.
    static func isKVMFRArgument(_ value: String) -> Bool {
        value.contains("'memdev':'looking-glass'") || value.contains("'id':'looking-glass'")
    }

    mutating func attachLookingGlass(_ request: GuestRequest.LookingGlass) throws {
        let size = request.sizeMiB
        notes.append(
            "Looking Glass at \(request.width)x\(request.height)\(request.hdr ? " HDR" : ""): \(size) MiB "
                + "(\(request.formula == .b7 ? "B7" : "current") formula)")
        if request.kvmfr {
            if let old = shmem(named: "looking-glass") {
                if owns(old) {
                    dropElement(old)
                    notes.append("replaced the /dev/shm Looking Glass device with kvmfr")
                } else {
                    notes.append(
                        "the domain's own <shmem name='looking-glass'> (line \(old.line)) is kept: remove it if kvmfr "
                            + "replaces it")
                }
            }
            setArguments(Self.kvmfrArguments(sizeMiB: size), matching: Self.isKVMFRArgument)
            notes.append(
                "kvmfr: load the module with the same size (`options kvmfr static_size_mb=\(size)` in "
                    + "/etc/modprobe.d/kvmfr.conf, `kvmfr` in /etc/modules-load.d/kvmfr.conf) and the udev rule "
                    + "SUBSYSTEM==\"kvmfr\", GROUP=\"kvm\", MODE=\"0660\"; needs QEMU ≥ 6.2 and libvirt ≥ 7.9")
            qemuConf = QEMUConf.aclBlock(existing: try existingACL(), adding: ["/dev/kvmfr0"])
            return
        }
        let owned = ownedArgumentIDs
        removeArguments { Self.isKVMFRArgument($0) && owned.contains(Self.objectID($0) ?? "") }
        if arguments.contains(where: {
            Self.isKVMFRArgument($0.attribute("value") ?? "")
                && !owned.contains(Self.objectID($0.attribute("value") ?? "") ?? "")
        }) {
            notes.append(
                "the domain's own kvmfr <qemu:arg>s for Looking Glass are kept: remove them if /dev/shm replaces them")
        }
        ensureShmem(name: "looking-glass", sizeMiB: size)
        notes.append(
            "Looking Glass: let the client read /dev/shm/looking-glass: "
                + "`f /dev/shm/looking-glass 0660 USER kvm -` in /etc/tmpfiles.d/10-looking-glass.conf")
    }

    mutating func attachScream(lookingGlass: GuestRequest.LookingGlass?) {
        // The sizes of the other IVSHMEM devices once this merge is done (a Looking Glass device being set here
        // counts with its new size).
        var taken = Set(
            (devices?.children("shmem") ?? []).filter {
                $0.attribute("name") != "scream-ivshmem"
                    && !(lookingGlass != nil && $0.attribute("name") == "looking-glass")
            }.compactMap(Self.sizeMiB(of:)))
        if let lookingGlass { taken.insert(lookingGlass.sizeMiB) }
        var size = SharedMemory.screamMiB
        while taken.contains(size) { size *= 2 }
        if size != SharedMemory.screamMiB {
            notes.append(
                "Scream finds its device by size and another IVSHMEM device has \(SharedMemory.screamMiB) MiB: "
                    + "using \(size) MiB; set UseIVSHMEM to \(size) in the guest (HKLM\\SYSTEM\\CurrentControlSet\\"
                    + "Services\\Scream\\Options)")
        }
        ensureShmem(name: "scream-ivshmem", sizeMiB: size)
    }

    func existingACL() throws -> Set<String>? {
        guard let text = try host.files.readText(host.files.path(HostPaths.libvirtQEMUConf)) else { return nil }
        return QEMUConf.deviceACL(text)
    }

    // MARK: QEMU arguments

    /// Makes the document's `<qemu:arg>` list hold `values` (flag/value pairs): pairs whose value matches are
    /// updated in place, missing ones appended.
    mutating func setArguments(_ values: [String], matching isOurs: (String) -> Bool) {
        let existing = arguments
        var remaining: [String] = []
        var index = 0
        while index + 1 < values.count {
            let flag = values[index]
            let value = values[index + 1]
            if let current = existing.first(where: {
                isOurs($0.attribute("value") ?? "") && Self.sameObject($0.attribute("value") ?? "", value)
            }) {
                let fragment = XMLFragment(current.qualifiedName, ["value": value])
                if Self.isEvdevArgument(current.attribute("value") ?? "") {
                    // An input object with vfioctl's id is vfioctl's, recorded or not.
                    if editor.replace(current, with: fragment), let id = Self.objectID(value) {
                        record(Record(.added, Self.argumentPath(id)))
                    }
                } else {
                    changeElement(current, to: fragment)
                }
            } else {
                remaining += [flag, value]
                if let id = Self.objectID(value) { record(Record(.added, Self.argumentPath(id))) }
            }
            index += 2
        }
        argumentInsertions += remaining
    }

    /// Whether two argument values describe the same object (same `id=` or JSON id).
    static func sameObject(_ a: String, _ b: String) -> Bool {
        objectID(a) != nil && objectID(a) == objectID(b)
    }

    static func objectID(_ value: String) -> String? {
        if value.hasPrefix("{") {
            for key in ["'id':'", "\"id\":\""] {
                if let range = value.firstRange(of: key) {
                    let rest = value[range.upperBound...]
                    return rest.firstIndex(where: { $0 == "'" || $0 == "\"" }).map { String(rest[..<$0]) }
                }
            }
            return nil
        }
        for option in value.split(separator: ",") where option.hasPrefix("id=") { return String(option.dropFirst(3)) }
        return nil
    }

    /// Removes every flag/value pair whose value matches; an emptied `<qemu:commandline>` goes too.
    mutating func removeArguments(matching isOurs: (String) -> Bool) {
        let existing = arguments
        var gone: [XMLElement] = []
        for (index, argument) in existing.enumerated() where isOurs(argument.attribute("value") ?? "") {
            gone.append(argument)
            if index > 0, existing[index - 1].attribute("value")?.hasPrefix("-") == true {
                gone.append(existing[index - 1])
            }
        }
        for element in gone where !goneArguments.contains(where: { $0.range == element.range }) {
            goneArguments.append(element)
            if let id = element.attribute("value").flatMap(Self.objectID) { forget(Self.argumentPath(id)) }
        }
    }
}
