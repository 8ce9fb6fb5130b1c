/// Recording what attach adds and changes, and undoing exactly that on detach.
extension DomainMerger {
    typealias Record = DomainOwnership.Record
    typealias Step = ElementPath.Step

    // MARK: Identity

    /// The step that names `element` among its siblings.
    func step(of element: XMLElement) -> Step {
        let name = element.namespace == qemuNamespace ? "qemu:" + element.name : element.name
        return Self.step(
            name, attribute: element.attribute, alias: element.child("alias")?.attribute("name"),
            source: element.child("source")?.child("address").flatMap(GuestPCIAddress.init),
            mdev: element.child("source")?.child("address")?.attribute("uuid"))
    }

    /// The step that will name a new element among its siblings.
    static func step(of fragment: XMLFragment) -> Step {
        let source = fragment.children.first { $0.name == "source" }?.children.first { $0.name == "address" }
        return step(
            fragment.name, attribute: fragment.attribute,
            alias: fragment.children.first { $0.name == "alias" }?.attribute("name"),
            source: source.flatMap { GuestPCIAddress(attribute: $0.attribute) }, mdev: source?.attribute("uuid"))
    }

    /// The key of an element that a parent may hold several of: a hostdev's source address (a mediated device's
    /// UUID), an alias, a name.
    static func step(
        _ name: String, attribute: (String) -> String?, alias: String?, source: GuestPCIAddress?, mdev: String? = nil
    ) -> Step {
        func keyed(_ key: String, _ value: String?) -> Step {
            guard let value else { return Step(name: name) }
            return Step(name: name, key: key, value: value)
        }
        switch name {
        case "hostdev":
            if attribute("type") == "mdev" { return keyed("mdev", mdev?.lowercased()) }
            return keyed("pci", source?.text)
        case "controller", "input":
            if let alias { return keyed("alias", alias) }
            guard name == "controller" else { return keyed("type", attribute("type")) }
            // libvirt numbers controllers itself; a domain written by hand may leave the index out.
            return attribute("index") == nil ? keyed("model", attribute("model")) : keyed("index", attribute("index"))
        case "shmem", "timer", "feature", "entry": return keyed("name", attribute("name"))
        case "qemu:arg": return keyed("object", attribute("value").flatMap(objectID))
        case "qemu:device": return keyed("alias", attribute("alias"))
        case "qemu:property": return keyed("name", attribute("name"))
        case "vcpupin": return keyed("vcpu", attribute("vcpu"))
        case "iothreadpin": return keyed("iothread", attribute("iothread"))
        case "sysinfo", "address": return keyed("type", attribute("type"))
        default: return Step(name: name)
        }
    }

    /// Where `target` sits in the document.
    func path(of target: XMLElement) -> ElementPath {
        var steps: [Step] = []
        var current = domain
        while current.range != target.range {
            guard
                let next = current.children.first(where: {
                    $0.range.lowerBound <= target.range.lowerBound && target.range.upperBound <= $0.range.upperBound
                })
            else { break }
            steps.append(step(of: next))
            current = next
        }
        return ElementPath(steps)
    }

    /// The element a path names, if it is there.
    func element(at path: ElementPath) -> XMLElement? {
        var current = domain
        for wanted in path.steps {
            guard let next = current.children.first(where: { step(of: $0) == wanted }) else { return nil }
            current = next
        }
        return current
    }

    // MARK: Recording (attach)

    /// Records a change for the part being attached, unless it lies inside an element the part added itself.
    mutating func record(_ record: Record) {
        let own = ownership.records(of: part)
        if own.contains(where: { $0.kind == .added && record.path.isWithin($0.path) }) { return }
        ownership.add(record, to: part)
    }

    /// Records that `parent` was empty before this merge put something in it, with its bytes.
    mutating func noteOpening(_ parent: XMLElement) {
        guard parent.children.isEmpty, parent.range != domain.range else { return }
        let path = path(of: parent)
        guard ownership.adder(of: path) == nil else { return }
        ownership.addShared(Record(.opened, path, previous: document.text(parent.range)))
    }

    /// Adds an element the part owns to `parent`.
    mutating func addElement(_ fragment: XMLFragment, into parent: XMLElement, after sibling: XMLElement? = nil) {
        noteOpening(parent)
        record(Record(.added, path(of: parent).appending(Self.step(of: fragment))))
        editor.insert(fragment, into: parent, after: sibling)
    }

    /// Adds a child of `<domain>` the part owns, where libvirt puts it.
    mutating func addDomainChild(_ fragment: XMLFragment) {
        record(Record(.added, ElementPath([Self.step(of: fragment)])))
        insertDomainChild(fragment)
    }

