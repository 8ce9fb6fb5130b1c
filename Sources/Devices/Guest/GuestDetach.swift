extension DomainMerger {
    /// The host slots (domain, bus, device) a GPU target names: from the address itself when given, else from
    /// the host.
    mutating func detachSlots(_ target: BindTarget) throws -> [GuestPCIAddress] {
        if case .device(.address(let address)) = target {
            return [GuestPCIAddress(address.slot)]
        }
        return try Array(Set(gpuFunctions(target).map { GuestPCIAddress($0.address.slot) }))
    }

    mutating func detach(_ request: GuestRequest) throws {
        guard !request.isEmpty else {
            throw DevicesError(
                code: .invalidArgument,
                message: "nothing to detach: name at least one of --gpu, --hostdev, --looking-glass, --scream, "
                    + "--evdev, --tune (or a part of it)")
        }
        var freedBuses: Set<Int> = []
        var gone: [XMLElement] = []
        let hostdevs = pciHostdevs
        for target in request.gpus {
            let slots = Set(try detachSlots(target))
            let matching = hostdevs.filter { address, _ in
                slots.contains(
                    GuestPCIAddress(domain: address.domain, bus: address.bus, slot: address.slot, function: 0))
            }
            if matching.isEmpty { notes.append("no hostdev of \(target) in the domain") }
            for (_, hostdev) in matching.sorted(by: { $0.value.range.lowerBound < $1.value.range.lowerBound }) {
                if let guest = hostdev.children("address").first(where: { $0.attribute("type") == "pci" })
                    .flatMap(GuestPCIAddress.init)
                {
                    freedBuses.insert(guest.bus)
                }
                editor.remove(hostdev)
                gone.append(hostdev)
            }
        }
        for target in request.hostdevs {
            var addresses: [GuestPCIAddress] = []
            switch target {
            case .device(.address(let address)): addresses = [GuestPCIAddress(address)]
            case .device(let selector):
                addresses = try hostReport().devices(matching: selector).map { GuestPCIAddress($0.address) }
            case .gpu: throw DevicesError(code: .invalidArgument, message: "\(target) is a GPU: use --gpu \(target)")
            }
            for address in addresses {
                guard let hostdev = hostdevs[address] else {
                    notes.append("no hostdev for \(target) in the domain")
                    continue
                }
                editor.remove(hostdev)
                gone.append(hostdev)
            }
        }
        // A root port vfioctl added goes when nothing is left on its bus.
        if !freedBuses.isEmpty {
            let stillUsed = Set(
                usedGuestAddresses.filter { used in
                    !gone.contains { element in
                        element.children("address").contains { GuestPCIAddress($0) == used }
                    }
                }.map(\.bus))
            for controller in devices?.children("controller") ?? [] where controller.attribute("type") == "pci" {
                guard let index = controller.attribute("index").flatMap(GuestPCIAddress.number),
                    freedBuses.contains(index), !stillUsed.contains(index),
                    controller.child("alias")?.attribute("name")?.hasPrefix("ua-vfioctl-port-") == true
                else { continue }
                editor.remove(controller)
            }
        }
        if request.lookingGlass != nil {
            if let shmem = shmem(named: "looking-glass") { editor.remove(shmem) }
            removeArguments(matching: Self.isKVMFRArgument)
        }
        if request.scream, let shmem = shmem(named: "scream-ivshmem") { editor.remove(shmem) }
        if request.evdev != nil {
            removeArguments(matching: Self.isEvdevArgument)
            for input in nativeEvdevInputs { editor.remove(input) }
        }
        detachTuning(request.tuning)
        // A <devices> left with nothing in it goes too (libvirt reads a missing one as an empty one).
        if let devices, !devices.children.isEmpty, devices.children.allSatisfy(editor.isRemoved),
            holdsOnlyElements(devices)
        {
            editor.remove(devices)
        }
    }

    /// Whether everything between the tags of `element` is its children and white space.
    func holdsOnlyElements(_ element: XMLElement) -> Bool {
        guard let content = element.content else { return true }
        var index = content.lowerBound
        for child in element.children {
            guard document.bytes[index..<child.range.lowerBound].allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) })
            else { return false }
            index = child.range.upperBound
        }
        return document.bytes[index..<content.upperBound].allSatisfy { [0x20, 0x09, 0x0A, 0x0D].contains($0) }
    }

    /// Removes a child element set that vfioctl's tuning writes; the parent goes too when nothing else is in it.
    mutating func removeChildren(of parent: XMLElement, where isOurs: (XMLElement) -> Bool) {
        let ours = parent.children.filter(isOurs)
        guard !ours.isEmpty else { return }
        if ours.count == parent.children.count {
            editor.remove(parent)
        } else {
            for child in ours { editor.remove(child) }
        }
    }

    mutating func detachTuning(_ tuning: GuestRequest.Tuning) {
        if tuning.hugepages, let backing = domain.child("memoryBacking") {
            removeChildren(of: backing) { $0.name == "hugepages" || $0.name == "nosharepages" }
        }
        if tuning.pin {
            if let cputune = domain.child("cputune") {
                removeChildren(of: cputune) { ["vcpupin", "emulatorpin", "iothreadpin"].contains($0.name) }
            }
            if let iothreads = domain.child("iothreads") { editor.remove(iothreads) }
            notes.append("<vcpu> and <cpu> stay: the guest needs them; edit them to taste")
        }
        if tuning.hyperv || tuning.hidden, let features = domain.child("features") {
            if tuning.hyperv, let hyperv = features.child("hyperv") {
                editor.remove(hyperv)
            } else if tuning.hidden, let hyperv = features.child("hyperv") {
                removeChildren(of: hyperv) { $0.name == "vendor_id" }
            }
            if tuning.hidden, let kvm = features.child("kvm") {
                removeChildren(of: kvm) { $0.name == "hidden" }
            }
        }
        if tuning.smbios {
            if let sysinfo = domain.children("sysinfo").first(where: { $0.attribute("type") == "smbios" }) {
                editor.remove(sysinfo)
            }
            if let smbios = domain.child("os")?.child("smbios"), smbios.attribute("mode") == "sysinfo" {
                editor.remove(smbios)
            }
        }
        if tuning.pm, let pm = domain.child("pm") { editor.remove(pm) }
    }
}
