/// One thing `attach` adds to a domain, as `detach` names it.
public enum GuestPart: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A GPU with all its functions, by its display function.
    case gpu(PCIAddress)
    /// Another PCI device.
    case hostdev(PCIAddress)
    /// Looking Glass's shared memory (`/dev/shm` or kvmfr).
    case lookingGlass
    /// Scream's IVSHMEM device.
    case scream
    /// Evdev keyboard and mouse.
    case evdev
    /// Hugepages memory backing.
    case hugepages
    /// vCPU pinning and the CPU topology.
    case pin
    /// Hyper-V enlightenments.
    case hyperv
    /// Hiding KVM.
    case hidden
    /// The host's SMBIOS strings.
    case smbios
    /// Guest suspend.
    case pm
    /// QEMU device properties set on a passed device through `<qemu:override>`, by the device.
    case override(PCIAddress)
    /// A mediated device's `<hostdev type='mdev'>`, by its UUID.
    case mdev(String)

    /// The name the ownership record uses.
    var recordName: String {
        switch self {
        case .gpu: "gpu"
        case .hostdev: "hostdev"
        case .lookingGlass: "looking-glass"
        case .scream: "scream"
        case .evdev: "evdev"
        case .hugepages: "hugepages"
        case .pin: "pin"
        case .hyperv: "hyperv"
        case .hidden: "hidden"
        case .smbios: "smbios"
        case .pm: "pm"
        case .override: "override"
        case .mdev: "mdev"
        }
    }

    /// The device a GPU or hostdev part is for.
    public var device: PCIAddress? {
        switch self {
        case .gpu(let address), .hostdev(let address), .override(let address): address
        default: nil
        }
    }

    /// What the record's `device` attribute holds: the PCI address, or a mediated device's UUID.
    var recordDevice: String? {
        if case .mdev(let uuid) = self { return uuid }
        return device?.description
    }

    /// The record name, with the device for GPUs, hostdevs, overrides and mediated devices: `gpu 0000:01:00.0`,
    /// `pm`.
    public var description: String { recordDevice.map { "\(recordName) \($0)" } ?? recordName }

    /// The part an ownership record names.
    init?(recordName: String, device: String?) {
        if recordName == "mdev" {
            guard let device, MdevUUID.isValid(device) else { return nil }
            self = .mdev(device.lowercased())
            return
        }
        if let device {
            guard let address = PCIAddress(device) else { return nil }
            switch recordName {
            case "gpu": self = .gpu(address)
            case "hostdev": self = .hostdev(address)
            case "override": self = .override(address)
            default: return nil
            }
            return
        }
        let simple: [GuestPart] = [
            .lookingGlass, .scream, .evdev, .hugepages, .pin, .hyperv, .hidden, .smbios, .pm,
        ]
        guard let part = simple.first(where: { $0.recordName == recordName }) else { return nil }
        self = part
    }
}

/// Where an element sits in a domain, by stable identity rather than position: each step is a child's name and,
/// for elements of which a parent may hold several, the value that tells them apart (`devices/hostdev[pci=0000:01:00.1]`,
/// `devices/shmem[name=looking-glass]`, `cputune/vcpupin[vcpu=3]`).
struct ElementPath: Hashable, CustomStringConvertible {
    /// One step: a child's name (`qemu:commandline` for libvirt's QEMU namespace) and its key.
    struct Step: Hashable {
        var name: String
        var key: String?
        var value: String?
    }

    var steps: [Step]

    init(_ steps: [Step]) { self.steps = steps }

    /// Parses `a/b[key=value]/c`; nil for anything else.
    init?(parsing text: String) {
        steps = []
        guard !text.isEmpty else { return }
        var steps: [Step] = []
        var current = ""
        var inKey = false
        for character in text {
            if character == "[" { inKey = true }
            if character == "]" { inKey = false }
            if character == "/" && !inKey {
                guard let step = Self.step(current) else { return nil }
                steps.append(step)
                current = ""
            } else {
                current.append(character)
            }
        }
        guard let last = Self.step(current) else { return nil }
        steps.append(last)
        self.steps = steps
    }

