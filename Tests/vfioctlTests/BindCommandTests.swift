import Foundation
import TestSupport
import Testing

@Suite struct BindCommandTests {
    @Test("bind --dry-run prints the exact writes and changes nothing")
    func dryRun() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["bind", "--dry-run", "gpu:2", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first == "modprobe vfio-pci")
        #expect(lines.filter { $0.hasPrefix("echo") }.count == 12)
        #expect(result.stderr.contains("note: 0000:01:00.1 (audio) comes along with GPU 0000:01:00.0"))
        let link = try FileManager.default.destinationOfSymbolicLink(
            atPath: fake.path("/sys/bus/pci/devices/0000:01:00.0/driver"))
        #expect(link.hasSuffix("/nvidia"))
    }

    @Test("unbind --dry-run prints the writes")
    func unbindDryRun() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["unbind", "--dry-run", "02:00.1", "--sysroot", fake.root])
        #expect(result.status == 0)
        #expect(
            result.stdout
                == "echo 0000:02:00.1 > /sys/bus/pci/drivers/vfio-pci/unbind\necho > /sys/bus/pci/devices/0000:02:00.1/driver_override\necho 0000:02:00.1 > /sys/bus/pci/drivers_probe\n"
        )
    }

    @Test(
        "refusals and bad targets are one line with a sysexits status",
        arguments: [
            (["bind", "banana"], Int32(64), "'banana' is not a device"),
            (["bind"], Int32(64), "Missing expected argument '<target> ...'"),
            (["bind", "00:02.0", "--dry-run"], Int32(75), "vfioctl: refusing: 0000:00:02.0 is the boot GPU"),
            (["bind", "01:00.0", "--only", "--dry-run"], Int32(75), "IOMMU group 2 would not be viable"),
            (["bind", "gpu:7", "--dry-run"], Int32(66), "there is no gpu:7"),
            (["bind", "01:00.0", "--timeout", "0"], Int32(64), "--timeout takes a number of seconds"),
        ])
    func refusals(arguments: [String], status: Int32, message: String) throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(arguments + ["--sysroot", fake.root])
        #expect(result.status == status)
        #expect(result.stderr.contains(message))
        if status != 64 {
            #expect(result.stderr.split(separator: "\n").filter { !$0.hasPrefix("note:") }.count == 1)
        }
    }

    @Test("list --gpus numbers the GPUs for gpu:N")
    func gpuNumbers() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["list", "--gpus", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.stdout.contains("gpu:2  0000:01:00.0  nvidia  needs binding"))
    }
}

@Suite struct PersistCommandTests {
    private func debian() throws -> FakeHost { try FakeHost.debianWorkstation() }

    private func contents(_ fake: FakeHost, _ path: String) -> String? {
        try? String(contentsOfFile: fake.path(path), encoding: .utf8)
    }

    @Test("persist --dry-run shows every file and command and writes nothing")
    func dryRun() throws {
        let fake = try debian()
        let result = try vfioctl(["persist", "gpu:2", "--dry-run", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0, "\(result.stderr)")
        for path in ["/etc/modprobe.d/vfioctl.conf", "/etc/initramfs-tools/modules", "/etc/default/grub.d/vfioctl.cfg"]
        {
            #expect(result.stdout.contains(path))
        }
        #expect(result.stdout.contains("update-initramfs -u -k all"))
        #expect(result.stdout.contains("options vfio-pci ids=10de:10f9,10de:1ada,10de:1adb,10de:1f08"))
        #expect(contents(fake, "/etc/modprobe.d/vfioctl.conf") == nil)
        #expect(contents(fake, "/etc/initramfs-tools/modules") == "# user's modules\nloop\n")
    }

    @Test("persist then persist --remove gives back exactly what was there")
    func roundTrip() throws {
        let fake = try debian()
        let arguments = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let apply = try vfioctl(["persist", "gpu:2"] + arguments)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(contents(fake, "/etc/modprobe.d/vfioctl.conf")?.contains("softdep nvidia pre: vfio-pci") == true)
        #expect(contents(fake, "/etc/initramfs-tools/modules")?.contains("vfio_pci") == true)
        let remove = try vfioctl(["persist", "--remove"] + arguments)
        #expect(remove.status == 0, "\(remove.stderr)")
        #expect(contents(fake, "/etc/modprobe.d/vfioctl.conf") == nil)
        #expect(contents(fake, "/etc/default/grub.d/vfioctl.cfg") == nil)
        #expect(contents(fake, "/etc/initramfs-tools/modules") == "# user's modules\nloop\n")
        #expect(contents(fake, "/etc/default/grub") == "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n")
    }

    @Test("persist of a device that does not exist: one line, exit 66, nothing written")
    func missing() throws {
        let fake = try debian()
        let result = try vfioctl(["persist", "0000:09:00.0", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 66)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("0000:09:00.0"))
        #expect(contents(fake, "/etc/modprobe.d/vfioctl.conf") == nil)
    }
}
