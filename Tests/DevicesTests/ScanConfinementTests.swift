import Foundation
import Glibc
import SystemPackage
import TestSupport
import Testing

@testable import Devices

/// The scan reads each device's attributes relative to its folder: nothing it reads may leave the tree.
@Suite struct ScanConfinementTests {
    private let device = "/sys/devices/pci0000:00/0000:01:00.0"

    private func host() throws -> FakeHost {
        let fake = try FakeHost()
        try fake.add(FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000))
        return fake
    }

    @Test("an attribute that links out of the device's folder resolves inside the tree, never outside it")
    func linkOut() throws {
        let outside = try ScratchDirectory()
        try outside.write("numa_node", "7\n")
        try outside.write("driver_override", "stolen\n")
        let fake = try host()
        try? fake.remove(device + "/driver_override")
        try? fake.remove(device + "/numa_node")
        #expect(symlink(outside.file("driver_override"), fake.path(device + "/driver_override")) == 0)
        #expect(
            symlink("../../../../../../../../../" + outside.file("numa_node"), fake.path(device + "/numa_node")) == 0)
        let report = try fake.report()
        // Both links name files the tree does not have: nothing from outside shows up.
        let read = try #require(report.devices.first)
        #expect(read.driverOverride == nil && read.numaNode == nil)
        // The tree's own file at the absolute target is what is read.
        try fake.write(outside.file("driver_override"), "vfio-pci\n")
        #expect(try fake.report().devices.first?.driverOverride == "vfio-pci")
    }

    @Test("an attribute linking to a sibling inside the folder is read")
    func linkInside() throws {
        let fake = try host()
        try fake.write(device + "/numa_copy", "1\n")
        try? fake.remove(device + "/numa_node")
        #expect(symlink("numa_copy", fake.path(device + "/numa_node")) == 0)
        #expect(try fake.report().devices.first?.numaNode == 1)
    }

    @Test("a pipe or an oversized attribute is refused by name, and the scan goes on without waiting")
    func pipeAndSize() throws {
        let fake = try host()
        try? fake.remove(device + "/driver_override")
        #expect(mkfifo(fake.path(device + "/driver_override"), 0o644) == 0)
        let report = try fake.report()
        #expect(report.warnings.contains { $0.contains("driver_override is a pipe, not a sysfs attribute") })
        try fake.remove(device + "/driver_override")
        try fake.write(device + "/driver_override", [UInt8](repeating: 0x41, count: 70_000))
        let big = try fake.report()
        #expect(big.warnings.contains { $0.contains("driver_override is 70000 bytes, more than 64 KiB") })
    }

    @Test("every attribute of a folder is read relative to it, as the full-path read gives it")
    func sameAsFullPath() throws {
        let fake = try FakeHost.workstation()
        let files = fake.host.files
        let entry = files.path(HostPaths.pciDevices.appending("0000:01:00.0"))
        guard let folder = try files.openFolder(entry) else {
            Issue.record("cannot open \(entry)")
            return
        }
        for name in ["vendor", "device", "class", "config", "numa_node", "driver_override", "nothing"] {
            #expect(try folder.readAttribute(name) == files.read(entry.appending(name)), "\(name)")
        }
        #expect(folder.linkName("driver") == files.linkName(entry.appending("driver")))
        #expect(folder.linkName("iommu_group") == files.linkName(entry.appending("iommu_group")))
        #expect(folder.entryExists("config") && !folder.entryExists("nothing"))
        if let missing = try files.openFolder(files.path(HostPaths.pciDevices.appending("0000:7f:00.0"))) {
            Issue.record("opened a folder that does not exist: \(missing.path)")
        }
    }
}
