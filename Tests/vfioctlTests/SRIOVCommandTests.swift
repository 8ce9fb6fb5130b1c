import Foundation
import TestSupport
import Testing

@Suite struct SRIOVCommandTests {
    func host() throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.add(
            FakePCIDevice(
                "0000:05:00.0", vendor: 0x1b36, device: 0x0010, classCode: 0x010802, driver: "nvme", group: 30))
        try fake.addSRIOV("0000:05:00.0", totalVFs: 4, vfDevice: 0x0010)
        return fake
    }

    @Test("--dry-run prints the writes in order and changes nothing")
    func dryRun() throws {
        let fake = try host()
        let result = try vfioctl(["sriov", "05:00.0", "--vfs", "2", "--dry-run", "--sysroot", fake.root])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout
                == "echo 0 > /sys/bus/pci/devices/0000:05:00.0/sriov_drivers_autoprobe\n"
                + "echo 2 > /sys/bus/pci/devices/0000:05:00.0/sriov_numvfs\n")
        #expect(
            try String(contentsOfFile: fake.path("/sys/bus/pci/devices/0000:05:00.0/sriov_numvfs"), encoding: .utf8)
                == "0\n")
    }

    @Test("bad input: one line naming the thing, a usage status, nothing written")
    func badInput() throws {
        let fake = try host()
        let tooMany = try vfioctl(["sriov", "05:00.0", "--vfs", "9", "--sysroot", fake.root])
        #expect(tooMany.status == 64)
        #expect(tooMany.stderr == "vfioctl: 0000:05:00.0 offers 0 to 4 virtual functions, not 9\n")
        let notSRIOV = try vfioctl(["sriov", "01:00.0", "--vfs", "1", "--sysroot", fake.root])
        #expect(notSRIOV.status == 64)
        #expect(notSRIOV.stderr.contains("0000:01:00.0 has no SR-IOV capability"))
        let garbage = try vfioctl(["sriov", "nonsense", "--vfs", "1", "--sysroot", fake.root])
        #expect(garbage.status == 64)
        #expect(garbage.stderr.contains("'nonsense' is not a device: use an address"))
        #expect(
            try String(contentsOfFile: fake.path("/sys/bus/pci/devices/0000:05:00.0/sriov_numvfs"), encoding: .utf8)
                == "0\n")
        #expect(
            try String(
                contentsOfFile: fake.path("/sys/bus/pci/devices/0000:05:00.0/sriov_drivers_autoprobe"), encoding: .utf8)
                == "1\n")
    }

    @Test("a VF on vfio-pci: --vfs 0 is refused with a line naming it, status 75, nothing written")
    func refused() throws {
        let fake = try host()
        try fake.write(fake.deviceDirectory("0000:05:00.0") + "/sriov_numvfs", "1\n")
        try fake.add(
            FakePCIDevice(
                "0000:05:00.1", vendor: 0x1b36, device: 0x0010, classCode: 0x010802, driver: "vfio-pci", group: 31))
        try fake.link(fake.deviceDirectory("0000:05:00.0") + "/virtfn0", to: fake.deviceDirectory("0000:05:00.1"))
        try fake.link(fake.deviceDirectory("0000:05:00.1") + "/physfn", to: fake.deviceDirectory("0000:05:00.0"))
        let result = try vfioctl(["sriov", "05:00.0", "--vfs", "0", "--sysroot", fake.root])
        #expect(result.status == 75)
        #expect(
            result.stderr
                == "vfioctl: refusing: virtual function 0000:05:00.1 is on vfio-pci: `vfioctl unbind 0000:05:00.1` (or "
                + "detach it from its guest) before removing it\n")
        #expect(
            try String(contentsOfFile: fake.path("/sys/bus/pci/devices/0000:05:00.0/sriov_numvfs"), encoding: .utf8)
                == "1\n")
    }

    @Test("--persist writes the udev rule; persist --remove PF takes it out and leaves bind persistence alone")
    func persist() throws {
        let fake = try host()
        let result = try vfioctl(["sriov", "05:00.0", "--vfs", "2", "--persist", "--sysroot", fake.root])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("0000:05:00.0: 2 of 4 virtual functions, drivers_autoprobe off"))
        #expect(result.stdout.contains("wrote /etc/udev/rules.d/70-vfioctl-sriov.rules: 0000:05:00.0 2 VFs"))
        let rules = fake.path("/etc/udev/rules.d/70-vfioctl-sriov.rules")
        #expect(try String(contentsOfFile: rules, encoding: .utf8).contains("ATTR{sriov_numvfs}=\"2\""))
        let remove = try vfioctl(["persist", "--remove", "05:00.0", "--sysroot", fake.root])
        #expect(remove.status == 0, "\(remove.stderr)")
        #expect(remove.stdout.contains("no longer persisted: the virtual functions of 0000:05:00.0"))
        #expect(!FileManager.default.fileExists(atPath: rules))
        // persist --remove alone takes every SR-IOV rule out as well.
        _ = try vfioctl(["sriov", "05:00.0", "--vfs", "1", "--persist", "--sysroot", fake.root])
        #expect(FileManager.default.fileExists(atPath: rules))
        let all = try vfioctl(["persist", "--remove", "--sysroot", fake.root])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(!FileManager.default.fileExists(atPath: rules))
    }
}
