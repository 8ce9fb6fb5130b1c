import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct GuestOverrideTests {
    private let nvidia = PCIAddress(bus: 1, device: 0, function: 0)

    private func request(_ overrides: [GuestRequest.Override] = [], gpu: Bool = false) -> GuestRequest {
        var request = GuestRequest()
        if gpu { request.gpus = [.gpu(2)] }
        request.overrides = overrides
        return request
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("an override on a GPU passed earlier: alias added to its hostdev; detach of either part is byte-exact")
    func afterGPU() throws {
        let fake = try FakeHost.guestHost()
        let host = fake.host
        let original = try DomainFixtures.document("virt-manager")
        let withGPU = try XMLDocument(
            bytes: try host.attach(request(gpu: true), to: original, source: "g").bytes, source: "gpu")
        let vendor = GuestRequest.Override(
            device: nvidia, property: "x-pci-sub-vendor-id", value: .init(parsing: "0x1025"))
        let change = try host.attach(request([vendor]), to: withGPU, source: "g")
        let merged = text(change.bytes)
        #expect(try DomainFile.schemaProblem(change.bytes, source: "override") == nil)
        #expect(merged.contains("<alias name='ua-vfioctl-0000-01-00-0'/>"))
        #expect(merged.contains("<qemu:device alias='ua-vfioctl-0000-01-00-0'>"))
        #expect(merged.contains("<qemu:property name='x-pci-sub-vendor-id' type='unsigned' value='4133'/>"))
        #expect(merged.contains("xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"))
        let document = try XMLDocument(bytes: change.bytes, source: "override")

        // Another value replaces the property; attaching it again changes nothing.
        let other = GuestRequest.Override(device: nvidia, property: "x-pci-sub-vendor-id", value: .unsigned(0x1043))
        let changed = try host.attach(request([other]), to: document, source: "g")
        #expect(text(changed.bytes).contains("value='4163'"))
        #expect(!text(changed.bytes).contains("value='4133'"))
        let changedDocument = try XMLDocument(bytes: changed.bytes, source: "changed")
        #expect(try host.attach(request([other]), to: changedDocument, source: "g").bytes == changed.bytes)

        // detach --override ADDRESS: back to the domain with the GPU only.
        let dropped = try host.detach(request([.init(device: nvidia)]), from: changedDocument, source: "g")
        #expect(text(dropped.bytes) == text(withGPU.bytes))
        // detach --gpu takes the card's overrides along: back to the original.
        let gone = try host.detach(request(gpu: true), from: changedDocument, source: "g")
        #expect(text(gone.bytes) == text(original.bytes))
    }

    @Test("the domain's own <qemu:override> and user alias are used and kept; detach leaves them as they were")
    func userOverride() throws {
        let fake = try FakeHost.guestHost()
        let original = """
            <domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <name>g</name>
              <memory unit='KiB'>4194304</memory>
              <os><type arch='x86_64' machine='q35'>hvm</type></os>
              <devices>
                <hostdev mode='subsystem' type='pci' managed='yes'>
                  <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
                  <alias name='ua-mine'/>
                </hostdev>
                <interface type='network'><source network='default'/><alias name='ua-net'/></interface>
              </devices>
              <qemu:override>
                <qemu:device alias='ua-net'>
                  <qemu:frontend>
                    <qemu:property name='mac' type='string' value='52:54:00:11:22:33'/>
                  </qemu:frontend>
                </qemu:device>
              </qemu:override>
            </domain>

            """
        let document = try XMLDocument(bytes: Array(original.utf8), source: "g")
        let property = GuestRequest.Override(device: nvidia, property: "x-vga", value: .bool(false))
        let change = try fake.host.attach(request([property]), to: document, source: "g")
        let merged = text(change.bytes)
        #expect(try DomainFile.schemaProblem(change.bytes, source: "g") == nil)
        #expect(merged.contains("<qemu:device alias='ua-mine'>"))
        #expect(!merged.contains("ua-vfioctl-0000-01-00-0"))
        #expect(merged.contains("<qemu:property name='x-vga' type='bool' value='false'/>"))
        let detached = try fake.host.detach(
            request([.init(device: nvidia)]), from: try XMLDocument(bytes: change.bytes, source: "m"), source: "g")
        #expect(text(detached.bytes) == original)
    }

    @Test("bad overrides: a device the domain does not pass, a laptop GPU without subsystem IDs, no property")
    func refusals() throws {
        let fake = try FakeHost.guestHost()
        let original = try DomainFixtures.document("minimal")
        let property = GuestRequest.Override(device: nvidia, property: "x-vga", value: .bool(false))
        #expect {
            try fake.host.attach(request([property]), to: original, source: "minimal")
        } throws: { error in
            (error as? DevicesError)?.message.contains("the domain does not pass 0000:01:00.0") == true
        }
        var navi = GuestRequest()
        navi.gpus = [.gpu(4)]
        navi.laptopGPUs = [.gpu(4)]
        #expect {
            try fake.host.attach(navi, to: original, source: "minimal")
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix("0000:03:00.0 reports no subsystem IDs") == true
        }
        #expect(throws: DevicesError.self) {
            try fake.host.attach(request([.init(device: nvidia)], gpu: true), to: original, source: "minimal")
        }
    }

    @Test("values: on/off and true/false are bool, decimal and 0x are unsigned, the rest is text")
    func values() {
        typealias Value = GuestRequest.Override.Value
        #expect(Value(parsing: "on") == .bool(true))
        #expect(Value(parsing: "False") == .bool(false))
        #expect(Value(parsing: "0x10de") == .unsigned(0x10de))
        #expect(Value(parsing: "42") == .unsigned(42))
        #expect(Value(parsing: "-1") == .string("-1"))
        #expect(Value(parsing: "/usr/share/vgabios/x.rom") == .string("/usr/share/vgabios/x.rom"))
        #expect(Value(parsing: "0x10de").text == "4318")
        #expect(LibvirtVersion(number: 9_000_000) >= LibvirtVersion.qemuOverride)
        #expect(LibvirtVersion(number: 8_001_000) < LibvirtVersion.qemuOverride)
        #expect(LibvirtVersion(number: 8_002_001).description == "8.2.1")
    }
}
