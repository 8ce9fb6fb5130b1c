import TestSupport
import Testing

@testable import Devices

@Suite struct ReportTests {
    @Test("reads every field of a device from sysfs, config space and pci.ids")
    func deviceFields() throws {
        let fake = try FakeHost.workstation()
        let report = try fake.report()
        let gpu = try report.device("01:00.0")
        #expect(gpu.vendorID == 0x10de)
        #expect(gpu.deviceID == 0x1f08)
        #expect(gpu.subsystemVendorID == 0x1462)
        #expect(gpu.subsystemDeviceID == 0x3752)
        #expect(gpu.class == "0x030000")
        #expect(gpu.className == "VGA compatible controller")
        #expect(gpu.revision == "a1")
        #expect(gpu.vendorName == "NVIDIA Corporation")
        #expect(gpu.deviceName == "TU106 [GeForce RTX 2060 Rev. A]")
        #expect(gpu.driver == "nvidia")
        #expect(gpu.driverOverride == nil)
        #expect(gpu.iommuGroup == 2)
        #expect(gpu.isBridge == false)
        #expect(gpu.headerType == 0)
        #expect(gpu.isMultifunction)
        #expect(gpu.isBootVGA == false)
        #expect(gpu.numaNode == 0)
        #expect(gpu.resetMethods == ["bus"])
        #expect(gpu.hasResetAttribute)
        #expect(gpu.supportsFLR == false)
        #expect(gpu.pmNoSoftReset == true)
        #expect(gpu.pcieType == "endpoint")
        #expect(gpu.hasROM == false)
        #expect(gpu.vendorResetFamily == nil)
        #expect(gpu.isConfigComplete)

        let audio = try report.device("01:00.1")
        #expect(audio.supportsFLR)
        #expect(audio.resetMethods == ["flr", "bus"])
        #expect(audio.className == "Audio device")
        #expect(audio.pmNoSoftReset == nil)

        let port = try report.device("00:01.0")
        #expect(port.isBridge)
        #expect(port.headerType == 1)
        #expect(port.pcieType == "root port")
        #expect(port.hasACS)
        #expect(port.acsControl == "0x001d")
        #expect(port.className == "PCI bridge")
        #expect(port.numaNode == nil)

        let igpu = try report.device("00:02.0")
        #expect(igpu.isBootVGA)
        #expect(igpu.supportsAFFLR)
        #expect(igpu.pmNoSoftReset == false)
        #expect(igpu.pcieType == nil)
        #expect(igpu.resetMethods.isEmpty)
        #expect(!igpu.hasResetAttribute)

        let polaris = try report.device("02:00.0")
        #expect(polaris.vendorResetFamily == "Polaris 10")
        #expect(polaris.hasROM)
        #expect(polaris.subsystemName == "Radeon RX 580 Pulse 4GB")
        #expect(report.warnings.isEmpty)
    }

    @Test("unknown IDs have no names rather than made-up ones")
    func unknownNames() throws {
        let fake = try FakeHost()
        try fake.add(FakePCIDevice("0000:05:00.0", vendor: 0xabcd, device: 0x1234, classCode: 0xff0000))
        let device = try #require(try fake.report().devices.first)
        #expect(device.vendorName == nil)
        #expect(device.deviceName == nil)
        #expect(device.className == nil)
    }

    @Test("lists every device sorted, and every group with its members")
    func devicesAndGroups() throws {
        let fake = try FakeHost.workstation()
        let report = try fake.report()
        #expect(report.devices.map(\.address.description) == report.devices.map(\.address).sorted().map(\.description))
        #expect(report.devices.count == 12)
        #expect(report.groups.map(\.id) == [0, 1, 2, 3, 4, 5])
        #expect(report.group(2)?.devices == ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"])
        #expect(report.iommu.enabled)
        #expect(report.iommu.groupCount == 6)
        #expect(report.kernelRelease == "6.1.0-26-amd64")
        #expect(report.viabilityRule == .dmaOwnership)
    }

    @Test("selectors find devices by address or IDs, and say so when nothing matches")
    func selection() throws {
        let report = try FakeHost.workstation().report()
        let byIDs = try #require(DeviceSelector("10de:1ada"))
        #expect(try report.devices(matching: byIDs).map(\.address.description) == ["0000:01:00.2"])
        let byAddress = try #require(DeviceSelector("02:00.1"))
        #expect(try report.devices(matching: byAddress).count == 1)
        let missing = try #require(DeviceSelector("10de:ffff"))
        let error = #expect(throws: DevicesError.self) { try report.devices(matching: missing) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("10de:ffff") == true)
    }
}
