import Foundation
import TestSupport
import Testing

@Suite struct MdevLibvirtCommandTests {
    let uuid = "4b20d080-1b54-4048-85b3-a6a62d165c01"

    private func host() throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.addMdevTypes("0000:00:02.0", FakeMdevType.gvtg)
        return fake
    }

    @Test("mdev create/remove --connect go through libvirt's node-device API; the test driver's refusal is one line")
    func throughLibvirt() throws {
        let fake = try host()
        let before = try fake.snapshot()
        let create = try vfioctl(["mdev", "create", "0000:00:02.0", "i915-GVTg_V5_4", "--connect", "test:///default"])
        #expect(create.status == 69, "\(create.stderr)")
        #expect(create.stderr.hasPrefix("vfioctl: libvirt at test:///default, node device mdev_"), "\(create.stderr)")
        #expect(create.stderr.split(separator: "\n").count == 1)
        #expect(
            create.stderr.contains("libvirt refused the definition, nothing changed: this function is not supported"))
        let persist = try vfioctl(
            [
                "mdev", "create", "0000:00:02.0", "i915-GVTg_V5_4", "--uuid", uuid, "--persist", "--json", "-c",
                "test:///default",
            ])
        #expect(persist.status == 69)
        let error =
            try #require(
                try JSONSerialization.jsonObject(with: Data(persist.stdout.utf8)) as? [String: Any])["error"]
            as? [String: Any]
        #expect(error?["code"] as? String == "unavailable")
        #expect(
            (error?["message"] as? String)?.hasPrefix(
                "libvirt at test:///default, node device mdev_4b20d080_1b54_4048_85b3_a6a62d165c01_0000_00_02_0: ")
                == true)
        let remove = try vfioctl(["mdev", "remove", uuid, "--connect", "test:///default"])
        #expect(remove.status == 66)
        #expect(
            remove.stderr
                == "vfioctl: libvirt at test:///default knows no mediated device \(uuid) (`virsh nodedev-list --cap "
                + "mdev --all` lists the ones libvirt knows)\n")
        let target = try vfioctl(["mdev", "create", "gpu:0", "i915-GVTg_V5_4", "--connect", "test:///default"])
        #expect(target.status == 64)
        #expect(target.stderr.contains("with --connect name the parent by its PCI address"))
        let local = try vfioctl(
            ["mdev", "create", "00:02.0", "i915-GVTg_V5_4", "--persist", "--sysroot", fake.root])
        #expect(local.status == 64)
        #expect(
            local.stderr.contains(
                "--persist needs --connect URI: a mediated device outlives a reboot only as libvirt's"))
        #expect(try fake.snapshot() == before)
    }
}
