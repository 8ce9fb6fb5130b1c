import Foundation
import TestSupport
import Testing

@Suite struct ListCommandTests {
    @Test("--help and --version answer and exit 0")
    func helpAndVersion() throws {
        let help = try vfioctl(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: vfioctl"))
        #expect(help.stdout.contains("list"))
        let version = try vfioctl(["--version"])
        #expect(version.status == 0)
        let first = version.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("vfioctl "))
        #expect(first.dropFirst("vfioctl ".count).split(separator: ".").count == 3)
        let listHelp = try vfioctl(["list", "--help"])
        #expect(listHelp.stdout.contains("--sysroot"))
        #expect(listHelp.stdout.contains("--json"))
    }

    @Test("list --json follows the documented contract")
    func jsonContract() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["list", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let iommu = try #require(json["iommu"] as? [String: Any])
        #expect(iommu["enabled"] as? Bool == true)
        #expect(iommu["groupCount"] as? Int == 6)
        #expect(iommu["advice"] as? [String] == [])
        let devices = try #require(json["devices"] as? [[String: Any]])
        #expect(devices.count == 12)
        // Optional values (driver, names, group, vendor-reset family) are present only when known.
        let keys: Set<String> = [
            "address", "vendorID", "deviceID", "class", "isBridge", "isBootVGA", "resetMethods", "supportsFLR",
        ]
        for device in devices {
            #expect(keys.isSubset(of: Set(device.keys)), "missing keys in \(device["address"] ?? "?")")
        }
        let host = try #require(devices.first { $0["address"] as? String == "0000:00:00.0" })
        #expect(host["driver"] == nil)
        #expect(host["vendorResetFamily"] == nil)
        let polaris = try #require(devices.first { $0["address"] as? String == "0000:02:00.0" })
        #expect(polaris["vendorResetFamily"] as? String == "Polaris 10")
        #expect(polaris["class"] as? String == "0x030000")
        let groups = try #require(json["groups"] as? [[String: Any]])
        let group2 = try #require(groups.first { $0["id"] as? Int == 2 })
        #expect(group2["viable"] as? Bool == false)
        #expect((group2["blockers"] as? [[String: Any]])?.count == 4)
        let gpus = try #require(json["gpus"] as? [[String: Any]])
        #expect(gpus.map { $0["vendor"] as? String } == ["intel", "nvidia", "amd", "amd"])
        #expect(gpus.map { $0["status"] as? String } == ["boot GPU", "needs binding", "ready", "blocked"])
        #expect((gpus[1]["functions"] as? [String])?.count == 4)
    }

