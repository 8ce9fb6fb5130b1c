import TestSupport
import Testing

@testable import Devices

@Suite struct GPUTests {
    @Test("finds every display-class device with its vendor")
    func vendors() throws {
        let report = try FakeHost.workstation().report()
        #expect(
            report.gpus.map(\.address.description) == ["0000:00:02.0", "0000:01:00.0", "0000:02:00.0", "0000:03:00.0"])
        #expect(report.gpus.map(\.vendor) == ["intel", "nvidia", "amd", "amd"])
    }

    @Test("companion functions are found by slot, with their roles")
    func companions() throws {
        let report = try FakeHost.workstation().report()
        let nvidia = try #require(report.gpus.first { $0.vendor == "nvidia" })
        #expect(
            nvidia.functions.map(\.description) == ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"])
        #expect(nvidia.companions.map(\.role) == ["audio", "usb", "ucsi"])
        #expect(nvidia.status.rawValue == "needs binding")
        #expect(nvidia.reasons.contains { $0.hasPrefix("bind 4 functions to vfio-pci") })
        #expect(!nvidia.isIntegrated)
    }

    @Test("the boot iGPU is flagged as boot GPU and integrated")
    func bootGPU() throws {
        let report = try FakeHost.workstation().report()
        let igpu = try #require(report.gpus.first { $0.vendor == "intel" })
        #expect(igpu.isBootVGA)
        #expect(igpu.isIntegrated)
        #expect(igpu.status.rawValue == "boot GPU")
        #expect(igpu.reasons.first?.contains("single-GPU") == true)
    }

    @Test("a card whose functions are all on vfio-pci is ready, with its reset-bug advice")
    func ready() throws {
        let report = try FakeHost.workstation().report()
        let polaris = try #require(report.gpus.first { $0.address.description == "0000:02:00.0" })
        #expect(polaris.status.rawValue == "ready")
        #expect(polaris.reasons.isEmpty)
        #expect(polaris.reset.contains { $0.contains("AMD reset bug (Polaris 10") })
        #expect(polaris.reset.contains { $0.contains("PM reset is not trusted") })
    }

    @Test("a card in the chipset's group is blocked; a new AMD card is not guessed into the reset table")
    func blocked() throws {
        let report = try FakeHost.workstation().report()
        let navi = try #require(report.gpus.first { $0.address.description == "0000:03:00.0" })
        #expect(navi.status.rawValue == "blocked")
        #expect(navi.reasons.first?.contains("shares a group with the chipset") == true)
        #expect(
            navi.reset.contains("not in the vendor-reset table: no known reset fix applies if it fails to come back"))
    }

    @Test("with the IOMMU off every GPU is blocked")
    func iommuOff() throws {
        let fake = try FakeHost()
        try fake.add(
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000, driver: "nouveau"))
        let gpu = try #require(try fake.report().gpus.first)
        #expect(gpu.status.rawValue == "blocked")
        #expect(gpu.iommuGroup == nil)
        #expect(gpu.reasons == ["the IOMMU is off: see the IOMMU advice"])
    }

    @Test("3D and other display controllers count as GPUs; an RCiEP is integrated")
    func classes() throws {
        let fake = try FakeHost()
        try fake.add([
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030200, group: 1),
            FakePCIDevice("0000:00:08.0", vendor: 0x1002, device: 0x1638, classCode: 0x038000, group: 2) {
                $0.pcieType = 9
            },
        ])
        let gpus = try fake.report().gpus
        #expect(gpus.count == 2)
        #expect(gpus.first { $0.vendor == "amd" }?.isIntegrated == true)
        #expect(gpus.first { $0.vendor == "nvidia" }?.status == .needsBinding)
    }

    @Test("the vendor-reset table has its 67 IDs in nine families, each once")
    func vendorResetTable() {
        let ids = ResetQuirks.vendorResetFamilies.flatMap(\.deviceIDs)
        #expect(ids.count == 67)
        #expect(Set(ids).count == 67)
        #expect(ResetQuirks.vendorResetFamilies.count == 9)
        #expect(ResetQuirks.vendorResetFamily(vendor: 0x1002, device: 0x731F)?.name == "Navi 10")
        #expect(ResetQuirks.vendorResetFamily(vendor: 0x1002, device: 0x73BF) == nil)
        #expect(ResetQuirks.vendorResetFamily(vendor: 0x10de, device: 0x67DF) == nil)
        #expect(ResetQuirks.hasNoFLRQuirk(vendor: 0x1022, device: 0x1487))
    }
}
