import Foundation
import TestSupport
import Testing

@testable import Devices

/// The domain files under Tests/Fixtures/domains.
enum DomainFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/domains")

    static let names = ["minimal", "virt-manager", "handmade", "tabs", "existing-passthrough", "i440fx"]

    /// The corpus: the domains above, a hand-tuned gaming guest, and virt-install's own domains.
    static let corpus =
        names + ["tuned"]
        + [
            "win11", "kvm-win10", "q35-defaults", "linux2020", "singleton-config-1", "cloud-init-options1",
            "mdev-devices", "hyperv_disable_vpindex",
        ].map { "virt-install/" + $0 }

    static func document(_ name: String) throws -> XMLDocument {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".xml"))
        return try XMLDocument(bytes: Array(data), source: name + ".xml")
    }
}

/// Every option the merge knows, one request each.
enum GuestRequests {
    /// Each tuning part on its own.
    static let tuningParts: [GuestRequest] = [
        GuestRequest.Tuning(hugepages: true), .init(pin: true), .init(hyperv: true), .init(hidden: true),
        .init(smbios: true), .init(pm: true),
    ].map { tuning in
        var request = GuestRequest()
        request.tuning = tuning
        return request
    }

    static func all() -> [(String, GuestRequest)] {
        var gpu = GuestRequest()
        gpu.gpus = [.gpu(2)]
        var hostdev = GuestRequest()
        hostdev.hostdevs = [BindTarget("0000:00:1f.3")].compactMap { $0 }
        var lookingGlass = GuestRequest()
        lookingGlass.lookingGlass = .init(width: 2560, height: 1440)
        var kvmfr = GuestRequest()
        kvmfr.lookingGlass = .init(kvmfr: true)
        var scream = GuestRequest()
        scream.scream = true
        var evdev = GuestRequest()
        evdev.evdev = .init()
        var native = GuestRequest()
        native.evdev = .init(style: .native)
        var tune = GuestRequest()
        tune.tuning = .all
        var everything = GuestRequest()
        everything.gpus = [.gpu(2)]
        everything.lookingGlass = .init()
        everything.scream = true
        everything.evdev = .init()
        everything.tuning = .all
        var hyperv = GuestRequest()
        hyperv.tuning = .init(hyperv: true)
        var pm = GuestRequest()
        pm.tuning = .init(pm: true)
        var pin = GuestRequest()
        pin.tuning = .init(pin: true, vcpus: 6)
        var override = GuestRequest()
        override.gpus = [.gpu(2)]
        let nvidia = PCIAddress(bus: 1, device: 0, function: 0)
        override.overrides = [
            .init(device: nvidia, property: "x-pci-sub-vendor-id", value: .unsigned(0x1025)),
            .init(device: nvidia, property: "x-igd-opregion", value: .bool(false)),
            .init(device: PCIAddress(bus: 1, device: 0, function: 1), property: "romfile", value: .string("")),
        ]
        var laptop = GuestRequest()
        laptop.gpus = [.gpu(2)]
        laptop.laptopGPUs = [.gpu(2)]
        return [
            ("hyperv", hyperv), ("pm", pm), ("pin-6", pin),
            ("gpu", gpu), ("hostdev", hostdev), ("looking-glass", lookingGlass), ("kvmfr", kvmfr), ("scream", scream),
            ("evdev", evdev), ("evdev-native", native), ("tune", tune), ("everything", everything),
            ("override", override), ("laptop-gpu", laptop),
        ]
    }
}

