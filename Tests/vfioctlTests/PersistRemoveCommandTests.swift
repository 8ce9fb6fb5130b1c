import Foundation
import TestSupport
import Testing

@Suite struct PersistRemoveCommandTests {
    private func debian() throws -> FakeHost {
        let fake = try FakeHost.debianWorkstation()
        try fake.write("/etc/modprobe.d/nvidia.conf", "options nvidia-drm modeset=1\n")
        return fake
    }

    private func contents(_ fake: FakeHost, _ path: String) -> String? {
        try? String(contentsOfFile: fake.path(path), encoding: .utf8)
    }

    @Test("a second persist adds; --remove TARGET keeps the rest; --remove gives back the tree as it was")
    func addThenRemove() throws {
        let fake = try debian()
        let original = try fake.snapshot()
        let arguments = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        #expect(try vfioctl(["persist", "gpu:2"] + arguments).status == 0)
        let second = try vfioctl(["persist", "02:00.0"] + arguments)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("wrote /etc/modprobe.d/vfioctl.conf\n"))
        #expect(
            second.stdout.hasSuffix(
                "persisted: 0000:01:00.0 (ids), 0000:01:00.1 (ids), 0000:01:00.2 (ids), 0000:01:00.3 (ids), "
                    + "0000:02:00.0 (ids), 0000:02:00.1 (ids)\n"))
        #expect(contents(fake, "/etc/modprobe.d/vfioctl.conf")?.contains("ids=1002:67df,1002:aaf0,10de:10f9") == true)

        let one = try vfioctl(["persist", "--remove", "gpu:2"] + arguments)
        #expect(one.status == 0, "\(one.stderr)")
        #expect(one.stdout.hasSuffix("persisted: 0000:02:00.0 (ids), 0000:02:00.1 (ids)\n"))
        #expect(
            contents(fake, "/etc/modprobe.d/vfioctl.conf")?.contains("options vfio-pci ids=1002:67df,1002:aaf0\n")
                == true)

        let before = try fake.snapshot()
        let dryRun = try vfioctl(["persist", "--remove", "--dry-run"] + arguments)
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(dryRun.stdout.contains("--- remove /etc/modprobe.d/vfioctl.conf\n"))
        #expect(dryRun.stdout.contains("--- /etc/initramfs-tools/modules\n# user's modules\nloop\n"))
        #expect(dryRun.stdout.contains("--- remove /etc/vfioctl/ (when empty)\n"))
        #expect(FakeHost.differences(before, try fake.snapshot()) == [])

        let all = try vfioctl(["persist", "--remove"] + arguments)
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains("removed /etc/modprobe.d/vfioctl.conf\n"))
        #expect(all.stdout.contains("removed /etc/vfioctl/persist.json\n"))
        #expect(
            all.stdout.hasSuffix("then run: update-initramfs -u -k all\nthen run: update-grub\npersisted: nothing\n"))
        #expect(FakeHost.differences(original, try fake.snapshot()) == [])

        let again = try vfioctl(["persist", "--remove"] + arguments)
        #expect(again.stdout == "nothing changed\npersisted: nothing\n")
    }

    @Test(
        "--remove of a device that is not persisted, and --method with --remove, are one-line errors",
        arguments: [
            (["persist", "--remove", "01:00.0"], Int32(66), "01:00.0 is not persisted: no device is"),
            (["persist", "--remove", "--method", "ids"], Int32(64), "--method applies to persisting"),
        ])
    func refusals(arguments: [String], status: Int32, message: String) throws {
        let fake = try debian()
        let original = try fake.snapshot()
        let result = try vfioctl(arguments + ["--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == status)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(FakeHost.differences(original, try fake.snapshot()) == [])
    }
}
