import TestSupport
import Testing

@testable import Devices

@Suite struct BadInputTests {
    @Test("a missing sysroot is one clear error")
    func missingSysroot() {
        let host = Host(sysroot: Sysroot("/nonexistent/vfioctl-tree"))
        let error = #expect(throws: DevicesError.self) { try host.report() }
        #expect(error?.code == .notFound)
        #expect(error?.object == .sysroot("/nonexistent/vfioctl-tree"))
        #expect(
            error?.message == "sysroot /nonexistent/vfioctl-tree does not exist"
        )
    }

    @Test("a sysroot that is a file is refused")
    func fileSysroot() throws {
        let fake = try FakeHost()
        let host = Host(sysroot: Sysroot(.init(fake.pciIDs)))
        let error = withExtendedLifetime(fake) { #expect(throws: DevicesError.self) { try host.report() } }
        #expect(error?.code == .invalidArgument)
    }

    @Test("a tree without /sys/bus/pci/devices says sysfs is missing")
    func noSysfs() throws {
        let fake = try FakeHost()
        try fake.remove("/sys/bus/pci/devices")
        let error = #expect(throws: DevicesError.self) { try fake.report() }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("sys/bus/pci/devices") == true)
        #expect(error?.object == .sysroot(fake.root))
        #expect(error?.message.contains("--") == false)
    }

    @Test(
        "garbage in an identity file skips the device with a warning naming the path",
        arguments: ["vendor", "device", "class"])
    func garbage(file: String) throws {
        let fake = try FakeHost()
        try fake.add([
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000),
            FakePCIDevice("0000:02:00.0", vendor: 0x1002, device: 0x67df, classCode: 0x030000),
        ])
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/\(file)", "0xnothex\n")
        let report = try fake.report()
        #expect(report.devices.map(\.address.description) == ["0000:02:00.0"])
        #expect(report.warnings.count == 1)
        #expect(report.warnings[0].contains("0000:01:00.0/\(file)"))
        #expect(report.warnings[0].contains("0xnothex"))
    }

    @Test("an out-of-range class is garbage too")
    func wideClass() throws {
        let fake = try FakeHost()
        try fake.add(FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000))
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/class", "0x12345678\n")
        let report = try fake.report()
        #expect(report.devices.isEmpty)
        #expect(report.warnings.count == 1)
    }

    @Test("a dangling device link (a device removed mid-scan) is a warning, not a crash")
    func danglingLink() throws {
        let fake = try FakeHost()
        try fake.add([
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000),
            FakePCIDevice("0000:02:00.0", vendor: 0x1002, device: 0x67df, classCode: 0x030000),
        ])
        try fake.remove("/sys/devices/pci0000:00/0000:01:00.0")
        let report = try fake.report()
        #expect(report.devices.map(\.address.description) == ["0000:02:00.0"])
        #expect(
            report.warnings == [
                "skipping 0000:01:00.0: \(fake.path("/sys/bus/pci/devices/0000:01:00.0")) is a dangling link (the device disappeared during the scan)"
            ])
    }

    @Test("a missing vendor file skips the device and names the path")
    func missingFile() throws {
        let fake = try FakeHost()
        try fake.add(FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000))
        try fake.remove("/sys/devices/pci0000:00/0000:01:00.0/vendor")
        let report = try fake.report()
        #expect(report.devices.isEmpty)
        #expect(report.warnings.first?.contains("0000:01:00.0/vendor is missing") == true)
    }

    @Test("missing config space keeps the device, with a warning naming the config file")
    func missingConfig() throws {
        let fake = try FakeHost()
        try fake.add(
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000, driver: "nvidia"))
        try fake.remove("/sys/devices/pci0000:00/0000:01:00.0/config")
        let report = try fake.report()
        let device = try #require(report.devices.first)
        #expect(device.driver == "nvidia")
        #expect(!device.isConfigComplete)
        #expect(report.warnings.count == 1)
        #expect(report.warnings[0].contains("0000:01:00.0/config"))
    }

    @Test("truncated config space (only the 64-byte header) leaves capabilities unknown, not wrong")
    func truncatedConfig() throws {
        let fake = try FakeHost()
        try fake.add(
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000) {
                $0.pcieType = 0
                $0.supportsFLR = true
            })
        let full = ConfigSpaceBuilder(vendor: 0x10de, device: 0x1f08, classCode: 0x030000)
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/config", Array(full.bytes().prefix(64)))
        let device = try #require(try fake.report().devices.first)
        #expect(!device.isConfigComplete)
        #expect(!device.supportsFLR)
    }

    @Test("entries that are not PCI addresses are ignored with a warning")
    func strayEntry() throws {
        let fake = try FakeHost()
        try fake.write("/sys/bus/pci/devices/README", "x")
        let report = try fake.report()
        #expect(report.devices.isEmpty)
        #expect(report.warnings.first?.contains("not a PCI address") == true)
    }

    @Test("a garbage iommu_group link or numa_node does not break the device")
    func garbageOptional() throws {
        let fake = try FakeHost()
        try fake.add(FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000))
        try fake.link("/sys/devices/pci0000:00/0000:01:00.0/iommu_group", to: "/sys/kernel/iommu_groups/abc")
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/numa_node", "banana\n")
        let report = try fake.report()
        let device = try #require(report.devices.first)
        #expect(device.iommuGroup == nil)
        #expect(device.numaNode == nil)
        #expect(report.warnings.count == 1)
        #expect(report.warnings[0].contains("iommu_group"))
    }

    @Test("an empty host still answers")
    func empty() throws {
        let report = try FakeHost().report()
        #expect(report.devices.isEmpty)
        #expect(report.gpus.isEmpty)
        #expect(!report.iommu.enabled)
    }

    @Test("errno values map to codes and hints")
    func errnoMapping() {
        #expect(DevicesError.code(for: .permissionDenied) == .permissionDenied)
        #expect(
            DevicesError.read("/sys/x", .permissionDenied).message
                == "cannot read /sys/x: permission denied (run as root)")
        #expect(DevicesError.code(for: .noSuchFileOrDirectory) == .notFound)
        #expect(DevicesError.code(for: .ioError) == .io)
    }
}