@Suite struct GuestXMLTests {
    private func lines(_ bytes: [UInt8]) -> [Substring] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    }

    @Test(
        "libvirt's domain.rng as vfioctl applies it rejects known-invalid domains, naming the element, and accepts them without it",
        arguments: [
            ("a vCPU count that is not a number", "<vcpu placement='static'>eight</vcpu>", "vcpu"),
            ("an element libvirt does not know", "<devices><gpu/></devices>", "devices"),
            ("a hostdev without its source", "<devices><hostdev mode='subsystem' type='pci'/></devices>", "devices"),
        ])
    func schemaRejects(_ label: String, _ line: String, _ element: String) throws {
        let document = """
            <domain type='kvm'>
              <name>invalid</name>
              <memory unit='KiB'>1048576</memory>
              <os><type arch='x86_64' machine='q35'>hvm</type></os>
              \(line)
            </domain>

            """
        let problem = try DomainFile.schemaProblem(Array(document.utf8), source: label)
        #expect(problem?.contains(element) == true, "\(label): \(problem ?? "accepted")")
        // The same document without the bad line is valid: the rejection is the line's.
        let valid = document.replacingOccurrences(of: line, with: "<vcpu placement='static'>2</vcpu>")
        #expect(try DomainFile.schemaProblem(Array(valid.utf8), source: label) == nil)
    }

    @Test(
        "the nothing-lost judge keeps added attributes and opened elements; reports a lost attribute, text or </devices>"
    )
    func lostLinesJudge() throws {
        let original = "<domain type='kvm'>\n  <name>a</name>\n  <features/>\n  <devices>\n  </devices>\n</domain>\n"
        let kept =
            "<domain type='kvm' xmlns:q='x'>\n  <name>a</name>\n  <features>\n    <acpi/>\n  </features>\n"
            + "  <devices>\n    <shmem/>\n  </devices>\n</domain>\n"
        #expect(try LostLines.find(original: Array(original.utf8), merged: Array(kept.utf8), request: "x").isEmpty)
        let lost = "<domain>\n  <name>b</name>\n  <features/>\n  <devices>\n</domain>\n"
        #expect(
            try LostLines.find(original: Array(original.utf8), merged: Array(lost.utf8), request: "x") == [
                "removed the user's line <domain type='kvm'>", "removed the user's line   <name>a</name>",
                "removed the user's line   </devices>",
            ])
    }

    @Test("without libvirt's schema, or with a file that is not one, schemaProblem throws instead of saying valid")
    func schemaProblemThrows() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-rng-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = Array(try Data(contentsOf: DomainFixtures.directory.appendingPathComponent("minimal.xml")))
        let missing = directory.appendingPathComponent("domain.rng").path
        #expect(throws: DevicesError.self) { try DomainFile.schemaProblem(bytes, source: "minimal", schema: missing) }
        let notSchema = directory.appendingPathComponent("not-a-schema.rng")
        try Data("<domain type='kvm'/>\n".utf8).write(to: notSchema)
        #expect(throws: DevicesError.self) {
            try DomainFile.schemaProblem(bytes, source: "minimal", schema: notSchema.path)
        }
        #expect(try DomainFile.schemaProblem(bytes, source: "minimal") == nil)
    }

    @Test("a domain written on one line: detach gives the original bytes back for every option set")
    func oneLine() throws {
        let fake = try FakeHost.guestHost()
        let text =
            "<domain type='kvm'><name>g</name><memory unit='KiB'>4194304</memory><vcpu>8</vcpu>"
            + "<os><type arch='x86_64' machine='q35'>hvm</type></os><features><acpi/></features>"
            + "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>\n"
        let original = try XMLDocument(bytes: Array(text.utf8), source: "one-line")
        for (label, request) in GuestRequests.all() {
            let merged = try XMLDocument(
                bytes: try fake.host.attach(request, to: original, source: "one-line").bytes, source: label)
            #expect(merged.bytes != original.bytes, "\(label): attach changed nothing")
            let detached = try fake.host.detach(request, from: merged, source: label)
            #expect(
                String(decoding: detached.bytes, as: UTF8.self) == text,
                "\(label): detach did not give the one-line original back")
        }
    }

    @Test(
        "every option on every domain: valid for libvirt, idempotent, nothing lost, detach gives the original back",
        arguments: DomainFixtures.corpus)
    func corpus(_ name: String) throws {
        let fake = try FakeHost.guestHost()
        let host = fake.host
        let original = try DomainFixtures.document(name)
        for (label, request) in GuestRequests.all() {
            let change = try host.attach(request, to: original, source: name)
            // Only a domain that turns both suspend states off itself is left as it is by --pm.
            #expect(change.changed || label == "pm", "\(name) \(label): nothing changed")
            let merged = try XMLDocument(bytes: change.bytes, source: "\(name) \(label)")
            if let dump = ProcessInfo.processInfo.environment["VFIOCTL_DUMP"] {
                try Data(change.bytes).write(
                    to: URL(fileURLWithPath: "\(dump)/\(name.replacingOccurrences(of: "/", with: "-"))-\(label).xml"))
            }
            let problem = try DomainFile.schemaProblem(change.bytes, source: name)
            #expect(problem == nil, "\(name) \(label): \(problem ?? "")")
            let again = try host.attach(request, to: merged, source: name)
            #expect(
                String(decoding: again.bytes, as: UTF8.self) == String(decoding: change.bytes, as: UTF8.self),
                "\(name) \(label): a second attach changed the result:\n\(UnifiedDiff.make(old: change.bytes, new: again.bytes, oldName: "first", newName: "second"))"
            )
            // Nothing of the user's is lost, as diff(1) sees it: no line deleted, and every line diff(1) reports
            // changed is still there with only attributes added or its empty element opened, or is the one value
            // the request names (the vCPU count of --vcpus 6 and the topology that adds up to it, the size of an
            // existing Looking Glass device).
            for line in try LostLines.find(original: original.bytes, merged: change.bytes, request: label) {
                Issue.record("\(name) \(label): \(line)")
            }
            let detached = try host.detach(request, from: merged, source: name)
            #expect(
                String(decoding: detached.bytes, as: UTF8.self) == String(decoding: original.bytes, as: UTF8.self),
                "\(name) \(label): detach did not give the original back:\n\(UnifiedDiff.make(old: original.bytes, new: detached.bytes, oldName: "original", newName: "detached"))"
            )
            // Detaching from the untouched domain changes nothing and says which parts hold nothing of vfioctl's;
            // only the GPU the request names goes, where the user had passed it through by hand.
            let untouched = try host.detach(request, from: original, source: name)
            if name == "existing-passthrough" && ["gpu", "everything", "override", "laptop-gpu"].contains(label) {
                let text = String(decoding: original.bytes, as: UTF8.self)
                let hostdev = try #require(
                    text.firstRange(of: #/    <hostdev [^\n]*\n(?:      [^\n]*\n)*    <\/hostdev>\n/#))
                #expect(
                    String(decoding: untouched.bytes, as: UTF8.self) == text.replacingCharacters(in: hostdev, with: ""),
                    "\(name) \(label): detach took more than the hand-made GPU hostdev")
            } else {
                #expect(untouched.bytes == original.bytes, "\(name) \(label): detach changed an untouched domain")
            }
            #expect(untouched.isUnrecorded)
        }
    }

    @Test(
        "a domain's own <hyperv>, <pm>, <cpu>, <cputune>, <memoryBacking> are kept by attach and survive detach",
        arguments: ["virt-manager", "tuned", "virt-install/win11"])
    func userTuning(_ name: String) throws {
        let fake = try FakeHost.guestHost()
        let original = try DomainFixtures.document(name)
        var request = GuestRequest()
        request.tuning = .all
        let untouched = try fake.host.detach(request, from: original, source: name)
        #expect(untouched.bytes == original.bytes)
        #expect(!untouched.changed)
        #expect(untouched.unowned == [.hugepages, .pin, .hyperv, .hidden, .smbios, .pm])
        #expect(untouched.isUnrecorded)

        let attached = try fake.host.attach(request, to: original, source: name)
        let text = String(decoding: attached.bytes, as: UTF8.self)
        let before = String(decoding: original.bytes, as: UTF8.self)
        // Every block the user wrote is still there, line for line, inside the result.
        for block in ["hyperv", "pm", "cputune", "memoryBacking"] {
            guard let range = before.range(of: "<\(block)"), let end = before.range(of: "</\(block)>") else { continue }
            let lines = before[range.lowerBound..<end.upperBound].split(separator: "\n").dropLast()
            for line in lines { #expect(text.contains(line), "\(name): <\(block)> lost \(line)") }
        }
        if before.contains("enabled='no'") || before.contains("enabled=\"no\"") {
            #expect(text.contains("suspend-to-mem enabled=") && !text.contains("<suspend-to-mem enabled='yes'/>"))
            #expect(attached.notes.contains { $0.contains("<suspend-to-mem enabled='no'/>") && $0.contains("kept") })
        }
        if name == "tuned" {
            #expect(text.contains("<spinlocks state='on' retries='4095'/>"))
            #expect(text.contains("<topology sockets='1' dies='1' cores='4' threads='2'/>"))
            #expect(text.contains("<vcpupin vcpu='0' cpuset='4'/>"))
            #expect(attached.notes.contains { $0.contains("own pinning") })
            #expect(attached.notes.contains { $0.contains("<synic state='off'/>") })
        }
        #expect(try DomainSummary(name: name, isActive: false, xml: attached.bytes).managedByVfioctl)
        let merged = try XMLDocument(bytes: attached.bytes, source: name)
        let detached = try fake.host.detach(request, from: merged, source: name)
        #expect(detached.bytes == original.bytes)
        // One part at a time, in any order, gives the original back as well.
        var current = merged
        for part in GuestRequests.tuningParts.reversed() {
            current = try XMLDocument(
                bytes: try fake.host.detach(part, from: current, source: name).bytes, source: name)
        }
        #expect(
            current.bytes == original.bytes,
            "\(UnifiedDiff.make(old: original.bytes, new: current.bytes, oldName: "original", newName: "detached"))")
    }

    @Test(
        "pinning a TCG guest (type='qemu') asks for QEMU's maximum CPU, and libvirt's start checks hold for any mode",
        arguments: [
            ("<domain type='qemu'>", "", "<cpu mode='maximum' check='none' migratable='on'>", true),
            ("<domain type='kvm'>", "", "<cpu mode='host-passthrough' check='none' migratable='on'>", true),
            (
                "<domain type='qemu'>", "<cpu mode='custom' match='exact'><model>qemu64</model></cpu>",
                "<cpu mode='custom' match='exact'>", false
            ),
            ("<domain type='qemu'>", "<cpu mode='maximum'/>", "<cpu mode='maximum'>", true),
        ])
    func pinnedCPUMode(domainTag: String, cpu: String, expected: String, cache: Bool) throws {
        let fake = try FakeHost.guestHost()
        let xml =
            "\(domainTag)<name>g</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            + "<os><type arch='x86_64' machine='q35'>hvm</type></os>\(cpu)<devices/></domain>\n"
        let original = try XMLDocument(bytes: Array(xml.utf8), source: "g.xml")
        var request = GuestRequest()
        request.tuning.pin = true
        request.tuning.vcpus = 1
        let attached = try fake.host.attach(request, to: original, source: "g.xml")
        let text = String(decoding: attached.bytes, as: UTF8.self)
        #expect(text.contains(expected), "\(text)")
        // libvirt refuses <cache mode='passthrough'/> unless the mode is host-passthrough or maximum.
        #expect(text.contains("<cache mode='passthrough'/>") == cache, "\(text)")
        #expect(try DomainFile.schemaProblem(attached.bytes, source: "g.xml") == nil)
    }

    @Test("a domain an older vfioctl attached (no record): detach removes its hostdevs, root port and evdev only")
    func unrecorded() throws {
        let fake = try FakeHost.guestHost()
        let url = DomainFixtures.directory.deletingLastPathComponent()
            .appendingPathComponent("legacy/virt-manager-everything.xml")
        let legacy = try XMLDocument(bytes: Array(try Data(contentsOf: url)), source: "legacy")
        let (_, everything) = try #require(GuestRequests.all().first { $0.0 == "everything" })
        let change = try fake.host.detach(everything, from: legacy, source: "legacy")
        #expect(change.isUnrecorded)
        #expect(change.unowned == [.lookingGlass, .scream, .hugepages, .pin, .hyperv, .hidden, .smbios, .pm])
        let text = String(decoding: change.bytes, as: UTF8.self)
        #expect(!text.contains("<hostdev"))
        #expect(!text.contains("ua-vfioctl-port"))
        #expect(!text.contains("vfioctl-kbd") && !text.contains("qemu:commandline") && !text.contains("xmlns:qemu"))
        // What may be the user's own stays: shared memory and every piece of tuning.
        for kept in [
            "<shmem name='looking-glass'>", "<shmem name='scream-ivshmem'>", "<hugepages/>", "<vcpupin vcpu='0'",
            "<vendor_id state='on'", "<sysinfo type='smbios'>", "<suspend-to-mem enabled='yes'/>",
        ] {
            #expect(text.contains(kept), "\(kept) was removed")
        }
        #expect(!text.contains("vfioctl:ownership"))
    }

    @Test("once a record exists, detach still removes the root port, hostdevs and inputs an older vfioctl added")
    func recordAfterOlderVersion() throws {
        let fake = try FakeHost.guestHost()
        let url = DomainFixtures.directory.deletingLastPathComponent()
            .appendingPathComponent("legacy/virt-manager-everything.xml")
        let legacy = try XMLDocument(bytes: Array(try Data(contentsOf: url)), source: "legacy")
        var smbus = GuestRequest()
        smbus.hostdevs = [BindTarget("0000:00:1f.3")].compactMap { $0 }
        let recorded = try XMLDocument(
            bytes: try fake.host.attach(smbus, to: legacy, source: "legacy").bytes, source: "legacy")
        var request = try #require(GuestRequests.all().first { $0.0 == "everything" }).1
        request.hostdevs = smbus.hostdevs
        let change = try fake.host.detach(request, from: recorded, source: "legacy")
        #expect(!change.isUnrecorded)
        #expect(change.unowned == [.lookingGlass, .scream, .hugepages, .pin, .hyperv, .hidden, .smbios, .pm])
        let text = String(decoding: change.bytes, as: UTF8.self)
        #expect(!text.contains("<hostdev"))
        #expect(!text.contains("ua-vfioctl-port"))
        #expect(!text.contains("vfioctl-kbd") && !text.contains("qemu:commandline") && !text.contains("xmlns:qemu"))
        #expect(!text.contains("vfioctl:ownership"))
        #expect(text.contains("<shmem name='looking-glass'>") && text.contains("<hugepages/>"))
        #expect(try DomainFile.schemaProblem(change.bytes, source: "legacy") == nil)
    }
}