    /// Queues a device the part owns for `<devices>`; `ids` is the `vendor:device` of the host function a PCI
    /// hostdev passes, kept in the record.
    mutating func addDevice(_ fragment: XMLFragment, after sibling: XMLElement?, ids: String? = nil) {
        if let devices {
            noteOpening(devices)
            record(Record(.added, path(of: devices).appending(Self.step(of: fragment)), ids: ids))
        } else {
            record(Record(.added, ElementPath([Step(name: "devices"), Self.step(of: fragment)]), ids: ids))
        }
        deviceInsertions.append((fragment, sibling))
    }

    /// Changes an element, keeping its earlier bytes for detach (unless the part added it); one that already says
    /// the same (attributes in another order, as libvirt writes them) stays as it is.
    mutating func changeElement(_ element: XMLElement, to fragment: XMLFragment) {
        guard !Self.matches(element, fragment) else { return }
        let before = document.text(element.range)
        guard editor.replace(element, with: fragment) else { return }
        let wrote = fragment.render(indent: "", unit: editor.unit, quote: editor.quote)
        record(Record(.changed, path(of: element), previous: before, wrote: wrote))
    }

    /// Whether two elements say the same: names, attributes in any order, children and text.
    static func same(_ a: XMLElement, _ b: XMLElement) -> Bool {
        guard a.name == b.name, a.attributes.count == b.attributes.count,
            b.attributes.allSatisfy({ a.attribute($0.name) == $0.value }), a.children.count == b.children.count
        else { return false }
        if a.children.isEmpty { return a.text.trimmingWhitespace() == b.text.trimmingWhitespace() }
        return zip(a.children, b.children).allSatisfy { same($0, $1) }
    }

    /// Whether an element says what a fragment says: the same name, attributes in any order, children and text.
    static func matches(_ element: XMLElement, _ fragment: XMLFragment) -> Bool {
        guard element.qualifiedName == fragment.name || element.name == fragment.name,
            element.attributes.count == fragment.attributes.count,
            fragment.attributes.allSatisfy({ element.attribute($0.name) == $0.value }),
            element.children.count == fragment.children.count
        else { return false }
        if fragment.children.isEmpty { return element.text.trimmingWhitespace() == (fragment.text ?? "") }
        return zip(element.children, fragment.children).allSatisfy { matches($0, $1) }
    }

    /// Adds an attribute the part owns.
    mutating func addAttribute(_ name: String, _ value: String, to element: XMLElement) {
        guard element.attribute(name) == nil else { return }
        record(Record(.attribute, path(of: element), attribute: name))
        editor.addAttribute(name, value, to: element)
    }

    /// Whether the part being attached added `element` (in an earlier attach).
    func owns(_ element: XMLElement) -> Bool { ownership.adder(of: path(of: element)) == part }

    /// Removes an element the part added earlier, with its records.
    mutating func dropElement(_ element: XMLElement) {
        let path = path(of: element)
        editor.remove(element)
        forget(path)
    }

    /// Forgets the part's records for an element and everything in it.
    mutating func forget(_ path: ElementPath) {
        guard let index = ownership.parts.firstIndex(where: { $0.part == part }) else { return }
        ownership.parts[index].records.removeAll { $0.path.isWithin(path) }
    }

    /// The path of a `<qemu:arg>` with an object id.
    static func argumentPath(_ id: String) -> ElementPath {
        ElementPath([Step(name: "qemu:commandline"), Step(name: "qemu:arg", key: "object", value: id)])
    }

    /// The object ids of the `<qemu:arg>`s the part added.
    var ownedArgumentIDs: Set<String> {
        Set(
            ownership.records(of: part).compactMap { record in
                guard record.kind == .added, record.path.steps.count == 2,
                    record.path.steps[0].name == "qemu:commandline"
                else { return nil }
                return record.path.steps[1].value
            })
    }

    // MARK: Undoing (detach)

    /// Undoes a part's records, newest first.
    /// - Returns: false when the part has none.
    mutating func undo(_ undone: GuestPart) -> Bool {
        let records = ownership.records(of: undone)
        guard !records.isEmpty else { return false }
        for record in records.reversed() {
            if record.kind == .added, record.path.steps.last?.name == "qemu:arg" {
                let id = record.path.steps.last?.value
                removeArguments { Self.objectID($0) == id }
                continue
            }
            guard let element = element(at: record.path) else { continue }
            switch record.kind {
            case .added: editor.remove(element)
            case .changed:
                // An element changed again since (by hand) is the user's now.
                if let wrote = record.wrote, let written = try? XMLDocument(bytes: Array(wrote.utf8), source: "record"),
                    !Self.same(element, written.root)
                {
                    notes.append(
                        "<\(element.qualifiedName)> (line \(element.line)) was changed since vfioctl set it: kept as "
                            + "it is; its earlier version was \(record.previous ?? "")")
                    continue
                }
                editor.replace(element, withText: record.previous ?? "")
            case .attribute: if let name = record.attribute { editor.removeAttribute(name, from: element) }
            case .container, .opened: break
            }
        }
        ownership.remove(undone)
        return true
    }

