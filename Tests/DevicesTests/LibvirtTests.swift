import Foundation
import TestSupport
import Testing

@testable import Devices

/// libvirt's test driver loaded from Tests/Fixtures/libvirt/node.xml: three realistic guests, two running.
private let nodeURI =
    "test://"
    + URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/libvirt/node.xml").path

@Suite struct LibvirtTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("attach and detach through the libvirt API: fetch, merge, define, read back, round trip")
    func roundTrip() throws {
        let fake = try FakeHost.guestHost()
        let connection = try LibvirtConnection(uri: nodeURI)
        let before = try connection.inactiveXML(of: "workstation")
        var request = GuestRequest()
        request.gpus = [.gpu(2)]
        request.lookingGlass = .init()
        request.evdev = .init(style: .native)
        let original = try XMLDocument(bytes: before, source: "workstation")
        let change = try fake.host.attach(request, to: original, source: "workstation")
        try DomainFile.validate(change, original: original, source: "workstation")
        try connection.define(change.bytes, name: "workstation")
        let defined = text(try connection.inactiveXML(of: "workstation"))
        #expect(defined.contains("<address domain='0x0000' bus='0x01' slot='0x00' function='0x3'/>"))
        #expect(defined.contains("<shmem name='looking-glass'>"))
        #expect(defined.contains("<alias name='ua-vfioctl-kbd'/>"))
        #expect(try connection.isActive("workstation") == false)

        // Detach what libvirt gives back: libvirt's own formatting, vfioctl's elements gone.
        let fetched = try XMLDocument(bytes: try connection.inactiveXML(of: "workstation"), source: "workstation")
        let removed = try fake.host.detach(request, from: fetched, source: "workstation")
        try connection.define(removed.bytes, name: "workstation")
        let after = text(try connection.inactiveXML(of: "workstation"))
        #expect(!after.contains("hostdev"))
        #expect(!after.contains("looking-glass"))
        #expect(!after.contains("ua-vfioctl"))
        #expect(after == text(before))
    }

    @Test(
        "through libvirt's test driver the record survives define and dumpxml, and detach gives libvirt's original back",
        arguments: DomainFixtures.corpus)
    func corpusRoundTrip(_ name: String) throws {
        let fake = try FakeHost.guestHost()
        // Each case defines its own guests in the process-wide test:///default driver: unique names, no fixed UUID.
        let connection = try LibvirtConnection(uri: "test:///default")
        let source = try DomainFixtures.document(name)
        var base = text(source.bytes).replacing(/\n *<uuid>[^<]*<\/uuid>/, with: "")
        let guestName = "corpus-" + name.replacingOccurrences(of: "/", with: "-")
        base = base.replacing(/<name>[^<]*<\/name>/, with: "<name>\(guestName)</name>")
        try connection.define(Array(base.utf8), name: guestName)
        let defined = try connection.inactiveXML(of: guestName)
        for (label, request) in GuestRequests.all() {
            let original = try XMLDocument(bytes: defined, source: guestName)
            let change = try fake.host.attach(request, to: original, source: guestName)
            try connection.define(change.bytes, name: guestName)
            let dumped = try connection.inactiveXML(of: guestName)
            if change.changed {
                #expect(text(dumped).contains("<vfioctl:ownership"), "\(name) \(label): libvirt dropped the record")
            }
            // A second attach on libvirt's own formatting of the result changes nothing.
            let fetched = try XMLDocument(bytes: dumped, source: guestName)
            let again = try fake.host.attach(request, to: fetched, source: guestName)
            // (The test driver drops <qemu:commandline> and <qemu:override>, which only the QEMU driver knows: those
            // parts come back.)
            if !["evdev", "kvmfr", "everything", "override", "laptop-gpu"].contains(label) {
                #expect(
                    !again.changed,
                    "\(name) \(label): a second attach changed libvirt's definition:\n\(UnifiedDiff.make(old: dumped, new: again.bytes, oldName: "defined", newName: "again"))"
                )
            }
            let detached = try fake.host.detach(request, from: fetched, source: guestName)
            try connection.define(detached.bytes, name: guestName)
            let restored = try connection.inactiveXML(of: guestName)
            #expect(
                restored == defined,
                "\(name) \(label):\n\(UnifiedDiff.make(old: defined, new: restored, oldName: "defined", newName: "restored"))"
            )
        }
    }

    @Test("domains() lists every guest with its state; the summary finds hostdevs, shmem and tuning")
    func listing() throws {
        let connection = try LibvirtConnection(uri: nodeURI)
        let domains = try connection.domains()
        #expect(domains.map(\.name) == ["gaming", "win11", "workstation"])
        #expect(domains.map(\.isActive) == [true, true, false])
        let gaming = try DomainSummary(name: "gaming", isActive: true, xml: domains[0].xml)
        #expect(gaming.hostdevs.map(\.description) == ["0000:01:00.0"])
        #expect(gaming.sharedMemory == [DomainSummary.SharedMemoryRegion(name: "looking-glass", sizeMiB: 2)])
        #expect(gaming.managedByVfioctl == false)
        let win11 = try DomainSummary(name: "win11", isActive: true, xml: domains[1].xml)
        #expect(win11.tuning == [.hyperv])
    }

    @Test("errors are one line with the URI and the domain; a refused define changes nothing")
    func errors() throws {
        let connection = try LibvirtConnection(uri: nodeURI)
        #expect {
            try connection.inactiveXML(of: "nope")
        } throws: { error in
            guard let error = error as? DevicesError else { return false }
            return error.code == .notFound && error.message.hasPrefix("libvirt at \(nodeURI), domain nope: not found")
                && !error.message.contains("\n")
        }
        let before = try connection.inactiveXML(of: "gaming")
        let broken = text(before).replacingOccurrences(of: "<memory unit='KiB'>", with: "<memory unit='parsecs'>")
        #expect {
            try connection.define(Array(broken.utf8), name: "gaming")
        } throws: { error in
            (error as? DevicesError)?.message.contains("libvirt refused the new definition, nothing changed") == true
        }
        #expect(try connection.inactiveXML(of: "gaming") == before)
        #expect {
            try LibvirtConnection(uri: "test:///nonexistent/node.xml")
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix("cannot connect to libvirt at test:///nonexistent/node.xml")
                == true
        }
    }
}
