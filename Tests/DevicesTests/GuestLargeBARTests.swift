import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct GuestLargeBARTests {
    /// The guest host with the NVIDIA card's BAR 1 at `size`, resizable from 256 MiB to 32 GiB.
    private func host(bar1 size: UInt64) throws -> FakeHost {
        let fake = try FakeHost.guestHost()
        let directory = "/sys/devices/pci0000:00/0000:01:00.0"
        let end = String(0x40_0000_0000 + size - 1, radix: 16)
        try fake.write(
            directory + "/resource",
            "0x00000000f6000000 0x00000000f6ffffff 0x0000000000040200\n"
                + "0x0000004000000000 0x\(end) 0x000000000014220c\n"
                + String(repeating: "0x0000000000000000 0x0000000000000000 0x0000000000000000\n", count: 11))
        try fake.write(directory + "/resource1_resize", "000000000000ff00\n")
        return fake
    }

    @Test(
        "a card with 32 GiB of BARs: attach --gpu sizes the window (maxphysaddr or pcihole64), detach undoes it",
        arguments: DomainFixtures.corpus)
    func window(_ name: String) throws {
        let fake = try host(bar1: 32 << 30)
        let original = try DomainFixtures.document(name)
        var request = GuestRequest()
        request.gpus = [.gpu(2)]
        let change = try fake.host.attach(request, to: original, source: name)
        let merged = String(decoding: change.bytes, as: UTF8.self).replacingOccurrences(of: "\"", with: "'")
        #expect(try DomainFile.schemaProblem(change.bytes, source: name) == nil)
        let passthrough = original.root.child("cpu")?.attribute("mode") == "host-passthrough"
        let hadMaxphysaddr = original.root.child("cpu")?.child("maxphysaddr") != nil
        if passthrough {
            #expect(merged.contains("<maxphysaddr mode='passthrough'/>") || hadMaxphysaddr, "\(name)")
            #expect(!merged.contains("pcihole64"), "\(name)")
        } else {
            #expect(merged.contains("<pcihole64 unit='KiB'>67108864</pcihole64>"), "\(name)")
        }
        #expect(change.notes.contains { $0.hasPrefix("0000:01:00.0's 64-bit BARs take 32 GiB") }, "\(name)")
        #expect(
            change.notes.contains {
                $0.contains("Resizable BAR on (BAR 1 is 32 GiB)")
                    && $0.hasSuffix("`echo 8 > /sys/bus/pci/devices/0000:01:00.0/resource1_resize`")
            })
        let document = try XMLDocument(bytes: change.bytes, source: name)
        #expect(try fake.host.attach(request, to: document, source: name).bytes == change.bytes)
        let detached = try fake.host.detach(request, from: document, source: name)
        #expect(
            String(decoding: detached.bytes, as: UTF8.self) == String(decoding: original.bytes, as: UTF8.self),
            "\(name):\n\(UnifiedDiff.make(old: original.bytes, new: detached.bytes, oldName: "original", newName: "detached"))"
        )
    }

    @Test("a card with 256 MiB of BARs: nothing added for them, no note")
    func small() throws {
        let fake = try host(bar1: 256 << 20)
        var request = GuestRequest()
        request.gpus = [.gpu(2)]
        let change = try fake.host.attach(request, to: try DomainFixtures.document("virt-manager"), source: "v")
        let merged = String(decoding: change.bytes, as: UTF8.self)
        #expect(!merged.contains("maxphysaddr") && !merged.contains("pcihole64"))
        #expect(!change.notes.contains { $0.contains("BAR") })
        let device = try #require(try fake.report().device(at: PCIAddress(bus: 1, device: 0, function: 0)))
        #expect(device.bars.map(\.index) == [0, 1])
        #expect(device.bars[1].is64Bit && device.bars[1].isPrefetchable && !device.bars[0].is64Bit)
        #expect(device.bars[1].resizable?.supportedSizes.count == 8)
    }
}
