import SystemPackage

extension DomainMerger {
    /// libvirt's order of `<domain>`'s children, as `virsh dumpxml` writes them.
    static let domainOrder = [
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory",
        "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads", "iothreadids", "cputune", "numatune",
        "resource", "sysinfo", "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock",
        "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel",
    ]

    /// Puts `fragment` into `<domain>` where libvirt would write it (when the merge finishes, so that children
    /// added at one place come in libvirt's order).
    mutating func insertDomainChild(_ fragment: XMLFragment) {
        domainInsertions.append(fragment)
    }

    /// Inserts the queued children of `<domain>`, each after its nearest existing predecessor.
    mutating func flushDomainInsertions() {
        let queued = domainInsertions.enumerated().sorted { a, b in
            let left = Self.domainOrder.firstIndex(of: a.element.name) ?? Self.domainOrder.count
            let right = Self.domainOrder.firstIndex(of: b.element.name) ?? Self.domainOrder.count
            return (left, a.offset) < (right, b.offset)
        }
        domainInsertions = []
        for (_, fragment) in queued { placeDomainChild(fragment) }
    }

    /// Inserts `fragment` into `<domain>` after the nearest existing predecessor.
    mutating func placeDomainChild(_ fragment: XMLFragment) {
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
        if tuning.hugepages {
            part = .hugepages
            try attachHugepages()
        }
        if tuning.pin {
            part = .pin
            try attachPinning(vcpus: tuning.vcpus, vendor: cpu.vendor)
        }
        if tuning.hyperv || tuning.hidden {
            attachHyperV(full: tuning.hyperv, hidden: tuning.hidden, vendor: cpu.vendor)
        }
        if tuning.smbios {
            part = .smbios
            try attachSMBIOS()
        }
        if tuning.pm {
            part = .pm
            attachPM()
        }
    }

    /// Both suspend states, except one the domain turns off itself.
    mutating func attachPM() {
        let states = ["suspend-to-mem", "suspend-to-disk"]
        guard let pm = domain.child("pm") else {
            addDomainChild(XMLFragment("pm", children: states.map { XMLFragment($0, ["enabled": "yes"]) }))
            return
        }
        for state in states {
            guard let current = pm.child(state) else {
                addElement(XMLFragment(state, ["enabled": "yes"]), into: pm)
                continue
            }
            if current.attribute("enabled") == "no" {
                notes.append(
                    "the domain's <\(state) enabled='no'/> (line \(current.line)) is kept: set enabled='yes' there "
                        + "to let the guest suspend that way")
            }
        }
    }

