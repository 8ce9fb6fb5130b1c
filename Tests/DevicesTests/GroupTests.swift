import TestSupport
import Testing

@testable import Devices

@Suite struct GroupTests {
    @Test("a group of host-driver endpoints is not viable and names each blocker with its driver")
    func endpointsBlock() throws {
        let report = try FakeHost.workstation().report()
        let group = try #require(report.group(2))
        #expect(!group.viable)
        #expect(group.blockers.map(\.address) == ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"])
        #expect(group.blockers.map(\.driver) == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(group.advice == ["bind 4 functions to vfio-pci: 0000:01:00.0 0000:01:00.1 0000:01:00.2 0000:01:00.3"])
        #expect(group.slots == ["0000:01:00"])
    }

    @Test("driverless devices, vfio-pci and a pcieport bridge are viable")
    func viable() throws {
        let report = try FakeHost.workstation().report()
        #expect(report.group(0)?.viable == true)  // driverless host bridge
        #expect(report.group(1)?.viable == true)  // pcieport
        #expect(report.group(4)?.viable == true)  // vfio-pci
        #expect(report.group(4)?.blockers.isEmpty == true)
    }

    @Test("a group shared with the chipset says to move the card")
    func chipset() throws {
        let report = try FakeHost.workstation().report()
        let group = try #require(report.group(5))
        #expect(!group.viable)
        #expect(group.blockers.count == 3)
        #expect(group.advice.first?.contains("shares its slot with the chipset") == true)
        #expect(group.advice.first?.contains("0000:00:1f.0 (ISA bridge)") == true)
    }

    /// A pcie-pci-bridge on shpchp with a device behind it, as QEMU builds it.
    private func bridgeHost(kernel: String) throws -> FakeHost {
        let fake = try FakeHost()
        try fake.write("/proc/sys/kernel/osrelease", kernel + "\n")
        try fake.add([
            FakePCIDevice(
                "0000:05:00.0", vendor: 0x1b36, device: 0x000e, classCode: 0x060400, driver: "shpchp", group: 9
            ) {
                $0.headerType = 1
                $0.pcieType = 7
            },
            FakePCIDevice("0000:06:01.0", vendor: 0x8086, device: 0x10d3, classCode: 0x020000, group: 9),
        ])
        return fake
    }

    @Test("since Linux 5.19 a bridge on shpchp blocks its group (DMA ownership)")
    func modernBridge() throws {
        let report = try bridgeHost(kernel: "6.1.0-26-amd64").report()
        let group = try #require(report.group(9))
        #expect(report.viabilityRule == .dmaOwnership)
        #expect(!group.viable)
        #expect(group.blockers.map(\.address) == ["0000:05:00.0"])
        #expect(group.blockers.first?.driver == "shpchp")
        #expect(group.blockers.first?.reason.contains("bridge") == true)
        #expect(group.advice == ["unbind shpchp from bridge 0000:05:00.0"])
    }

    @Test("before Linux 5.19 any bridge was allowed")
    func legacyBridge() throws {
        let report = try bridgeHost(kernel: "5.15.0-91-generic").report()
        #expect(report.viabilityRule == .legacy)
        #expect(report.group(9)?.viable == true)
    }

    @Test(
        "drivers the kernel accepts in a vfio group",
        arguments: [
            ("vfio-pci", false, true), ("pci-stub", false, true), ("pcieport", true, true),
            ("mlx5_vfio_pci", false, true),
            ("nvidia", false, false), ("shpchp", true, false), ("pcieport", false, true),
        ])
    func modernRule(driver: String, isBridge: Bool, accepted: Bool) {
        #expect(ViabilityRule.dmaOwnership.accepts(driver: driver, isBridge: isBridge) == accepted)
        #expect(ViabilityRule.dmaOwnership.accepts(driver: nil, isBridge: isBridge))
    }

    @Test("an unreadable member blocks its group rather than being ignored")
    func unreadableMember() throws {
        let fake = try FakeHost()
        try fake.add(FakePCIDevice("0000:07:00.0", vendor: 0x1234, device: 0x1111, classCode: 0x030000, group: 3))
        try fake.write("/sys/devices/pci0000:00/0000:07:00.0/vendor", "garbage\n")
        let report = try fake.report()
        #expect(report.group(3)?.viable == false)
        #expect(report.group(3)?.blockers.first?.address == "0000:07:00.0")
    }
}
