import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct GVTDTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("an Intel iGPU passed whole sits at guest 00:02.0 on the root bus; libvirt's schema and test driver take it")
    func igdAddress() throws {
        let fake = try FakeHost.workstation()
        var request = GuestRequest()
        request.gpus = [try #require(BindTarget("0000:00:02.0"))]
        let original = try DomainFixtures.document("minimal")
        let change = try fake.host.attach(request, to: original, source: "minimal")
        let xml = text(change.bytes)
        #expect(xml.contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>"), "\(xml)")
        #expect(!xml.contains("pcie-root-port"), "no root port is made for the IGD")
        #expect(change.notes.contains { $0.contains("GVT-d") && $0.contains("x-igd-opregion=on") })
        // QEMU maps the OpRegion only with x-igd-opregion=on: set on the IGD's hostdev through <qemu:override>.
        #expect(xml.contains("<qemu:property name='x-igd-opregion' type='bool' value='true'/>"), "\(xml)")
        #expect(try DomainFile.schemaProblem(change.bytes, source: "minimal") == nil)
        let merged = try XMLDocument(bytes: change.bytes, source: "minimal")
        #expect(text(try fake.host.detach(request, from: merged, source: "minimal").bytes) == text(original.bytes))
        // libvirt's test driver keeps it at 00:02.0.
        let connection = try LibvirtConnection(uri: "test:///default")
        let named = xml.replacing("<name>minimal</name>", with: "<name>gvtd-igd</name>")
        try connection.define(Array(named.utf8), name: "gvtd-igd")
        #expect(
            text(try connection.inactiveXML(of: "gvtd-igd")).contains(
                "<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>"))
        // A discrete GPU still gets its own root port.
        var card = GuestRequest()
        card.gpus = [try #require(BindTarget("0000:01:00.0"))]
        #expect(text(try fake.host.attach(card, to: original, source: "minimal").bytes).contains("pcie-root-port"))
    }

    @Test("a domain with something at guest 00:02.0 is refused, naming the address")
    func igdSlotTaken() throws {
        let fake = try FakeHost.workstation()
        var request = GuestRequest()
        request.gpus = [try #require(BindTarget("0000:00:02.0"))]
        let domain = """
            <domain type='kvm'>
              <name>busy</name>
              <memory>4194304</memory>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
              </os>
              <devices>
                <controller type='pci' index='1' model='pcie-root-port'>
                  <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>
                </controller>
              </devices>
            </domain>

            """
        let document = try XMLDocument(bytes: Array(domain.utf8), source: "busy")
        #expect {
            _ = try fake.host.attach(request, to: document, source: "busy")
        } throws: { error in
            (error as? DevicesError)?.message
                == "busy already uses guest address 0000:00:02.0: an Intel iGPU passed whole (GVT-d) must sit at "
                + "00:02.0; move that device to another slot first"
        }
    }

    @Test("a VF passes with --hostdev like any function, valid for libvirt")
    func vfHostdev() throws {
        let fake = try FakeHost.workstation()
        try fake.add(
            FakePCIDevice(
                "0000:05:00.0", vendor: 0x1b36, device: 0x0010, classCode: 0x010802, driver: "nvme", group: 30))
        try fake.addSRIOV("0000:05:00.0", totalVFs: 2, vfDevice: 0x0010)
        let kernel = try FakeKernel(host: fake)
        _ = try fake.host.setVirtualFunctions(
            PCIAddress(bus: 5, device: 0, function: 0), count: 1, autoprobe: false, io: kernel)
        var request = GuestRequest()
        request.hostdevs = [try #require(BindTarget("0000:05:00.1"))]
        let change = try fake.host.attach(request, to: try DomainFixtures.document("minimal"), source: "minimal")
        #expect(text(change.bytes).contains("<address domain='0x0000' bus='0x05' slot='0x00' function='0x1'/>"))
        #expect(try DomainFile.schemaProblem(change.bytes, source: "minimal") == nil)
    }
}
