/// Mediated devices in a domain: `<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on|off'>` with
/// the device's UUID as its source.
extension DomainMerger {
    /// Every `<hostdev type='mdev'>` by its source UUID, lowercase.
    var mdevHostdevs: [String: XMLElement] {
        var map: [String: XMLElement] = [:]
        for hostdev in devices?.children("hostdev") ?? [] where hostdev.attribute("type") == "mdev" {
            guard let uuid = hostdev.child("source")?.child("address")?.attribute("uuid") else { continue }
            map[uuid.lowercased()] = hostdev
        }
        return map
    }

    /// The guest's own name, from `<name>`.
    var guestName: String? { domain.child("name").map { $0.text.trimmingWhitespace() } }

    /// Adds a hostdev for each mediated device, after checking that each exists on the host, speaks vfio-pci,
    /// shows a display only when it can, is named once, is not in the domain yet and no other guest uses it.
    mutating func attachMdevs(_ mdevs: [GuestRequest.Mdev]) throws {
        let report = try hostReport()
        let existing = mdevHostdevs
        var seen: Set<String> = []
        let lastHostdev = devices?.children("hostdev").last
        for request in mdevs {
            let uuid = request.uuid
            guard seen.insert(uuid).inserted else {
                throw DevicesError(
                    code: .invalidArgument, message: "mediated device \(uuid) is named twice: a guest takes it once",
                    object: .request(.mdevTwice))
            }
            guard
                let found = report.devices.lazy.compactMap({ device in
                    device.sharing?.mediatedDevices.first { $0.uuid == uuid }.map { (device, $0) }
                }).first
            else {
                throw DevicesError(
                    code: .notFound, message: "no mediated device \(uuid) on this host", object: .request(.mdev))
            }
            let (parent, mdev) = found
            if let hostdev = existing[uuid] {
                throw DevicesError(
                    code: .conflict,
                    message: "\(source) already has mediated device \(uuid) (line \(hostdev.line)): a guest takes "
                        + "it once; detach it first to change it", object: .request(.mdevTwice))
            }
            if let guest = mdev.guest, guest != guestName {
                throw DevicesError(
                    code: .conflict, message: "mediated device \(uuid) is in use by the running guest \(guest)",
                    object: .request(.mdevUsed))
            }
            if let other = otherDomains.first(where: { $0.name != guestName && Self.uses($0.xml, mdev: uuid) }) {
                throw DevicesError(
                    code: .conflict,
                    message: "mediated device \(uuid) is already given to the guest \(other.name)",
                    object: .request(.mdevUsed))
            }
            let type = parent.sharing?.mdevTypes.first { $0.id == mdev.type }
            if let api = type?.deviceAPI, api != "vfio-pci" {
                throw DevicesError(
                    code: .invalidArgument,
                    message: "mediated device \(uuid) (\(mdev.type ?? "unknown type") on \(mdev.parent)) speaks "
                        + "\(api), not vfio-pci: it is not a PCI device for the guest",
                    object: .request(.mdevAPI))
            }
            if request.display, let type, Self.hasNoDisplay(type) {
                throw DevicesError(
                    code: .invalidArgument,
                    message: "\(type.id) on \(mdev.parent) has no display heads (its description says num_heads=0): "
                        + "it cannot show a display", object: .request(.mdevDisplay))
            }
            part = .mdev(uuid)
            addDevice(
                XMLFragment(
                    "hostdev",
                    [
                        "mode": "subsystem", "type": "mdev", "model": "vfio-pci",
                        "display": request.display ? "on" : "off",
                    ],
                    children: [XMLFragment("source", children: [XMLFragment("address", ["uuid": uuid])])]),
                after: lastHostdev)
            if request.display, devices?.children("graphics").isEmpty ?? true {
                notes.append(
                    "display='on' for \(uuid) needs a graphics device and the domain has none: add "
                        + "<graphics type='spice'> or <graphics type='egl-headless'> (libvirt refuses to start it "
                        + "without one)")
            }
        }
    }

    /// Whether a type's description says it drives no display (NVIDIA's compute types: `num_heads=0`).
    static func hasNoDisplay(_ type: MdevType) -> Bool {
        (type.description ?? "").split(separator: ",").contains {
            $0.trimmingWhitespace().replacing(" ", with: "") == "num_heads=0"
        }
    }

    /// Whether a domain definition has a `<hostdev type='mdev'>` for `uuid`.
    static func uses(_ xml: [UInt8], mdev uuid: String) -> Bool {
        guard let document = try? XMLDocument(bytes: xml, source: "domain") else { return false }
        let hostdevs = document.root.child("devices")?.children("hostdev") ?? []
        return hostdevs.contains {
            $0.attribute("type") == "mdev"
                && $0.child("source")?.child("address")?.attribute("uuid")?.lowercased() == uuid
        }
    }

    /// Removes what attach added for each mediated device; without a record, the hostdev of each named one.
    mutating func detachMdevs(_ mdevs: [GuestRequest.Mdev], recorded: Bool) {
        for request in mdevs {
            let part = GuestPart.mdev(request.uuid)
            if recorded {
                if !undo(part) { unowned.append(part) }
            } else if let hostdev = mdevHostdevs[request.uuid] {
                editor.remove(hostdev)
            } else {
                unowned.append(part)
            }
        }
    }
}