    mutating func attachHugepages() throws {
        if let backing = domain.child("memoryBacking") {
            // Keep the user's memfd/shared/locked settings; add what is missing.
            if backing.child("hugepages") == nil { addElement(XMLFragment("hugepages"), into: backing) }
            if backing.child("nosharepages") == nil { addElement(XMLFragment("nosharepages"), into: backing) }
        } else {
            addDomainChild(
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

    /// The elements of `<cputune>` that pin.
    static let pinElements: Set<String> = ["vcpupin", "emulatorpin", "iothreadpin"]

    mutating func attachPinning(vcpus: Int?, vendor: String?) throws {
        let topology = try host.topology()
        let currentVCPU = domain.child("vcpu")
        let currentCount = currentVCPU.flatMap { Int($0.text.trimmingWhitespace()) }
        if let cputune = domain.child("cputune") {
            let existingPins = cputune.children.filter { Self.pinElements.contains($0.name) }
            if !existingPins.isEmpty, !existingPins.allSatisfy(owns) {
                // The user's pinning stays, and the vCPU count it pins with it.
                notes.append(
                    "the domain's own pinning (<cputune> line \(cputune.line)) is kept, and with it its vCPU count: "
                        + "remove its <vcpupin>, <emulatorpin> and <iothreadpin> to pin from the host's topology")
                if let currentCount, let plan = try? PinningPlan(topology: topology, vcpus: currentCount) {
                    attachCPU(vcpus: currentCount, threadsPerCore: plan.threadsPerCore, vendor: vendor)
                }
                return
            }
        }
        // Without --vcpus the guest keeps the count it has, when the host can pin that many.
        var wanted = vcpus
        if wanted == nil, let currentCount, (try? PinningPlan(topology: topology, vcpus: currentCount)) != nil {
            wanted = currentCount
        }
        let plan = try PinningPlan(topology: topology, vcpus: wanted)
        notes += plan.notes
        let count = plan.vcpus.count
        if let currentVCPU {
            if currentCount != count {
                // The user's placement and cpuset stay; only the count changes.
                var fragment = XMLFragment("vcpu", text: String(count))
                fragment.attributes = currentVCPU.attributes.map { .init(name: $0.name, value: $0.value) }
                changeElement(currentVCPU, to: fragment)
                notes.append("the guest's <vcpu> goes from \(currentCount.map(String.init) ?? "?") to \(count)")
            }
        } else {
            addDomainChild(XMLFragment("vcpu", ["placement": "static"], text: String(count)))
        }
        if domain.child("iothreads") == nil { addDomainChild(XMLFragment("iothreads", text: "1")) }
        var pins = plan.vcpus.enumerated().map { index, cpu in
            XMLFragment("vcpupin", ["vcpu": String(index), "cpuset": String(cpu)])
        }
        pins.append(XMLFragment("emulatorpin", ["cpuset": CPUList.format(plan.emulator)]))
        pins.append(XMLFragment("iothreadpin", ["iothread": "1", "cpuset": CPUList.format(plan.emulator)]))
        let pinning =
            "pinning \(count) vCPUs to host CPUs \(CPUList.format(plan.vcpus)); the host keeps "
            + "\(CPUList.format(plan.host)), emulator and I/O thread on \(CPUList.format(plan.emulator))"
        if let cputune = domain.child("cputune") {
            let existingPins = cputune.children.filter { Self.pinElements.contains($0.name) }
            if existingPins.isEmpty {
                notes.append(pinning)
                // The user's other tuning (shares, periods, schedulers) stays.
                for pin in pins { addElement(pin, into: cputune) }
            } else {
                notes.append(pinning)
                let same =
                    existingPins.count == pins.count
                    && zip(existingPins, pins).allSatisfy { element, fragment in
                        element.name == fragment.name
                            && element.attributes.map(\.name) == fragment.attributes.map(\.name)
                            && element.attributes.map(\.value) == fragment.attributes.map(\.value)
                    }
                if !same {
                    for pin in existingPins { dropElement(pin) }
                    for pin in pins { addElement(pin, into: cputune, after: existingPins.last) }
                }
            }
        } else {
            notes.append(pinning)
            addDomainChild(XMLFragment("cputune", children: pins))
        }
        attachCPU(vcpus: count, threadsPerCore: plan.threadsPerCore, vendor: vendor)
    }

    /// `<cpu>` with a topology that matches the pinning, the host's cache and, on AMD, topoext; the user's mode,
    /// topology and features stay.
    mutating func attachCPU(vcpus: Int, threadsPerCore: Int, vendor: String?) {
        let topology = XMLFragment(
            "topology",
            ["sockets": "1", "dies": "1", "cores": String(vcpus / threadsPerCore), "threads": String(threadsPerCore)])
        let cache = XMLFragment("cache", ["mode": "passthrough"])
        let topoext = XMLFragment("feature", ["policy": "require", "name": "topoext"])
        guard let cpu = domain.child("cpu") else {
            // QEMU gives a guest the host's CPU (`-cpu host`) only under KVM; a type='qemu' (TCG) guest gets the
            // most QEMU can emulate instead (libvirt's mode='maximum', libvirt 7.1+).
            let mode = domain.attribute("type") == "qemu" ? "maximum" : "host-passthrough"
            addDomainChild(
                XMLFragment(
                    "cpu", ["mode": mode, "check": "none", "migratable": "on"],
                    children: [topology, cache] + (vendor == "amd" ? [topoext] : [])))
            return
        }
        let mode = cpu.attribute("mode") ?? "custom"
        let passesCache = mode == "host-passthrough" || mode == "maximum"
        if !passesCache {
            notes.append(
                "the domain's <cpu mode='\(mode)'> is kept: mode='host-passthrough' gives the guest the host's own "
                    + "CPU model and cache")
        }
        if let current = cpu.child("topology") {
            let product = ["sockets", "dies", "clusters", "cores", "threads"].reduce(1) { product, name in
                product * (current.attribute(name).flatMap { Int($0) } ?? 1)
            }
            if product != vcpus {
                // A topology that no longer adds up to the vCPU count is refused by libvirt.
                changeElement(current, to: topology)
                notes.append(
                    "the domain's <topology> (line \(current.line)) did not add up to \(vcpus) vCPUs: replaced")
            } else if current.attribute("threads") != String(threadsPerCore) {
                notes.append(
                    "the domain's <topology> (line \(current.line)) is kept: threads='\(threadsPerCore)' would match "
                        + "the host CPUs the guest is pinned to")
            }
        } else {
            addElement(topology, into: cpu)
        }
        // libvirt refuses <cache mode='passthrough'/> in any other CPU mode: the guest would not start.
        if cpu.child("cache") == nil && passesCache { addElement(cache, into: cpu) }
        guard vendor == "amd" else { return }
        if let current = cpu.children("feature").first(where: { $0.attribute("name") == "topoext" }) {
            if let policy = current.attribute("policy"), policy == "disable" || policy == "forbid" {
                notes.append(
                    "the domain's <feature policy='\(policy)' name='topoext'/> is kept: AMD guests see SMT "
                        + "threads only with policy='require'")
            }
        } else {
            addElement(topoext, into: cpu)
        }
    }

    /// The Hyper-V `vendor_id` vfioctl writes: 12 characters, as the field allows.
    static let hyperVVendorID = "1234567890ab"

    /// The enlightenments vfioctl turns on, in libvirt's order; `vendor_id` goes with hiding.
    static func enlightenments(hidden: Bool, vendor: String?) -> [XMLFragment] {
        var list = [
            XMLFragment("relaxed", ["state": "on"]), XMLFragment("vapic", ["state": "on"]),
            XMLFragment("spinlocks", ["state": "on", "retries": "8191"]), XMLFragment("vpindex", ["state": "on"]),
            XMLFragment("runtime", ["state": "on"]), XMLFragment("synic", ["state": "on"]),
            XMLFragment("stimer", ["state": "on"], children: [XMLFragment("direct", ["state": "on"])]),
            XMLFragment("reset", ["state": "on"]),
        ]
        if hidden { list.append(XMLFragment("vendor_id", ["state": "on", "value": hyperVVendorID])) }
        list += [
            XMLFragment("frequencies", ["state": "on"]), XMLFragment("reenlightenment", ["state": "on"]),
            XMLFragment("tlbflush", ["state": "on"]), XMLFragment("ipi", ["state": "on"]),
        ]
        // evmcs is for Intel VMX only; on AMD it stops the guest from starting.
        if vendor == "intel" { list.append(XMLFragment("evmcs", ["state": "on"])) }
        return list
    }

    mutating func attachHyperV(full: Bool, hidden: Bool, vendor: String?) {
        let vendorID = XMLFragment("vendor_id", ["state": "on", "value": Self.hyperVVendorID])
        let hiddenKVM = XMLFragment("hidden", ["state": "on"])
        let hypervPath = ElementPath([Step(name: "features"), Step(name: "hyperv")])
        guard let features = domain.child("features") else {
            // One new <features> holds what both parts add; acpi and apic go with it.
            var children = [XMLFragment("acpi"), XMLFragment("apic")]
            ownership.addShared(Record(.container, ElementPath([Step(name: "features")])))
            for basic in children {
                ownership.addShared(Record(.added, ElementPath([Step(name: "features"), Self.step(of: basic)])))
            }
            if full || hidden {
                part = full ? .hyperv : .hidden
                let list = full ? Self.enlightenments(hidden: hidden, vendor: vendor) : [vendorID]
                children.append(XMLFragment("hyperv", ["mode": "custom"], children: list))
                record(Record(.added, hypervPath))
            }
            if hidden {
                part = .hidden
                if full { record(Record(.added, hypervPath.appending(Step(name: "vendor_id")))) }
                children.append(XMLFragment("kvm", children: [hiddenKVM]))
                record(Record(.added, ElementPath([Step(name: "features"), Step(name: "kvm")])))
            }
            insertDomainChild(XMLFragment("features", children: children))
            if full {
                part = .hyperv
                attachHypervClock()
            }
            return
        }
        let hyperv = features.child("hyperv")
        if full {
            part = .hyperv
            if let hyperv {
                if let mode = hyperv.attribute("mode"), mode == "passthrough" {
                    notes.append(
                        "the domain's <hyperv mode='passthrough'> (line \(hyperv.line)) is kept: it turns on every "
                            + "enlightenment the host has")
                } else {
                    for enlightenment in Self.enlightenments(hidden: false, vendor: vendor) {
                        if let current = hyperv.child(enlightenment.name) {
                            if current.attribute("state") == "off" {
                                notes.append(
                                    "the domain's <\(enlightenment.name) state='off'/> (line \(current.line)) is kept: "
                                        + "set state='on' there to turn it on")
                            }
                        } else {
                            addElement(enlightenment, into: hyperv)
                        }
                    }
                }
            } else {
                addElement(
                    XMLFragment(
                        "hyperv", ["mode": "custom"], children: Self.enlightenments(hidden: hidden, vendor: vendor)),
                    into: features)
                if hidden {
                    part = .hidden
                    record(Record(.added, hypervPath.appending(Step(name: "vendor_id"))))
                    part = .hyperv
                }
            }
            if features.child("acpi") == nil { addElement(XMLFragment("acpi"), into: features) }
            attachHypervClock()
        }
        guard hidden else { return }
        part = .hidden
        if let hyperv {
            if let current = hyperv.child("vendor_id") {
                if current.attribute("state") == "off" {
                    notes.append(
                        "the domain's <vendor_id state='off'/> (line \(current.line)) is kept: set state='on' and a "
                            + "value there to hide the hypervisor's vendor")
                }
            } else if hyperv.attribute("mode") != "passthrough" {
                addElement(vendorID, into: hyperv)
            }
        } else if !full {
            addElement(XMLFragment("hyperv", ["mode": "custom"], children: [vendorID]), into: features)
        }
        if let kvm = features.child("kvm") {
            if let current = kvm.child("hidden") {
                if current.attribute("state") == "off" {
                    notes.append(
                        "the domain's <kvm><hidden state='off'/> (line \(current.line)) is kept: set state='on' there "
                            + "to hide KVM")
                }
            } else {
                addElement(hiddenKVM, into: kvm)
            }
        } else {
            addElement(XMLFragment("kvm", children: [hiddenKVM]), into: features)
        }
    }

    /// The hypervclock timer stimer needs.
    mutating func attachHypervClock() {
        let timer = XMLFragment("timer", ["name": "hypervclock", "present": "yes"])
        guard let clock = domain.child("clock") else {
            addDomainChild(
                XMLFragment(
                    "clock", ["offset": "localtime"],
                    children: [
                        XMLFragment("timer", ["name": "rtc", "tickpolicy": "catchup"]),
                        XMLFragment("timer", ["name": "pit", "tickpolicy": "delay"]),
                        XMLFragment("timer", ["name": "hpet", "present": "no"]), timer,
                    ]))
            return
        }
        if let current = clock.children("timer").first(where: { $0.attribute("name") == "hypervclock" }) {
            if current.attribute("present") == "no" {
                notes.append(
                    "the domain's <timer name='hypervclock' present='no'/> (line \(current.line)) is kept: "
                        + "Hyper-V's stimer needs present='yes'")
            }
        } else {
            addElement(timer, into: clock)
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
        if let current = domain.children("sysinfo").first(where: { $0.attribute("type") == "smbios" }) {
            notes.append(
                "the domain's own <sysinfo type='smbios'> (line \(current.line)) is kept: remove it to copy the "
                    + "host's SMBIOS strings")
        } else {
            addDomainChild(XMLFragment("sysinfo", ["type": "smbios"], children: blocks))
        }
        // sysinfo applies only with <smbios mode='sysinfo'/> in <os>.
        let smbios = XMLFragment("smbios", ["mode": "sysinfo"])
        if let os = domain.child("os") {
            if let current = os.child("smbios") {
                if current.attribute("mode") != "sysinfo" {
                    notes.append(
                        "the domain's <smbios mode='\(current.attribute("mode") ?? "")'/> (line \(current.line)) is "
                            + "kept: mode='sysinfo' makes the guest see the <sysinfo> strings")
                }
            } else {
                addElement(smbios, into: os)
            }
        } else {
            addDomainChild(XMLFragment("os", children: [XMLFragment("type", text: "hvm"), smbios]))
        }
    }
}