    /// Whether every child element of `element` is gone, but for those that came with it as a container.
    func isEmptied(_ element: XMLElement) -> Bool {
        element.children.allSatisfy { child in
            editor.isRemoved(child)
                || ownership.shared.contains { $0.kind == .added && $0.path == path(of: child) }
        }
    }

    /// Closes what vfioctl created or opened and has nothing left in it.
    ///
    /// A container goes, an opened element gets its earlier bytes back. `<metadata>` and `<qemu:commandline>` are
    /// closed when the merge finishes.
    mutating func closeEmptied() {
        // Records of what is no longer there go (a driver without the QEMU namespace drops <qemu:commandline>).
        if commandline == nil { ownership.shared.removeAll { $0.path.steps.first?.name == "qemu:commandline" } }
        if qemuPrefix == nil { ownership.shared.removeAll { $0.kind == .attribute && $0.path.steps.isEmpty } }
        let deepestFirst = ownership.shared.filter { record in
            record.kind == .container || record.kind == .opened
        }.sorted { $0.path.steps.count > $1.path.steps.count }
        for record in deepestFirst {
            guard let first = record.path.steps.first?.name, first != "metadata", first != "qemu:commandline" else {
                continue
            }
            guard let element = element(at: record.path) else {
                ownership.shared.removeAll { $0 == record }
                continue
            }
            guard isEmptied(element) else { continue }
            if record.kind == .container {
                editor.remove(element)
                ownership.shared.removeAll { $0.kind == .added && $0.path.isWithin(record.path) }
            } else {
                editor.replace(element, withText: record.previous ?? "")
            }
            ownership.shared.removeAll { $0 == record }
        }
    }

    // MARK: The record itself

    /// The `<metadata>` element, if any.
    var metadata: XMLElement? { domain.children.first { $0.name == "metadata" && $0.namespace == nil } }

    /// Writes the record into `<metadata>` when it changed: created with it when the domain has none, and gone
    /// with its last record (taking `<metadata>` along when vfioctl created it).
    mutating func writeOwnership() {
        let metadataPath = ElementPath([Step(name: "metadata")])
        var rest = ownership
        rest.shared.removeAll { $0.path == metadataPath }
        guard ownership.normalized != (recordedOwnership ?? DomainOwnership()).normalized else { return }
        if rest.isEmpty {
            guard let element = ownershipElement else { return }
            let metadataRecord = ownership.shared.first { $0.path == metadataPath }
            if let metadata, metadata.children.allSatisfy({ $0.range == element.range || editor.isRemoved($0) }),
                let metadataRecord
            {
                if metadataRecord.kind == .container {
                    editor.remove(metadata)
                } else {
                    editor.replace(metadata, withText: metadataRecord.previous ?? "")
                }
            } else {
                editor.remove(element)
            }
            return
        }
        if let ownershipElement {
            editor.replace(ownershipElement, with: ownership.fragment)
        } else if let metadata {
            if metadata.children.isEmpty {
                ownership.addShared(Record(.opened, metadataPath, previous: document.text(metadata.range)))
            }
            editor.insert(ownership.fragment, into: metadata)
        } else {
            ownership.addShared(Record(.container, metadataPath))
            insertDomainChild(XMLFragment("metadata", children: [ownership.fragment]))
        }
    }
}

extension GuestPCIAddress {
    /// Reads `domain`, `bus`, `slot` and `function` through an attribute lookup.
    init?(attribute: (String) -> String?) {
        guard let bus = attribute("bus").flatMap(Self.number), let slot = attribute("slot").flatMap(Self.number),
            let function = attribute("function").flatMap(Self.number)
        else { return nil }
        self.init(domain: attribute("domain").flatMap(Self.number) ?? 0, bus: bus, slot: slot, function: function)
    }

    /// The address as the kernel writes it: `0000:01:00.1`.
    var text: String { "\(hex(domain, width: 4)):\(hex(bus, width: 2)):\(hex(slot, width: 2)).\(function)" }
}

extension PCIAddress {
    /// The address of a guest-side PCI address's function.
    init(slot: GuestPCIAddress) {
        self.init(
            domain: UInt32(slot.domain), bus: UInt8(truncatingIfNeeded: slot.bus),
            device: UInt8(truncatingIfNeeded: slot.slot), function: UInt8(truncatingIfNeeded: slot.function))
    }
}