    private static func step(_ text: String) -> Step? {
        guard !text.isEmpty else { return nil }
        guard let open = text.firstIndex(of: "["), text.hasSuffix("]") else {
            return text.contains("]") ? nil : Step(name: text)
        }
        let inside = text[text.index(after: open)..<text.index(before: text.endIndex)]
        guard let equals = inside.firstIndex(of: "=") else { return nil }
        return Step(
            name: String(text[..<open]), key: String(inside[..<equals]),
            value: String(inside[inside.index(after: equals)...]))
    }

    var description: String {
        steps.map { step in step.key.map { "\(step.name)[\($0)=\(step.value ?? "")]" } ?? step.name }
            .joined(separator: "/")
    }

    /// The path of a child of this one.
    func appending(_ step: Step) -> ElementPath { ElementPath(steps + [step]) }

    /// Whether this path is `other` or inside it.
    func isWithin(_ other: ElementPath) -> Bool {
        steps.count >= other.steps.count && Array(steps.prefix(other.steps.count)) == other.steps
    }
}

/// What vfioctl added to or changed in one domain, kept in the domain's own `<metadata>` so that `detach` removes
/// exactly that and puts back what it changed: libvirt keeps foreign metadata through define and dumpxml.
///
/// ```
/// <vfioctl:ownership xmlns:vfioctl="https://vfioctl.dev/xmlns/ownership/1">
///   <vfioctl:part name="gpu" device="0000:01:00.0">
///     <vfioctl:added path="devices/hostdev[pci=0000:01:00.1]"/>
///     <vfioctl:attribute path="devices/hostdev[pci=0000:01:00.0]/address[type=pci]" name="multifunction"/>
///   </vfioctl:part>
///   <vfioctl:part name="pin">
///     <vfioctl:changed path="vcpu">&lt;vcpu placement='static'&gt;8&lt;/vcpu&gt;</vfioctl:changed>
///   </vfioctl:part>
///   <vfioctl:opened path="cpu">&lt;cpu mode='host-passthrough'/&gt;</vfioctl:opened>
/// </vfioctl:ownership>
/// ```
struct DomainOwnership: Equatable {
    /// The namespace of the record.
    static let namespace = "https://vfioctl.dev/xmlns/ownership/1"

    /// What a record says.
    enum Kind: String, CaseIterable {
        /// vfioctl added the element: detach removes it.
        case added
        /// vfioctl changed the element to `wrote`: detach puts back `previous`, its earlier bytes, unless the
        /// element no longer says what vfioctl wrote.
        case changed
        /// vfioctl added the attribute `attribute` to the element: detach removes it.
        case attribute
        /// vfioctl created the element to hold what parts add: it goes when nothing is left in it.
        case container
        /// The element was empty (`previous`, its bytes) until vfioctl added to it: it gets those bytes back when
        /// nothing is left in it.
        case opened
    }

    /// One record.
    struct Record: Equatable {
        var kind: Kind
        var path: ElementPath
        var attribute: String?
        var previous: String?
        var wrote: String?
        /// For an added PCI hostdev, the host function's `vendor:device` when it was added: a different card at
        /// that address later is a different device.
        var ids: String?

        init(
            _ kind: Kind, _ path: ElementPath, attribute: String? = nil, previous: String? = nil, wrote: String? = nil,
            ids: String? = nil
        ) {
            self.kind = kind
            self.path = path
            self.attribute = attribute
            self.previous = previous
            self.wrote = wrote
            self.ids = ids
        }
    }

    /// The records of one part.
    struct Part: Equatable {
        var part: GuestPart
        var records: [Record]
    }

    /// Records by part, in the order they were first made.
    var parts: [Part] = []
    /// Records no single part owns: containers, opened elements, the QEMU namespace.
    var shared: [Record] = []

    /// Whether nothing is recorded.
    var isEmpty: Bool { parts.allSatisfy(\.records.isEmpty) && shared.isEmpty }

    init() {}

    /// The `<vfioctl:ownership>` element in a domain's `<metadata>`, if attach left one.
    static func element(in domain: XMLElement) -> XMLElement? {
        domain.children.first { $0.name == "metadata" && $0.namespace == nil }?.children.first {
            $0.name == "ownership" && $0.namespace == namespace
        }
    }

