import Foundation
import TestSupport
import Testing

@testable import Devices

/// `attach --mdev` and `detach --mdev` on fake GVT-g and NVIDIA hosts.
@Suite struct GuestMdevTests {
    let gvtg = "4b20d080-1b54-4048-85b3-a6a62d165c01"
    let vgpu = "0b7e9a5e-9c3a-4f57-8d0c-5a1f3b2e4d61"

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// A workstation whose iGPU offers GVT-g types (one device made) and whose GPU offers NVIDIA vGPU types.
    private func host() throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.addMdevTypes("0000:00:02.0", FakeMdevType.gvtg)
        try fake.addMdevTypes("0000:01:00.0", FakeMdevType.nvidia)
        try fake.addMdev(gvtg, parent: "0000:00:02.0", type: "i915-GVTg_V5_4", group: 40)
        return fake
    }

    private func journal(_ fake: FakeHost) throws -> Journal? {
        let path = fake.path("/run/vfioctl/journal.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try JSONDecoder().decode(Journal.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as DevicesError { return error.message } catch { return "\(error)" }
    }

    private func mdevs(_ fake: FakeHost) throws -> [String] {
        try fake.report().devices.flatMap { $0.sharing?.mediatedDevices.map(\.uuid) ?? [] }.sorted()
    }

    @Test("--mdev UUID adds a vfio-pci mdev hostdev libvirt accepts; detach gives the original bytes back")
    func attachByUUID() throws {
        let fake = try host()
        var request = GuestRequest()
        request.mdevs = [GuestRequest.Mdev(uuid: gvtg.uppercased())]
        for name in ["minimal", "virt-manager", "tabs", "existing-passthrough"] {
            let original = try DomainFixtures.document(name)
            let change = try fake.host.attach(request, to: original, source: name)
            let xml = text(change.bytes)
            #expect(
                xml.contains("<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='off'>")
                    || xml.contains("<hostdev mode=\"subsystem\" type=\"mdev\" model=\"vfio-pci\" display=\"off\">"),
                "\(name): \(xml)")
            #expect(xml.contains("uuid='\(gvtg)'") || xml.contains("uuid=\"\(gvtg)\""), "\(name): lowercase UUID")
            #expect(
                xml.contains("<vfioctl:part name='mdev' device='\(gvtg)'>")
                    || xml.contains("<vfioctl:part name=\"mdev\" device=\"\(gvtg)\">"), "\(name): recorded")
            #expect(try DomainFile.schemaProblem(change.bytes, source: name) == nil, "\(name)")
            let merged = try XMLDocument(bytes: change.bytes, source: name)
            let detached = try fake.host.detach(request, from: merged, source: name)
            #expect(detached.bytes == original.bytes, "\(name): detach is not byte-exact")
            // Running attach on its own result is refused: a guest takes a mediated device once.
            #expect(
                message { _ = try fake.host.attach(request, to: merged, source: name) }?.hasPrefix(
                    "\(name) already has mediated device \(gvtg) (line ") == true)
        }
        // libvirt's test driver defines it and keeps the hostdev.
        let change = try fake.host.attach(request, to: try DomainFixtures.document("minimal"), source: "minimal")
        let named = text(change.bytes).replacing("<name>minimal</name>", with: "<name>mdev-by-uuid</name>")
        let connection = try LibvirtConnection(uri: "test:///default")
        try connection.define(Array(named.utf8), name: "mdev-by-uuid")
        let defined = text(try connection.inactiveXML(of: "mdev-by-uuid"))
        #expect(defined.contains("<hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='off'>"))
        #expect(defined.contains("<address uuid='\(gvtg)'/>"))
    }

    @Test("detach of everything keeps the other parts' records apart: --mdev and --scream attach and detach alike")
    func detachWithOtherParts() throws {
        let fake = try host()
        var request = GuestRequest()
        request.mdevs = [GuestRequest.Mdev(uuid: gvtg, display: true)]
        request.scream = true
        let original = try DomainFixtures.document("virt-manager")
        let change = try fake.host.attach(request, to: original, source: "vm")
        #expect(text(change.bytes).contains("display='on'"))
        #expect(!change.notes.contains { $0.contains("needs a graphics device") }, "virt-manager's domain has one")
        let merged = try XMLDocument(bytes: change.bytes, source: "vm")
        var mdevOnly = GuestRequest()
        mdevOnly.mdevs = [GuestRequest.Mdev(uuid: gvtg)]
        let withoutMdev = try fake.host.detach(mdevOnly, from: merged, source: "vm")
        #expect(!text(withoutMdev.bytes).contains(gvtg))
        #expect(text(withoutMdev.bytes).contains("scream-ivshmem"))
        #expect(try fake.host.detach(request, from: merged, source: "vm").bytes == original.bytes)
        // A part vfioctl did not add is named, nothing changes.
        var other = GuestRequest()
        other.mdevs = [GuestRequest.Mdev(uuid: vgpu)]
        let untouched = try fake.host.detach(other, from: merged, source: "vm")
        #expect(untouched.bytes == merged.bytes)
        #expect(untouched.unowned == [.mdev(vgpu)])
    }

    @Test("display='on' in a domain without <graphics> comes with a note saying what to add")
    func displayNeedsGraphics() throws {
        let fake = try host()
        var request = GuestRequest()
        request.mdevs = [GuestRequest.Mdev(uuid: gvtg, display: true)]
        let change = try fake.host.attach(request, to: try DomainFixtures.document("minimal"), source: "minimal")
        #expect(text(change.bytes).contains("display='on'"))
        #expect(
            change.notes.contains {
                $0.hasPrefix("display='on' for \(gvtg) needs a graphics device and the domain has none")
            })
        #expect(try DomainFile.schemaProblem(change.bytes, source: "minimal") == nil)
    }

    @Test("a domain without a record loses only the named mdev's hostdev on detach")
    func detachUnrecorded() throws {
        let fake = try host()
        let domain = """
            <domain type='kvm'>
              <name>hand</name>
              <memory>4194304</memory>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
              </os>
              <devices>
                <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
                  <source>
                    <address uuid='\(gvtg)'/>
                  </source>
                </hostdev>
                <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
                  <source>
                    <address uuid='\(vgpu)'/>
                  </source>
                </hostdev>
              </devices>
            </domain>

            """
        let document = try XMLDocument(bytes: Array(domain.utf8), source: "hand")
        var request = GuestRequest()
        request.mdevs = [GuestRequest.Mdev(uuid: gvtg)]
        let change = try fake.host.detach(request, from: document, source: "hand")
        #expect(!text(change.bytes).contains(gvtg))
        #expect(text(change.bytes).contains(vgpu))
    }

    @Test("bad mediated devices are refused in one line naming them, and nothing is added")
    func refusals() throws {
        let fake = try host()
        try fake.addMdevTypes(
            "0000:02:00.0",
            [
                FakeMdevType("vfio_ap-passthrough", name: nil, description: nil, available: 1, deviceAPI: "vfio-ap"),
                FakeMdevType(
                    "nvidia-300", name: "GRID T4-4C", description: "num_heads=0, frl_config=60, framebuffer=4096M",
                    available: 1),
            ])
        let ap = "11111111-2222-4333-8444-555555555555"
        let compute = "11111111-2222-4333-8444-666666666666"
        try fake.addMdev(ap, parent: "0000:02:00.0", type: "vfio_ap-passthrough", group: 41)
        try fake.addMdev(compute, parent: "0000:02:00.0", type: "nvidia-300", group: 42)
        let original = try DomainFixtures.document("minimal")
        func attach(_ mdevs: [GuestRequest.Mdev], others: [LibvirtDomain] = []) -> String? {
            var request = GuestRequest()
            request.mdevs = mdevs
            return message { _ = try fake.host.attach(request, to: original, source: "minimal", otherDomains: others) }
        }
        #expect(attach([GuestRequest.Mdev(uuid: vgpu)]) == "no mediated device \(vgpu) on this host")
        #expect(
            attach([GuestRequest.Mdev(uuid: gvtg), GuestRequest.Mdev(uuid: gvtg.uppercased())])
                == "mediated device \(gvtg) is named twice: a guest takes it once")
        #expect(
            attach([GuestRequest.Mdev(uuid: ap)])
                == "mediated device \(ap) (vfio_ap-passthrough on 0000:02:00.0) speaks vfio-ap, not vfio-pci: it is "
                + "not a PCI device for the guest")
        #expect(
            attach([GuestRequest.Mdev(uuid: compute, display: true)])
                == "nvidia-300 on 0000:02:00.0 has no display heads (its description says num_heads=0): it cannot "
                + "show a display")
        #expect(attach([GuestRequest.Mdev(uuid: compute)]) == nil, "without a display it passes")
        let other = LibvirtDomain(
            name: "office", isActive: false,
            xml: Array(
                "<domain><devices><hostdev type='mdev'><source><address uuid='\(gvtg.uppercased())'/></source></hostdev></devices></domain>"
                    .utf8))
        #expect(
            attach([GuestRequest.Mdev(uuid: gvtg)], others: [other])
                == "mediated device \(gvtg) is already given to the guest office")
        try fake.addRunningGuest("win", pid: 5151, xml: "<domain><address uuid='\(gvtg)'/></domain>")
        #expect(attach([GuestRequest.Mdev(uuid: gvtg)]) == "mediated device \(gvtg) is in use by the running guest win")
    }

    @Test("--mdev TYPE picks the one parent with an instance left, GVT-g and NVIDIA alike, or says why not")
    func parentForType() throws {
        let fake = try host()
        let host = fake.host
        #expect(try host.mdevParent(forType: "i915-GVTg_V5_8") == PCIAddress(bus: 0, device: 2, function: 0))
        #expect(try host.mdevParent(forType: "nvidia-259") == PCIAddress(bus: 1, device: 0, function: 0))
        #expect(
            message { _ = try host.mdevParent(forType: "nvidia-999") }
                == "no function of this host offers mdev type nvidia-999 (the types offered are i915-GVTg_V5_4, "
                + "i915-GVTg_V5_8, nvidia-222, nvidia-259)")
        #expect(
            message { _ = try host.mdevParent(forType: "nvidia-222") }
                == "no nvidia-222 instance is left (available_instances is 0 on 0000:01:00.0): remove one first")
        try fake.addMdevTypes("0000:02:00.0", FakeMdevType.nvidia)
        #expect(
            message { _ = try host.mdevParent(forType: "nvidia-259") }
                == "0000:01:00.0 and 0000:02:00.0 all offer nvidia-259: which parent is not clear")
        let bare = try FakeHost.workstation()
        #expect(
            message { _ = try bare.host.mdevParent(forType: "nvidia-259") }
                == "no function of this host offers mdev type nvidia-259 (none offers any: is a GVT-g or vGPU driver "
                + "loaded?)")
    }

    @Test(
        "--mdev TYPE creates the device, attaches it and leaves no journal record",
        arguments: ["i915-GVTg_V5_8", "nvidia-259"])
    func attachByType(type: String) throws {
        let fake = try host()
        let kernel = try FakeKernel(host: fake)
        let original = try DomainFixtures.document("minimal")
        let change = try fake.host.withNewMdevs(types: [type], io: kernel) { created -> DomainChange in
            #expect(created.count == 1)
            #expect(try journal(fake)?.mdevs?.map(\.uuid) == created.map(\.uuid), "recorded before it is used")
            var request = GuestRequest()
            request.mdevs = created.map { GuestRequest.Mdev(uuid: $0.uuid) }
            return try fake.host.attach(request, to: original, source: "minimal")
        }
        let made = try mdevs(fake).filter { $0 != gvtg }
        #expect(made.count == 1)
        #expect(kernel.writes == ["\(type)/create <- \(made[0])"])
        #expect(text(change.bytes).contains("<address uuid='\(made[0])'/>"))
        #expect(try DomainFile.schemaProblem(change.bytes, source: "minimal") == nil)
        #expect(try journal(fake) == nil)
    }

    @Test("a failed attach removes the device it created: the host is as it was")
    func failedAttachRemovesIt() throws {
        let fake = try host()
        let kernel = try FakeKernel(host: fake)
        let before = try mdevs(fake)
        let available = try fake.report().device("0000:00:02.0").sharing?.mdevTypes.map(\.availableInstances)
        let failure = message {
            try fake.host.withNewMdevs(types: ["i915-GVTg_V5_8"], io: kernel) { _ in
                throw DevicesError(code: .unavailable, message: "libvirt refused the new definition")
            }
        }
        #expect(failure?.hasPrefix("libvirt refused the new definition; the mediated device created for it (") == true)
        #expect(failure?.hasSuffix(") was removed again") == true, "\(failure ?? "")")
        #expect(try mdevs(fake) == before)
        #expect(try fake.report().device("0000:00:02.0").sharing?.mdevTypes.map(\.availableInstances) == available)
        #expect(kernel.writes.count == 2 && kernel.writes.last?.hasSuffix("/remove <- 1") == true)
        #expect(try journal(fake) == nil)
        // A type that cannot be made changes nothing at all.
        #expect(
            message { try fake.host.withNewMdevs(types: ["nvidia-222"], io: kernel) { _ in } }?.hasPrefix(
                "no nvidia-222 instance is left") == true)
        #expect(kernel.writes.count == 2)
    }

    @Test("a run killed after creating the devices leaves records from which recover removes them")
    func killedThenRecovered() throws {
        let fake = try host()
        let kernel = try FakeKernel(host: fake)
        let before = try mdevs(fake)
        kernel.killAfterWrites = 1
        #expect(throws: Killed.self) {
            try fake.host.withNewMdevs(types: ["i915-GVTg_V5_8", "nvidia-259"], io: kernel) { _ in }
        }
        kernel.killAfterWrites = nil
        let records = try #require(try journal(fake)?.mdevs)
        #expect(records.count == 2)
        #expect(try mdevs(fake).count == before.count + 1, "the first one was made, the second write was killed")
        let items = try fake.host.planRecovery()
        #expect(Set(items.map(\.subject)) == Set(records.map { RecoveryItem.Subject.mediatedDevice($0.uuid) }))
        let outcomes = try fake.host.recover(io: kernel, commands: FakeCommands(host: fake)) { _ in }
        #expect(outcomes.map(\.result) == [.restored, .restored], "\(outcomes)")
        #expect(try mdevs(fake) == before)
        #expect(try journal(fake) == nil)
    }
}
