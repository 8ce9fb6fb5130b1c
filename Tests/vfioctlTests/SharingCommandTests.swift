import Foundation
import TestSupport
import Testing

@Suite struct SharingCommandTests {
    func host() throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.addMdevTypes("0000:00:02.0", FakeMdevType.gvtg)
        try fake.addMdev(
            "4b20d080-1b54-4048-85b3-a6a62d165c01", parent: "0000:00:02.0", type: "i915-GVTg_V5_4", group: 40)
        try fake.add(
            FakePCIDevice("0000:05:00.0", vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: "igb", group: 30)
        )
        try fake.addSRIOV("0000:05:00.0", totalVFs: 7, vfDevice: 0x10ca)
        try fake.write(fake.deviceDirectory("0000:05:00.0") + "/sriov_numvfs", "1\n")
        try fake.add(
            FakePCIDevice(
                "0000:05:10.0", vendor: 0x8086, device: 0x10ca, classCode: 0x020000, driver: "vfio-pci", group: 31))
        try fake.link(fake.deviceDirectory("0000:05:00.0") + "/virtfn0", to: fake.deviceDirectory("0000:05:10.0"))
        try fake.link(fake.deviceDirectory("0000:05:10.0") + "/physfn", to: fake.deviceDirectory("0000:05:00.0"))
        return fake
    }

    @Test("list shows the PF with its VFs, the VF's PF, the mdev parent; the GPU verdict says it is shareable")
    func list() throws {
        let fake = try host()
        let result = try vfioctl(["list", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Sharing:"))
        #expect(result.stdout.contains("0000:05:00.0  SR-IOV PF    1/7 VFs: 0000:05:10.0 (group 31, vfio-pci)"))
        #expect(result.stdout.contains("0000:05:10.0  SR-IOV VF    of 0000:05:00.0"))
        #expect(result.stdout.contains("0000:00:02.0  mdev parent  types i915-GVTg_V5_4×1 i915-GVTg_V5_8×2; 1 mdev"))
        #expect(result.stdout.contains("  shareable: 4 mdev instances"))
        #expect(result.stdout.contains("  intel: SR-IOV (Gen 11+/Xe) needs i915.enable_guc=3 i915.max_vfs=N"))
        #expect(
            result.stdout.contains("  intel: whole-GPU passthrough (GVT-d): `attach --gpu` puts it at guest 00:02.0"))
        // A host without any of it prints no sharing section.
        let plain = try FakeHost.workstation()
        let before = try vfioctl(["list", "--sysroot", plain.root, "--pci-ids", plain.pciIDs])
        #expect(!before.stdout.contains("Sharing:"))
        #expect(!before.stdout.contains("shareable:"))
    }

    @Test("show and --json carry the SR-IOV, mdev type and mdev facts")
    func showAndJSON() throws {
        let fake = try host()
        let show = try vfioctl(["show", "00:02.0", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(show.status == 0)
        #expect(show.stdout.contains("mdev type     i915-GVTg_V5_8  available 2  api vfio-pci  low_gm_size: 64MB"))
        #expect(
            show.stdout.contains(
                "mdev          4b20d080-1b54-4048-85b3-a6a62d165c01  type i915-GVTg_V5_4  not used by a running guest"))
        let pfShow = try vfioctl(["show", "05:00.0", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(pfShow.stdout.contains("sriov         1 of 7 VFs, drivers_autoprobe on"))
        #expect(pfShow.stdout.contains("  VF 0000:05:10.0  group 31  vfio-pci"))
        let json = try vfioctl(["show", "05:00.0", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        let shown = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let devices = try #require(shown["devices"] as? [[String: Any]])
        let sriov = try #require((devices.first?["sharing"] as? [String: Any])?["sriov"] as? [String: Any])
        #expect(sriov["totalVFs"] as? Int == 7)
        #expect(sriov["numVFs"] as? Int == 1)
        let vfs = try #require(sriov["virtualFunctions"] as? [[String: Any]])
        #expect(vfs.first?["address"] as? String == "0000:05:10.0")
        #expect(vfs.first?["iommuGroup"] as? Int == 31)
        let list = try vfioctl(["list", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        let gpus = try #require(report["gpus"] as? [[String: Any]])
        let igpu = try #require(gpus.first { $0["address"] as? String == "0000:00:02.0" })
        #expect((igpu["shareable"] as? [String: Any])?["mdevInstances"] as? Int == 4)
        #expect((igpu["intel"] as? [String: Any])?["driver"] as? String == "i915")
        let devicesJSON = try #require(report["devices"] as? [[String: Any]])
        let plain = try #require(devicesJSON.first { $0["address"] as? String == "0000:00:00.0" })
        // A function that cannot be shared has no sharing facts: the key is absent (nil is left out of the JSON).
        #expect(!plain.keys.contains("sharing"))
    }
}

@Suite struct MdevCommandTests {
    @Test("mdev create and remove: bad input is one line with a usage status and nothing written")
    func badInput() throws {
        let fake = try FakeHost.workstation()
        try fake.addMdevTypes("0000:00:02.0", FakeMdevType.gvtg)
        let badUUID = try vfioctl([
            "mdev", "create", "00:02.0", "i915-GVTg_V5_4", "--uuid", "x", "--sysroot", fake.root,
        ])
        #expect(badUUID.status == 64)
        #expect(badUUID.stderr.contains("'x' is not a UUID"))
        let badType = try vfioctl(["mdev", "create", "00:02.0", "i915-GVTg_V5_1", "--sysroot", fake.root])
        #expect(badType.status == 66)
        #expect(
            badType.stderr
                == "vfioctl: 0000:00:02.0 offers no mdev type i915-GVTg_V5_1; it offers i915-GVTg_V5_4, i915-GVTg_V5_8\n"
        )
        let create = fake.path(fake.deviceDirectory("0000:00:02.0") + "/mdev_supported_types/i915-GVTg_V5_4/create")
        #expect(try String(contentsOfFile: create, encoding: .utf8) == "")
        let made = try vfioctl([
            "mdev", "create", "00:02.0", "i915-GVTg_V5_4", "--uuid", "4b20d080-1b54-4048-85b3-a6a62d165c01",
            "--sysroot", fake.root,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.hasPrefix("created 4b20d080-1b54-4048-85b3-a6a62d165c01 (i915-GVTg_V5_4) on 0000:00:02.0"))
        #expect(try String(contentsOfFile: create, encoding: .utf8) == "4b20d080-1b54-4048-85b3-a6a62d165c01")
        let missing = try vfioctl(["mdev", "remove", "4b20d080-1b54-4048-85b3-a6a62d165c02", "--sysroot", fake.root])
        #expect(missing.status == 66)
    }
}
