import Foundation
import TestSupport
import Testing

@testable import Devices

/// A host with an SR-IOV network card (PF and two VFs), the workstation's iGPU with GVT-g types and one mdev, and an
/// NVIDIA card with classic vGPU types.
func sharingHost() throws -> FakeHost {
    let fake = try FakeHost.workstation()
    try fake.addMdevTypes("0000:00:02.0", FakeMdevType.gvtg)
    try fake.addMdev("4b20d080-1b54-4048-85b3-a6a62d165c01", parent: "0000:00:02.0", type: "i915-GVTg_V5_4", group: 40)
    try fake.addMdevTypes("0000:01:00.0", FakeMdevType.nvidia)
    return fake
}

@Suite struct SharingTests {
    @Test("GVT-g types: no name file, the description's lines joined, instances and the mdev with its group")
    func gvtg() throws {
        let fake = try sharingHost()
        let report = try fake.report()
        let igpu = try report.device("0000:00:02.0")
        let sharing = try #require(igpu.sharing)
        #expect(sharing.sriov == nil)
        #expect(sharing.mdevTypes.map(\.id) == ["i915-GVTg_V5_4", "i915-GVTg_V5_8"])
        let v4 = sharing.mdevTypes[0]
        #expect(v4.name == nil)
        #expect(v4.description == "low_gm_size: 128MB; high_gm_size: 512MB; fence: 4; resolution: 1920x1200; weight: 4")
        #expect(v4.availableInstances == 1)
        #expect(v4.deviceAPI == "vfio-pci")
        #expect(v4.instances == ["4b20d080-1b54-4048-85b3-a6a62d165c01"])
        #expect(
            sharing.mediatedDevices == [
                MediatedDevice(
                    uuid: "4b20d080-1b54-4048-85b3-a6a62d165c01", parent: igpu.address, type: "i915-GVTg_V5_4",
                    iommuGroup: 40, guest: nil)
            ])
        // The mdev's group is judged viable: vfio owns it through the mdev bus.
        #expect(report.group(40)?.viable == true)
        #expect(report.group(40)?.blockers.isEmpty == true)
        let gpu = try #require(report.gpus.first { $0.address == igpu.address })
        #expect(gpu.shareable == GPU.Shareable(virtualFunctions: 0, mdevInstances: 4, vgpuTypes: 0))
    }

    @Test("NVIDIA classic vGPU types carry a name; a type with no room left still counts its instances (none)")
    func nvidiaMdev() throws {
        let report = try sharingHost().report()
        let card = try report.device("0000:01:00.0")
        let types = try #require(card.sharing?.mdevTypes)
        #expect(types.map(\.id) == ["nvidia-222", "nvidia-259"])
        #expect(types.map(\.name) == ["GRID T4-1B", "GRID T4-2Q"])
        #expect(types.map(\.availableInstances) == [0, 8])
        let gpu = try #require(report.gpus.first { $0.address == card.address })
        #expect(gpu.shareable?.mdevInstances == 8)
        // A GPU without any of it has no sharing at all.
        let amd = try #require(report.gpus.first { $0.address.description == "0000:02:00.0" })
        #expect(amd.shareable == nil)
        #expect(try report.device("0000:02:00.0").sharing == nil)
    }

    @Test("a running guest whose live definition names the mdev is reported as its user")
    func mdevGuest() throws {
        let fake = try sharingHost()
        try fake.addRunningGuest(
            "win11", pid: 4242,
            xml: "<domain><devices><hostdev mode='subsystem' type='mdev'><source>"
                + "<address uuid='4B20D080-1B54-4048-85B3-A6A62D165C01'/></source></hostdev></devices></domain>")
        // A guest whose process is gone does not count.
        try fake.write("/run/libvirt/qemu/stale.xml", "<domain>4b20d080-1b54-4048-85b3-a6a62d165c01</domain>")
        try fake.write("/run/libvirt/qemu/stale.pid", "999999\n")
        let report = try fake.report()
        let mdev = try #require(try report.device("0000:00:02.0").sharing?.mediatedDevices.first)
        #expect(mdev.guest == "win11")
    }

    @Test("SR-IOV: a PF's totals, autoprobe, VF device ID and VFs with their groups and drivers; a VF names its PF")
    func sriov() throws {
        let fake = try FakeHost.workstation()
        try fake.add(
            FakePCIDevice("0000:05:00.0", vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: "igb", group: 30)
        )
        try fake.addSRIOV("0000:05:00.0", totalVFs: 7, vfDevice: 0x10ca, autoprobe: false)
        try fake.write(fake.deviceDirectory("0000:05:00.0") + "/sriov_numvfs", "2\n")
        for (index, (address, group, driver)) in [("0000:05:10.0", 31, "igbvf"), ("0000:05:10.2", 32, nil)]
            .enumerated()
        {
            try fake.add(
                FakePCIDevice(
                    address, vendor: 0x8086, device: 0x10ca, classCode: 0x020000, driver: driver, group: group))
            try fake.link(fake.deviceDirectory("0000:05:00.0") + "/virtfn\(index)", to: fake.deviceDirectory(address))
            try fake.link(fake.deviceDirectory(address) + "/physfn", to: fake.deviceDirectory("0000:05:00.0"))
        }
        let report = try fake.report()
        let pf = try #require(try report.device("0000:05:00.0").sharing?.sriov)
        #expect(pf.totalVFs == 7)
        #expect(pf.numVFs == 2)
        #expect(pf.driversAutoprobe == false)
        #expect(pf.vfDeviceID == "10ca")
        #expect(pf.virtualFunctions.map(\.address.description) == ["0000:05:10.0", "0000:05:10.2"])
        #expect(pf.virtualFunctions.map(\.iommuGroup) == [31, 32])
        #expect(pf.virtualFunctions.map(\.driver) == ["igbvf", nil])
        let vf = try report.device("0000:05:10.2")
        #expect(vf.sharing?.physicalFunction?.description == "0000:05:00.0")
        #expect(vf.sharing?.sriov == nil)
    }

    @Test("NVIDIA vGPU on a VF (Linux 6.8+): creatable types parsed from the driver's table; 0 means no type")
    func nvidiaVF() throws {
        let fake = try FakeHost.workstation()
        try fake.add(
            FakePCIDevice(
                "0000:06:00.0", vendor: 0x10de, device: 0x2235, classCode: 0x030200, driver: "nvidia", group: 50))
        try fake.addSRIOV("0000:06:00.0", totalVFs: 32, vfDevice: 0x2235, offset: 4)
        try fake.write(fake.deviceDirectory("0000:06:00.0") + "/sriov_numvfs", "1\n")
        try fake.add(
            FakePCIDevice(
                "0000:06:00.4", vendor: 0x10de, device: 0x2235, classCode: 0x030200, driver: "nvidia", group: 51))
        try fake.link(fake.deviceDirectory("0000:06:00.0") + "/virtfn0", to: fake.deviceDirectory("0000:06:00.4"))
        try fake.link(fake.deviceDirectory("0000:06:00.4") + "/physfn", to: fake.deviceDirectory("0000:06:00.0"))
        try fake.addNVIDIAVGPU("0000:06:00.4", creatable: [(557, "NVIDIA A40-1Q"), (558, "NVIDIA A40-2Q")], current: 0)
        var report = try fake.report()
        let vgpu = try #require(try report.device("0000:06:00.4").sharing?.vgpu)
        #expect(vgpu.creatableTypes == [.init(id: 557, name: "NVIDIA A40-1Q"), .init(id: 558, name: "NVIDIA A40-2Q")])
        #expect(vgpu.currentType == nil)
        let gpu = try #require(report.gpus.first { $0.address.description == "0000:06:00.0" })
        #expect(gpu.shareable == GPU.Shareable(virtualFunctions: 32, mdevInstances: 0, vgpuTypes: 2))
        try fake.write(fake.deviceDirectory("0000:06:00.4") + "/nvidia/current_vgpu_type", "558\n")
        report = try fake.report()
        #expect(try report.device("0000:06:00.4").sharing?.vgpu?.currentType == 558)
    }

    @Test("Intel iGPU: i915's GuC and max_vfs as in effect decide whether SR-IOV is set up; xe needs nothing")
    func intelAdvice() throws {
        let fake = try FakeHost.workstation()
        var igpu = try #require(try fake.report().gpus.first { $0.vendor == "intel" }.flatMap(\.intel))
        #expect(igpu.driver == .i915)
        #expect(igpu.enableGuC == nil)
        #expect(!igpu.sriovReady)
        #expect(igpu.isAtIGDAddress)
        try fake.write("/sys/module/i915/parameters/enable_guc", "3\n")
        try fake.write("/sys/module/i915/parameters/max_vfs", "0\n")
        try fake.write("/sys/module/i915/parameters/enable_gvt", "N\n")
        igpu = try #require(try fake.report().gpus.first { $0.vendor == "intel" }.flatMap(\.intel))
        #expect(igpu.enableGuC == 3 && igpu.maxVFs == 0 && igpu.enableGVT == false)
        #expect(!igpu.sriovReady)
        try fake.write("/sys/module/i915/parameters/max_vfs", "7\n")
        igpu = try #require(try fake.report().gpus.first { $0.vendor == "intel" }.flatMap(\.intel))
        #expect(igpu.sriovReady)
        // Not Intel, not integrated: nothing.
        #expect(try fake.report().gpus.filter { $0.intel != nil }.count == 1)
    }

    @Test("NVIDIA's table parser skips the header and malformed lines")
    func vgpuParser() {
        #expect(
            NVIDIAVGPU.parse("ID    : vGPU Name\n557   : NVIDIA A40-1Q\ngarbage\n12 :\n 9 : L4-1B \n")
                == [.init(id: 557, name: "NVIDIA A40-1Q"), .init(id: 9, name: "L4-1B")])
        #expect(MdevUUID.isValid("4b20d080-1b54-4048-85b3-a6a62d165c01"))
        #expect(!MdevUUID.isValid("4b20d080-1b54-4048-85b3-a6a62d165c0"))
        #expect(!MdevUUID.isValid("4b20d080-1b54-4048-85b3-a6a62d165c0g"))
    }
}
