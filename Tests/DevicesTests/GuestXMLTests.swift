import Foundation
import TestSupport
import Testing

@testable import Devices

/// The domain files under Tests/Fixtures/domains.
enum DomainFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/domains")

    static let names = ["minimal", "virt-manager", "handmade", "tabs", "existing-passthrough", "i440fx"]

    static func document(_ name: String) throws -> XMLDocument {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".xml"))
        return try XMLDocument(bytes: Array(data), source: name + ".xml")
    }
}

/// Every option the merge knows, one request each.
enum GuestRequests {
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
        return [
            ("gpu", gpu), ("hostdev", hostdev), ("looking-glass", lookingGlass), ("kvmfr", kvmfr), ("scream", scream),
            ("evdev", evdev), ("evdev-native", native), ("tune", tune), ("everything", everything),
        ]
    }
}

@Suite struct GuestXMLTests {
    private func lines(_ bytes: [UInt8]) -> [Substring] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    }

    @Test(
        "every option on every domain: well-formed, valid for libvirt, idempotent, nothing lost, detach undoes it",
        arguments: DomainFixtures.names)
    func corpus(_ name: String) throws {
        let fake = try FakeHost.guestHost()
        let host = fake.host
        let original = try DomainFixtures.document(name)
        for (label, request) in GuestRequests.all() {
            let change = try host.attach(request, to: original, source: name)
            #expect(change.changed, "\(name) \(label): nothing changed")
            let merged = try XMLDocument(bytes: change.bytes, source: "\(name) \(label)")
            if let dump = ProcessInfo.processInfo.environment["VFIOCTL_DUMP"] {
                try Data(change.bytes).write(to: URL(fileURLWithPath: "\(dump)/\(name)-\(label).xml"))
            }
            let problem = try DomainFile.schemaProblem(change.bytes, source: name)
            #expect(problem == nil, "\(name) \(label): \(problem ?? "")")
            let again = try host.attach(request, to: merged, source: name)
            #expect(
                String(decoding: again.bytes, as: UTF8.self) == String(decoding: change.bytes, as: UTF8.self),
                "\(name) \(label): a second attach changed the result:\n\(UnifiedDiff.make(old: change.bytes, new: again.bytes, oldName: "first", newName: "second"))"
            )
            // Nothing of the user's is lost: every original line is still there, in order (except lines vfioctl
            // updates in place: the vcpu count, an existing cpu/pm/hyperv/cputune and the existing GPU hostdev).
            let diff = UnifiedDiff.make(old: original.bytes, new: change.bytes, oldName: "a", newName: "b")
            let removed = diff.split(separator: "\n").filter { $0.hasPrefix("-") && !$0.hasPrefix("---") }
            let updatable = [
                "<vcpu", "<cpu", "</cpu>", "<pm>", "</pm>", "suspend-to", "<hyperv", "</hyperv>",
                "<relaxed", "<vapic", "<spinlocks", "<size", "<shares", "<cputune", "</cputune>", "</os>",
                "<kvm>", "</kvm>", "hint-dedicated", "</features>", "<devices/>", "</devices>", "</domain>",
                // xmlns:qemu joins the domain's start tag; multifunction='on' joins the user's GPU address.
                "<domain ", "<address type='pci' domain='0x0000' bus='0x05'",
            ]
            let replaced = label == "kvmfr" ? ["<shmem name='looking-glass'>", "ivshmem-plain", "</shmem>"] : []
            for line in removed where !(updatable + replaced).contains(where: { line.contains($0) }) {
                Issue.record("\(name) \(label): removed the user's line \(line)")
            }
            let detached = try host.detach(request, from: merged, source: name)
            let problemAfter = try DomainFile.schemaProblem(detached.bytes, source: name)
            #expect(problemAfter == nil, "\(name) \(label) detached: \(problemAfter ?? "")")
            if removed.isEmpty && label != "tune" && label != "everything" {
                #expect(
                    String(decoding: detached.bytes, as: UTF8.self) == String(decoding: original.bytes, as: UTF8.self),
                    "\(name) \(label): detach did not restore the original:\n\(UnifiedDiff.make(old: original.bytes, new: detached.bytes, oldName: "original", newName: "detached"))"
                )
            }
        }
    }
}