    /// Reads the record from a `<vfioctl:ownership>` element; records it cannot read are left out.
    init(_ element: XMLElement) {
        for child in element.children where child.namespace == Self.namespace {
            if child.name == "part" {
                guard let name = child.attribute("name"),
                    let part = GuestPart(recordName: name, device: child.attribute("device"))
                else { continue }
                let records = child.children.compactMap(Self.record)
                if let index = parts.firstIndex(where: { $0.part == part }) {
                    parts[index].records += records
                } else {
                    parts.append(Part(part: part, records: records))
                }
            } else if let record = Self.record(child) {
                shared.append(record)
            }
        }
    }

    private static func record(_ element: XMLElement) -> Record? {
        guard element.namespace == namespace, let kind = Kind(rawValue: element.name),
            let path = element.attribute("path").flatMap(ElementPath.init(parsing:))
        else { return nil }
        switch kind {
        case .changed: return Record(kind, path, previous: element.text, wrote: element.attribute("wrote"))
        case .opened: return Record(kind, path, previous: element.text)
        case .attribute:
            guard let name = element.attribute("name") else { return nil }
            return Record(kind, path, attribute: name)
        case .added: return Record(kind, path, ids: element.attribute("ids"))
        case .container: return Record(kind, path)
        }
    }

    /// The records of a part.
    func records(of part: GuestPart) -> [Record] { parts.first { $0.part == part }?.records ?? [] }

    /// Adds a record to a part, unless the part already has one for that element: the first one keeps the
    /// original bytes, and takes what was written last.
    mutating func add(_ record: Record, to part: GuestPart) {
        if let index = parts.firstIndex(where: { $0.part == part }) {
            if let existing = parts[index].records.firstIndex(where: {
                $0.kind == record.kind && $0.path == record.path && $0.attribute == record.attribute
            }) {
                if record.wrote != nil { parts[index].records[existing].wrote = record.wrote }
                return
            }
            parts[index].records.append(record)
        } else {
            parts.append(Part(part: part, records: [record]))
        }
    }

    /// Adds a shared record, unless one for that element is there.
    mutating func addShared(_ record: Record) {
        guard !shared.contains(where: { $0.path == record.path && $0.attribute == record.attribute }) else { return }
        shared.append(record)
    }

    /// Forgets a part's records.
    mutating func remove(_ part: GuestPart) {
        parts.removeAll { $0.part == part }
    }

    /// The `vendor:device` each added PCI hostdev had on the host when vfioctl added it, by host address.
    var recordedIDs: [PCIAddress: String] {
        var found: [PCIAddress: String] = [:]
        for part in parts {
            for record in part.records where record.kind == .added {
                guard let ids = record.ids, let last = record.path.steps.last, last.name == "hostdev",
                    last.key == "pci", let address = last.value.flatMap(PCIAddress.init)
                else { continue }
                found[address] = ids
            }
        }
        return found
    }

    /// The part whose `added` record covers `path` (the element or one around it), if any.
    func adder(of path: ElementPath) -> GuestPart? {
        parts.first { part in part.records.contains { $0.kind == .added && path.isWithin($0.path) } }?.part
    }

    /// The same records in one order whatever the order they were made in: parts by name, shared records by
    /// path.
    var normalized: DomainOwnership {
        var copy = self
        copy.parts = parts.filter { !$0.records.isEmpty }.sorted { $0.part.description < $1.part.description }
        copy.shared = shared.sorted {
            ($0.path.description, $0.kind.rawValue) < ($1.path.description, $1.kind.rawValue)
        }
        return copy
    }

    /// The record as an element, written with the prefix `vfioctl`.
    var fragment: XMLFragment {
        let parts = normalized.parts
        let shared = normalized.shared
        func fragment(_ record: Record) -> XMLFragment {
            XMLFragment(
                "vfioctl:" + record.kind.rawValue,
                [
                    "path": record.path.description, "name": record.attribute, "wrote": record.wrote,
                    "ids": record.ids,
                ],
                text: record.previous)
        }
        var children = parts.map { part in
            XMLFragment(
                "vfioctl:part", ["name": part.part.recordName, "device": part.part.recordDevice],
                children: part.records.map(fragment))
        }
        children += shared.map(fragment)
        return XMLFragment("vfioctl:ownership", ["xmlns:vfioctl": Self.namespace], children: children)
    }
}
