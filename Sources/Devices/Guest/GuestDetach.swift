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
                message: "nothing to detach: the request names no part", object: .request(.parts))
        }
        guard recordedOwnership != nil else {
            try detachUnrecorded(request)
            return
        }
        // Overrides go first: their aliases sit inside the hostdevs removed below.
        var detachedSlots: Set<GuestPCIAddress> = []
        for target in request.gpus { detachedSlots.formUnion(try detachSlots(target)) }
        let detachedHostdevs = Set(try hostdevAddresses(request).map { PCIAddress(slot: $0) })
        try detachOverrides(request) { address in
            detachedSlots.contains(GuestPCIAddress(address.slot)) || detachedHostdevs.contains(address)
        }
        for target in request.gpus {
            let slots = Set(try detachSlots(target))
            let parts = ownership.parts.map(\.part).filter { part in
                guard case .gpu(let address) = part else { return false }
                return slots.contains(GuestPCIAddress(address.slot))
            }
            if parts.isEmpty, !removeUnrecordedPorts(for: slots),
                let slot = slots.min(by: { ($0.bus, $0.slot) < ($1.bus, $1.slot) })
            {
                unowned.append(.gpu(PCIAddress(slot: slot)))
            }
            for part in parts { _ = undo(part) }
        }
        for address in try hostdevAddresses(request) {
            let part = GuestPart.hostdev(PCIAddress(slot: address))
            if !undo(part) { unowned.append(part) }
        }
        detachMdevs(request.mdevs, recorded: true)
        var simple: [GuestPart] = []
        if request.lookingGlass != nil { simple.append(.lookingGlass) }
        if request.scream { simple.append(.scream) }
        if request.evdev != nil { simple.append(.evdev) }
        simple += Self.tuningParts(request.tuning)
        for part in simple where !undo(part) {
            // Inputs an older vfioctl added before the record are vfioctl's by their ids and aliases.
            if part == .evdev, removeUnrecordedEvdev() { continue }
            unowned.append(part)
        }
        closeEmptied()
    }

    /// Removes root ports an older vfioctl added for a GPU (by their `ua-vfioctl-port-BB-SS` alias) with the
    /// card's hostdevs on them: vfioctl's beyond doubt, record or not.
    /// - Returns: whether there were any.
    mutating func removeUnrecordedPorts(for slots: Set<GuestPCIAddress>) -> Bool {
        var found = false
        for controller in devices?.children("controller") ?? [] where controller.attribute("type") == "pci" {
            guard let alias = controller.child("alias")?.attribute("name"), alias.hasPrefix("ua-vfioctl-port-"),
                let index = controller.attribute("index").flatMap(GuestPCIAddress.number)
            else { continue }
            let onPort = pciHostdevs.filter { source, hostdev in
                slots.contains(GuestPCIAddress(domain: source.domain, bus: source.bus, slot: source.slot, function: 0))
                    && hostdev.children("address").contains { GuestPCIAddress($0)?.bus == index }
            }
            guard !onPort.isEmpty else { continue }
            for (_, hostdev) in onPort { editor.remove(hostdev) }
            editor.remove(controller)
            found = true
        }
        return found
    }

    /// Removes the evdev objects and inputs with vfioctl's ids and aliases.
    /// - Returns: whether there were any.
    mutating func removeUnrecordedEvdev() -> Bool {
        let objects = arguments.filter { Self.isEvdevArgument($0.attribute("value") ?? "") }
        let inputs = nativeEvdevInputs
        removeArguments(matching: Self.isEvdevArgument)
        for input in inputs { editor.remove(input) }
        return !objects.isEmpty || !inputs.isEmpty
    }

    /// The tuning parts a request names, in attach's order.
    static func tuningParts(_ tuning: GuestRequest.Tuning) -> [GuestPart] {
        [
            (tuning.hugepages, GuestPart.hugepages), (tuning.pin, .pin), (tuning.hyperv, .hyperv),
            (tuning.hidden, .hidden), (tuning.smbios, .smbios), (tuning.pm, .pm),
        ].filter(\.0).map(\.1)
    }

    /// The host addresses of a request's hostdevs.
    mutating func hostdevAddresses(_ request: GuestRequest) throws -> [GuestPCIAddress] {
        var result: [GuestPCIAddress] = []
        for target in request.hostdevs {
            switch target {
            case .device(.address(let address)): result.append(GuestPCIAddress(address))
            case .device(let selector):
                result += try hostReport().devices(matching: selector).map { GuestPCIAddress($0.address) }
            case .gpu:
                throw DevicesError(
                    code: .invalidArgument, message: "\(target) is a GPU: it goes with its functions",
                    object: .request(.gpu))
            }
        }
        return result
    }

    /// Detaches from a domain without a record of what vfioctl added (an older vfioctl wrote it, or a person).
    ///
    /// Only what is vfioctl's beyond doubt goes: the named devices' hostdevs, root ports, inputs and input objects
    /// with vfioctl's aliases and ids. Shared memory and tuning stay, as they may be the user's own.
    mutating func detachUnrecorded(_ request: GuestRequest) throws {
        var freedBuses: Set<Int> = []
        var gone: [XMLElement] = []
        let hostdevs = pciHostdevs
        for target in request.gpus {
            let slots = Set(try detachSlots(target))
            let matching = hostdevs.filter { address, _ in
                slots.contains(
                    GuestPCIAddress(domain: address.domain, bus: address.bus, slot: address.slot, function: 0))
            }
            if matching.isEmpty, let slot = slots.min(by: { ($0.bus, $0.slot) < ($1.bus, $1.slot) }) {
                unowned.append(.gpu(PCIAddress(slot: slot)))
            }
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
        for address in try hostdevAddresses(request) {
            guard let hostdev = hostdevs[address] else {
                unowned.append(.hostdev(PCIAddress(slot: address)))
                continue
            }
            editor.remove(hostdev)
            gone.append(hostdev)
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
        detachMdevs(request.mdevs, recorded: false)
        if request.lookingGlass != nil { unowned.append(.lookingGlass) }
        if request.scream { unowned.append(.scream) }
        if request.evdev != nil, !removeUnrecordedEvdev() { unowned.append(.evdev) }
        unowned += Self.tuningParts(request.tuning)
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
}