/// What diff(1) says a merge took away from the user's file.
enum LostLines {
    /// Runs diff(1) on the two files and returns one line for each original line that is not kept: deleted, or
    /// changed into something other than itself with attributes added or its empty element opened.
    static func find(original: [UInt8], merged: [UInt8], request: String) throws -> [String] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-lost-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let old = directory.appendingPathComponent("original.xml")
        let new = directory.appendingPathComponent("merged.xml")
        try Data(original).write(to: old)
        try Data(merged).write(to: new)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        process.arguments = [old.path, new.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus <= 1 else {
            return ["diff(1) failed with status \(process.terminationStatus)"]
        }
        var lost: [String] = []
        var removed: [Substring] = []
        var added: [Substring] = []
        func judge() {
            for line in removed where !added.contains(where: { kept(line, as: $0, request: request) }) {
                lost.append("removed the user's line \(line)")
            }
            removed = []
            added = []
        }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("< ") || line == "<" {
                removed.append(line.dropFirst(2))
            } else if line.hasPrefix("> ") || line == ">" {
                added.append(line.dropFirst(2))
            } else if line != "---" {
                judge()
            }
        }
        judge()
        return lost
    }

    /// A start tag's parts: leading space, name, attributes in order, and whether it closes itself; nil for a line
    /// that is not one start tag.
    private static func tag(_ line: Substring) -> (
        indent: Substring, name: Substring, attributes: [String], closed: Bool, rest: Substring
    )? {
        guard
            let match = line.wholeMatch(
                of: /(\s*)<([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+=(?:'[^']*'|"[^"]*"))*)\s*(\/?)>(.*)/)
        else {
            return nil
        }
        let attributes = match.3.matches(of: /[\w:.-]+=(?:'[^']*'|"[^"]*")/).map { String($0.0) }
        return (match.1, match.2, attributes, match.4 == "/", match.5)
    }

    /// Whether `new` keeps `old`: the same line, or the same start tag with attributes added and, when it closed
    /// itself, perhaps opened; or the value the request names.
    static func kept(_ old: Substring, as new: Substring, request: String) -> Bool {
        if old == new { return true }
        guard let before = tag(old), let after = tag(new), before.indent == after.indent, before.name == after.name
        else { return false }
        if request == "pin-6" && (before.name == "vcpu" || before.name == "topology") { return true }
        // --looking-glass 2560x1440 sizes an existing Looking Glass device to 64 MiB.
        if request == "looking-glass" && before.name == "size" { return new.hasSuffix("<size unit='M'>64</size>") }
        guard before.attributes.allSatisfy(after.attributes.contains) else { return false }
        if before.closed { return after.rest.isEmpty }
        return before.rest == after.rest && !after.closed
    }
}
