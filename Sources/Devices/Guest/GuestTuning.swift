import SystemPackage

extension DomainMerger {
    /// libvirt's order of `<domain>`'s children, as `virsh dumpxml` writes them.
    static let domainOrder = [
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory",
        "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads", "iothreadids", "cputune", "numatune",
        "resource", "sysinfo", "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock",
        "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel",
    ]

    /// Puts `fragment` into `<domain>` where libvirt would write it: after the nearest existing predecessor.
    mutating func insertDomainChild(_ fragment: XMLFragment) {
        let name = fragment.name
        guard let position = Self.domainOrder.firstIndex(of: name) else {
            editor.insert(fragment, into: domain)
            return
        }
        for predecessor in Self.domainOrder[..<position].reversed() {
            if let sibling = domain.children.last(where: { $0.name == predecessor && $0.namespace == nil }) {
                editor.insert(fragment, into: domain, after: sibling)
                return
            }
        }
        if let first = domain.children.first {
            // Nothing comes before it: it goes first, indented like the others.
            let indent = editor.childIndentation(of: domain)
            editor.insertBefore(fragment, element: first, indent: indent)
        } else {
            editor.insert(fragment, into: domain)
        }
    }

    /// Replaces `<domain>`'s child `name` with `fragment`, or inserts it.
    mutating func setDomainChild(_ fragment: XMLFragment) {
        if let current = domain.child(fragment.name), current.namespace == nil {
            editor.replace(current, with: fragment)
        } else {
            insertDomainChild(fragment)
        }
    }

    /// Makes `parent` hold `fragment` as its child of that name (replacing the first one), or creates it.
    mutating func setChild(_ fragment: XMLFragment, of parent: XMLElement) {
        if let current = parent.child(fragment.name) {
            editor.replace(current, with: fragment)
        } else {
            editor.insert(fragment, into: parent)
        }
    }

    /// The memory given to the guest in KiB, from `<memory>`.
    var memoryKiB: Int? { get throws { try Self.memoryKiB(of: domain) } }

