/// QEMU device properties on passed devices through libvirt's `<qemu:override>` (libvirt ≥ 8.2):
///
/// ```
/// <hostdev …><alias name='ua-vfioctl-0000-01-00-0'/>…</hostdev>
/// <qemu:override>
///   <qemu:device alias='ua-vfioctl-0000-01-00-0'>
///     <qemu:frontend>
///       <qemu:property name='x-pci-sub-vendor-id' type='unsigned' value='5218'/>
///     </qemu:frontend>
///   </qemu:device>
/// </qemu:override>
/// ```
extension DomainMerger {
    /// The user alias vfioctl gives a hostdev it overrides properties of.
    static func overrideAlias(_ address: PCIAddress) -> String {
        "ua-vfioctl-"
            + address.description.replacingOccurrences(of: ":", with: "-")
            .replacingOccurrences(of: ".", with: "-")
    }

    /// The `<qemu:override>` element, if any.
    var overrideElement: XMLElement? {
        domain.children.first { $0.name == "override" && $0.namespace == qemuNamespace }
    }

    /// The properties each device gets: the request's own, then the subsystem IDs of each laptop GPU.
    mutating func overrideProperties(_ request: GuestRequest) throws -> [(
        PCIAddress, [(String, GuestRequest.Override.Value)]
    )] {
        var result: [(PCIAddress, [(String, GuestRequest.Override.Value)])] = []
        func add(_ device: PCIAddress, _ property: String, _ value: GuestRequest.Override.Value) {
            if let index = result.firstIndex(where: { $0.0 == device }) {
                result[index].1.removeAll { $0.0 == property }
                result[index].1.append((property, value))
            } else {
                result.append((device, [(property, value)]))
            }
        }
        for override in request.overrides {
            guard let property = override.property, let value = override.value, !property.isEmpty else {
                throw DevicesError(
                    code: .invalidArgument,
                    message: "an override of \(override.device) needs a property and a value "
                        + "(\(override.device):x-pci-sub-vendor-id=0x1025)")
            }
            add(override.device, property, value)
        }
        for target in request.laptopGPUs {
            let functions = try gpuFunctions(target)
            guard let display = functions.first(where: { $0.pciClass.isDisplay }) ?? functions.first else { continue }
            guard let vendor = display.subsystemVendorID.map({ UInt64($0.rawValue) }),
                let device = display.subsystemDeviceID.map({ UInt64($0.rawValue) }), vendor != 0
            else {
                throw DevicesError(
                    code: .invalidData,
                    message: "\(display.address) reports no subsystem IDs to give the guest: set them by hand "
                        + "(x-pci-sub-vendor-id, x-pci-sub-device-id from the laptop's own firmware tables)")
            }
            add(display.address, "x-pci-sub-vendor-id", .unsigned(vendor))
            add(display.address, "x-pci-sub-device-id", .unsigned(device))
        }
        return result
    }

    mutating func attachOverrides(_ request: GuestRequest) throws {
        for (address, properties) in try overrideProperties(request) {
            part = .override(address)
            let alias = try userAlias(for: address)
            let prefix = qemuPrefix ?? "qemu"
            let fragments = properties.map { name, value in
                XMLFragment("\(prefix):property", ["name": name, "type": value.type, "value": value.text])
            }
            needsQEMUNamespace = true
            guard let override = overrideElement else {
                record(
                    Record(
                        .added,
                        ElementPath([
                            Step(name: "qemu:override"), Step(name: "qemu:device", key: "alias", value: alias),
                        ])))
                overrideInsertions.append(
                    XMLFragment(
                        "\(prefix):device", ["alias": alias],
                        children: [XMLFragment("\(prefix):frontend", children: fragments)]))
                continue
            }
            guard let device = override.children.first(where: { $0.name == "device" && $0.attribute("alias") == alias })
            else {
                addElement(
                    XMLFragment(
                        "\(prefix):device", ["alias": alias],
                        children: [XMLFragment("\(prefix):frontend", children: fragments)]),
                    into: override)
                continue
            }
            guard let frontend = device.child("frontend") else {
                addElement(XMLFragment("\(prefix):frontend", children: fragments), into: device)
                continue
            }
            for fragment in fragments {
                let name = fragment.attribute("name")
                if let current = frontend.children.first(where: {
                    $0.name == "property" && $0.attribute("name") == name
                }) {
                    changeElement(current, to: fragment)
                } else {
                    addElement(fragment, into: frontend)
                }
            }
        }
    }

    /// The user alias of the hostdev that passes `address`, given one when it has none.
    /// - Throws: `DevicesError` when the domain does not pass the device.
    mutating func userAlias(for address: PCIAddress) throws -> String {
        let wanted = GuestPCIAddress(address)
        let alias = Self.overrideAlias(address)
        if let hostdev = pciHostdevs[wanted] {
            if let current = hostdev.child("alias")?.attribute("name") {
                guard current.hasPrefix("ua-") else {
                    throw DevicesError(
                        code: .invalidData,
                        message: "the hostdev of \(address) (line \(hostdev.line)) has the alias '\(current)': "
                            + "<qemu:override> needs a user alias starting with ua-; rename it")
                }
                return current
            }
            let sibling = hostdev.child("rom") ?? hostdev.child("source")
            addElement(XMLFragment("alias", ["name": alias]), into: hostdev, after: sibling)
            return alias
        }
        // A hostdev this merge adds carries the alias from the start.
        for index in deviceInsertions.indices where deviceInsertions[index].fragment.name == "hostdev" {
            let fragment = deviceInsertions[index].fragment
            guard Self.step(of: fragment).value == wanted.text else { continue }
            var children = fragment.children
            let position = children.firstIndex { $0.name == "address" } ?? children.count
            children.insert(XMLFragment("alias", ["name": alias]), at: position)
            deviceInsertions[index].fragment.children = children
            return alias
        }
        throw DevicesError(
            code: .invalidArgument,
            message: "the domain does not pass \(address): attach it as a GPU or hostdev before overriding its "
                + "properties")
    }

    /// Removes the overrides of the devices a request names, and of every device it detaches (an override whose
    /// hostdev is gone would stop the guest from starting).
    mutating func detachOverrides(_ request: GuestRequest, isDetached: (PCIAddress) -> Bool) throws {
        var named = request.overrides.map(\.device)
        for target in request.laptopGPUs {
            if case .device(.address(let address)) = target {
                named.append(address)
            } else if let display = try gpuFunctions(target).first(where: { $0.pciClass.isDisplay }) {
                named.append(display.address)
            }
        }
        for address in named where !undo(.override(address)) { unowned.append(.override(address)) }
        for part in ownership.parts.map(\.part) {
            guard case .override(let address) = part, !named.contains(address), isDetached(address) else { continue }
            _ = undo(part)
        }
    }
}