    @Test("the table shows devices, groups and GPUs")
    func table() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["list", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("IOMMU: on, 6 groups; kernel 6.1.0-26-amd64"))
        #expect(result.stdout.contains("0000:01:00.0  10de:1f08  VGA compatible controller  nvidia"))
        #expect(result.stdout.contains("group 2 is not viable:"))
        #expect(result.stdout.contains("0000:02:00.0  amd  ready"))
    }

    @Test("VFIOCTL_SYSROOT is honoured and list is the default command")
    func environmentSysroot() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["--pci-ids", fake.pciIDs], environment: ["VFIOCTL_SYSROOT": fake.root])
        #expect(result.status == 0)
        #expect(result.stdout.contains("0000:03:00.0"))
    }

    @Test("--gpus and --group filter the report")
    func filters() throws {
        let fake = try FakeHost.workstation()
        let gpus = try vfioctl(["list", "--gpus", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(gpus.stdout.utf8)) as? [String: Any])
        let devices = try #require(json["devices"] as? [[String: Any]])
        #expect(devices.count == 8)
        let group = try vfioctl(["list", "--group", "4", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        let groupJSON = try #require(try JSONSerialization.jsonObject(with: Data(group.stdout.utf8)) as? [String: Any])
        #expect((groupJSON["devices"] as? [[String: Any]])?.count == 2)
        #expect((groupJSON["groups"] as? [[String: Any]])?.count == 1)
        let text = try vfioctl(["list", "--gpus", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(
            text.stdout.contains(
                "functions: 0000:01:00.0 (display), 0000:01:00.1 (audio), 0000:01:00.2 (usb), 0000:01:00.3 (ucsi); group 2"
            ))
    }

    @Test("show prints one device by address or IDs")
    func show() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["show", "01:00.1", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0)
        #expect(result.stdout.contains("driver           snd_hda_intel"))
        #expect(result.stdout.contains("reset_method     flr bus"))
        let json = try vfioctl(["show", "1002:67df", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let devices = try #require(object["devices"] as? [[String: Any]])
        #expect(devices.first?["address"] as? String == "0000:02:00.0")
        // The verdicts the text shows: the GPU with its status and reasons, and its group.
        let gpus = try #require(object["gpus"] as? [[String: Any]])
        #expect(gpus.first?["address"] as? String == "0000:02:00.0")
        #expect(gpus.first?["status"] as? String != nil)
        let groups = try #require(object["groups"] as? [[String: Any]])
        #expect(groups.map { $0["id"] as? Int } == [devices.first?["iommuGroup"] as? Int])
    }

    @Test(
        "bad input is one line on stderr and a sysexits status",
        arguments: [
            (["list", "--sysroot", "/nonexistent/tree"], Int32(66), "sysroot /nonexistent/tree does not exist"),
            (["show", "nonsense"], Int32(64), "'nonsense' is not a device"),
            (["list", "--gpus", "--group", "1"], Int32(64), "--gpus and --group cannot be combined"),
            (["list", "--bogus"], Int32(64), "Unknown option '--bogus'"),
        ])
    func badInput(arguments: [String], status: Int32, message: String) throws {
        let result = try vfioctl(arguments)
        #expect(result.status == status)
        #expect(result.stderr.contains(message))
        #expect(result.stdout.isEmpty)
    }

    @Test("a device or group that does not exist exits 66 with the fix")
    func notFound() throws {
        let fake = try FakeHost.workstation()
        let show = try vfioctl(["show", "10de:ffff", "--sysroot", fake.root])
        #expect(show.status == 66)
        #expect(
            show.stderr
                == "vfioctl: no PCI device matches 10de:ffff on this host (`vfioctl list` shows the devices of this host)\n"
        )
        let group = try vfioctl(["list", "--group", "42", "--sysroot", fake.root])
        #expect(group.status == 66)
        #expect(group.stderr == "vfioctl: no IOMMU group 42: this host has groups 0-5\n")
    }

    @Test("warnings go to stderr, the answer to stdout")
    func warnings() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/sys/devices/pci0000:00/0000:03:00.0/vendor", "zz\n")
        let result = try vfioctl(["list", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0)
        #expect(result.stderr.hasPrefix("warning: skipping 0000:03:00.0:"))
        #expect(result.stdout.contains("\"warnings\""))
    }

    @Test("with the IOMMU off the diagnosis is printed and devices are still listed")
    func iommuOff() throws {
        let fake = try FakeHost()
        try fake.setCPU(vendor: "GenuineIntel")
        try fake.add(FakePCIDevice("0000:00:02.0", vendor: 0x8086, device: 0x3e92, classCode: 0x030000, driver: "i915"))
        let result = try vfioctl(["list", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("IOMMU: off (no IOMMU groups)"))
        #expect(result.stdout.contains("-> add intel_iommu=on to the kernel command line"))
        #expect(result.stdout.contains("0000:00:02.0"))
    }
}

extension ListCommandTests {
    static let canDropRoot = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    @Test(
        "an unprivileged run on the real host says that root is needed for the full report",
        .enabled(if: canDropRoot, "needs root and setpriv to run the binary as nobody"))
    func notRoot() throws {
        let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl").path
        let result = try run(
            "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary, "list"])
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning: not root: configuration space past the first 64 bytes is hidden"))
        #expect(result.stdout.hasPrefix("IOMMU: "))
    }

    @Test("a set driver_override is reported")
    func driverOverride() throws {
        let fake = try FakeHost()
        try fake.add(
            FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000).with {
                $0.driverOverride = "vfio-pci"
            })
        let result = try vfioctl(["show", "01:00.0", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.stdout.contains("driver_override  vfio-pci"))
    }
}