    /// The memory a domain gives its guest in KiB, from `<memory>`.
    /// - Throws: `DevicesError` (`.invalidData`) quoting the element when the size does not fit in 64 bits of KiB.
    static func memoryKiB(of domain: XMLElement) throws -> Int? {
        guard let memory = domain.child("memory") else { return nil }
        let text = memory.text.trimmingWhitespace()
        let unit = memory.attribute("unit") ?? "KiB"
        let element = "<memory unit='\(unit)'>\(text)</memory>"
        guard let value = Int(text) else {
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            throw DevicesError(code: .invalidData, message: "\(element) is too large to count: give the real size")
        }
        guard value >= 0 else {
            throw DevicesError(code: .invalidData, message: "\(element) is negative: give the real size")
        }
        let (multiplier, divisor): (Int, Int)
        switch unit.lowercased() {
        case "b", "bytes": (multiplier, divisor) = (1, 1024)
        case "k", "kib": (multiplier, divisor) = (1, 1)
        case "m", "mib": (multiplier, divisor) = (1 << 10, 1)
        case "g", "gib": (multiplier, divisor) = (1 << 20, 1)
        case "t", "tib": (multiplier, divisor) = (1 << 30, 1)
        case "kb": (multiplier, divisor) = (1000, 1024)
        case "mb": (multiplier, divisor) = (1_000_000, 1024)
        case "gb": (multiplier, divisor) = (1_000_000_000, 1024)
        default: return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else {
            throw DevicesError(
                code: .invalidData,
                message: "\(element) is more than \(Int.max) \(unit == "KiB" ? "KiB" : "units"): "
                    + "too large to count; give the real size")
        }
        return product / divisor
    }

    /// The size of a hugepage in KiB, from `<page size unit>` (KiB when no unit is given).
    /// - Throws: `DevicesError` (`.invalidData`) quoting the element when the size is not a positive number that
    ///   fits in 64 bits of KiB.
    static func pageKiB(of page: XMLElement) throws -> Int {
        guard let text = page.attribute("size") else { return 2048 }
        let unit = page.attribute("unit") ?? "KiB"
        let element = "<page size='\(text)' unit='\(unit)'/>"
        guard let size = Int(text), size > 0 else {
            throw DevicesError(
                code: .invalidData, message: "\(element) is not a page size: give 2048 (KiB) or 1 unit='GiB'")
        }
        let multiplier: Int
        switch unit.lowercased() {
        case "g", "gib": multiplier = 1 << 20
        case "m", "mib": multiplier = 1 << 10
        default: multiplier = 1
        }
        let (product, overflow) = size.multipliedReportingOverflow(by: multiplier)
        guard !overflow else {
            throw DevicesError(
                code: .invalidData, message: "\(element) is too large to count: give 2048 (KiB) or 1 unit='GiB'")
        }
        return product
    }

    mutating func attachTuning(_ tuning: GuestRequest.Tuning) throws {
        let cpu = try CPUInfo(files: host.files)
        if tuning.hugepages { try attachHugepages() }
        if tuning.pin { try attachPinning(vcpus: tuning.vcpus, vendor: cpu.vendor) }
        if tuning.hyperv || tuning.hidden {
            attachHyperV(full: tuning.hyperv, hidden: tuning.hidden, vendor: cpu.vendor)
        }
        if tuning.smbios { try attachSMBIOS() }
        if tuning.pm {
            setDomainChild(
                XMLFragment(
                    "pm",
                    children: [
                        XMLFragment("suspend-to-mem", ["enabled": "yes"]),
                        XMLFragment("suspend-to-disk", ["enabled": "yes"]),
                    ]))
        }
    }

    mutating func attachHugepages() throws {
        if let backing = domain.child("memoryBacking") {
            // Keep the user's memfd/shared/locked settings; add what is missing.
            if backing.child("hugepages") == nil { editor.insert(XMLFragment("hugepages"), into: backing) }
            if backing.child("nosharepages") == nil { editor.insert(XMLFragment("nosharepages"), into: backing) }
        } else {
            insertDomainChild(
                XMLFragment("memoryBacking", children: [XMLFragment("hugepages"), XMLFragment("nosharepages")]))
        }
        guard let kib = try memoryKiB else { return }
        let files = host.files
        let directory = HostPaths.hugepages.appending("hugepages-2048kB")
        let reserved = Int(try files.readText(files.path(directory.appending("nr_hugepages"))) ?? "") ?? 0
        let needed = kib / 2048 + (kib % 2048 == 0 ? 0 : 1)
        if reserved < needed {
            notes.append(
                "the guest's \(kib / 1024) MiB need \(needed) hugepages of 2 MiB and the host has \(reserved): "
                    + "`echo \(needed) > \(directory.appending("nr_hugepages"))` before starting it (or "
                    + "hugepages=\(needed) on the kernel command line)")
        }
    }

    mutating func attachPinning(vcpus: Int?, vendor: String?) throws {
        let topology = try host.topology()
        // Without --vcpus the guest keeps the count it has, when the host can pin that many.
        var wanted = vcpus
        if wanted == nil, let current = domain.child("vcpu").flatMap({ Int($0.text.trimmingWhitespace()) }),
            (try? PinningPlan(topology: topology, vcpus: current)) != nil
        {
            wanted = current
        }
        let plan = try PinningPlan(topology: topology, vcpus: wanted)
        notes += plan.notes
        notes.append(
            "pinning \(plan.vcpus.count) vCPUs to host CPUs \(CPUList.format(plan.vcpus)); the host keeps "
                + "\(CPUList.format(plan.host)), emulator and I/O thread on \(CPUList.format(plan.emulator))")
        let vcpu = XMLFragment("vcpu", ["placement": "static"], text: String(plan.vcpus.count))
        setDomainChild(vcpu)
        setDomainChild(XMLFragment("iothreads", text: "1"))
        var pins = plan.vcpus.enumerated().map { index, cpu in
            XMLFragment("vcpupin", ["vcpu": String(index), "cpuset": String(cpu)])
        }
        pins.append(XMLFragment("emulatorpin", ["cpuset": CPUList.format(plan.emulator)]))
        pins.append(XMLFragment("iothreadpin", ["iothread": "1", "cpuset": CPUList.format(plan.emulator)]))
        if let cputune = domain.child("cputune") {
            // The user's other tuning (shares, periods, schedulers) stays; the pins are vfioctl's.
            let ours: Set<String> = ["vcpupin", "emulatorpin", "iothreadpin"]
            let existingPins = cputune.children.filter { ours.contains($0.name) }
            let others = cputune.children.filter { !ours.contains($0.name) }
            let same =
                existingPins.count == pins.count
                && zip(existingPins, pins).allSatisfy { element, fragment in
                    element.name == fragment.name && element.attributes.map(\.name) == fragment.attributes.map(\.name)
                        && element.attributes.map(\.value) == fragment.attributes.map(\.value)
                }
            if !same {
                if others.isEmpty {
                    editor.replace(cputune, with: XMLFragment("cputune", children: pins))
                } else {
                    for pin in existingPins { editor.remove(pin) }
                    for pin in pins { editor.insert(pin, into: cputune, after: others.last) }
                }
            }
        } else {
            insertDomainChild(XMLFragment("cputune", children: pins))
        }
        let cores = plan.vcpus.count / plan.threadsPerCore
        var cpuChildren = [
            XMLFragment(
                "topology",
                ["sockets": "1", "dies": "1", "cores": String(cores), "threads": String(plan.threadsPerCore)]),
            XMLFragment("cache", ["mode": "passthrough"]),
        ]
        if vendor == "amd" { cpuChildren.append(XMLFragment("feature", ["policy": "require", "name": "topoext"])) }
        if let current = domain.child("cpu") {
            for feature in current.children("feature")
            where !cpuChildren.contains(where: { $0.attribute("name") == feature.attribute("name") }) {
                cpuChildren.append(
                    XMLFragment("feature", ["policy": feature.attribute("policy"), "name": feature.attribute("name")]))
            }
        }
        setDomainChild(
            XMLFragment(
                "cpu", ["mode": "host-passthrough", "check": "none", "migratable": "on"], children: cpuChildren))
    }

    /// The Hyper-V `vendor_id` vfioctl writes: 12 characters, as the field allows.
    static let hyperVVendorID = "1234567890ab"

    mutating func attachHyperV(full: Bool, hidden: Bool, vendor: String?) {
        var enlightenments: [XMLFragment] = []
        if full {
            enlightenments = [
                XMLFragment("relaxed", ["state": "on"]), XMLFragment("vapic", ["state": "on"]),
                XMLFragment("spinlocks", ["state": "on", "retries": "8191"]), XMLFragment("vpindex", ["state": "on"]),
                XMLFragment("runtime", ["state": "on"]), XMLFragment("synic", ["state": "on"]),
                XMLFragment("stimer", ["state": "on"], children: [XMLFragment("direct", ["state": "on"])]),
                XMLFragment("reset", ["state": "on"]),
            ]
            if hidden {
                enlightenments.append(XMLFragment("vendor_id", ["state": "on", "value": Self.hyperVVendorID]))
            }
            enlightenments += [
                XMLFragment("frequencies", ["state": "on"]), XMLFragment("reenlightenment", ["state": "on"]),
                XMLFragment("tlbflush", ["state": "on"]), XMLFragment("ipi", ["state": "on"]),
            ]
            // evmcs is for Intel VMX only; on AMD it stops the guest from starting.
            if vendor == "intel" { enlightenments.append(XMLFragment("evmcs", ["state": "on"])) }
        }
        let features = domain.child("features")
        var hyperv: XMLFragment?
        if full {
            hyperv = XMLFragment("hyperv", ["mode": "custom"], children: enlightenments)
        } else if hidden {
            // Only hiding: add vendor_id to the user's own enlightenments.
            let vendorID = XMLFragment("vendor_id", ["state": "on", "value": Self.hyperVVendorID])
            if let current = features?.child("hyperv") {
                setChild(vendorID, of: current)
            } else {
                hyperv = XMLFragment("hyperv", ["mode": "custom"], children: [vendorID])
            }
        }
        let kvm = hidden ? XMLFragment("kvm", children: [XMLFragment("hidden", ["state": "on"])]) : nil
        if let features {
            if let hyperv { setChild(hyperv, of: features) }
            if let kvm {
                if let current = features.child("kvm") {
                    setChild(XMLFragment("hidden", ["state": "on"]), of: current)
                } else {
                    editor.insert(kvm, into: features)
                }
            }
            if features.child("acpi") == nil, full { editor.insert(XMLFragment("acpi"), into: features) }
        } else {
            let children = [XMLFragment("acpi"), XMLFragment("apic")] + [hyperv, kvm].compactMap { $0 }
            insertDomainChild(XMLFragment("features", children: children))
        }
        guard full else { return }
        // stimer needs the hypervclock timer.
        let timer = XMLFragment("timer", ["name": "hypervclock", "present": "yes"])
        if let clock = domain.child("clock") {
            if let current = clock.children("timer").first(where: { $0.attribute("name") == "hypervclock" }) {
                if current.attribute("present") != "yes" { editor.replace(current, with: timer) }
            } else {
                editor.insert(timer, into: clock)
            }
        } else {
            insertDomainChild(
                XMLFragment(
                    "clock", ["offset": "localtime"],
                    children: [
                        XMLFragment("timer", ["name": "rtc", "tickpolicy": "catchup"]),
                        XMLFragment("timer", ["name": "pit", "tickpolicy": "delay"]),
                        XMLFragment("timer", ["name": "hpet", "present": "no"]), timer,
                    ]))
        }
    }

    mutating func attachSMBIOS() throws {
        let files = host.files
        func value(_ name: String) throws -> String? {
            do {
                guard let text = try files.readText(files.path(HostPaths.dmi.appending(name))), !text.isEmpty else {
                    return nil
                }
                return text
            } catch let error as DevicesError where error.code == .permissionDenied {
                return nil
            }
        }
        func entries(_ names: KeyValuePairs<String, String>) throws -> [XMLFragment] {
            var result: [XMLFragment] = []
            for (entry, file) in names {
                if let text = try value(file) { result.append(XMLFragment("entry", ["name": entry], text: text)) }
            }
            return result
        }
        let bios = try entries(["vendor": "bios_vendor", "version": "bios_version", "date": "bios_date"])
        let system = try entries([
            "manufacturer": "sys_vendor", "product": "product_name", "version": "product_version",
            "serial": "product_serial", "sku": "product_sku", "family": "product_family",
        ])
        let board = try entries([
            "manufacturer": "board_vendor", "product": "board_name", "version": "board_version",
            "serial": "board_serial",
        ])
        var blocks: [XMLFragment] = []
        if !bios.isEmpty { blocks.append(XMLFragment("bios", children: bios)) }
        if !system.isEmpty { blocks.append(XMLFragment("system", children: system)) }
        if !board.isEmpty { blocks.append(XMLFragment("baseBoard", children: board)) }
        guard !blocks.isEmpty else {
            throw DevicesError(
                code: .notFound, message: "the host's SMBIOS strings (\(HostPaths.dmi)) cannot be read: nothing to copy"
            )
        }
        if (try? value("product_serial")) == nil {
            notes.append("serial numbers in \(HostPaths.dmi) are readable by root only: run as root to copy them")
        }
        setDomainChild(XMLFragment("sysinfo", ["type": "smbios"], children: blocks))
        // sysinfo applies only with <smbios mode='sysinfo'/> in <os>.
        if let os = domain.child("os") {
            setChild(XMLFragment("smbios", ["mode": "sysinfo"]), of: os)
        } else {
            insertDomainChild(
                XMLFragment(
                    "os",
                    children: [XMLFragment("type", text: "hvm"), XMLFragment("smbios", ["mode": "sysinfo"])]))
        }
    }
}
