import Foundation
import TestSupport
import Testing

private let nodeURI =
    "test://"
    + URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/libvirt/node.xml").path

@Suite struct LibvirtCommandTests {
    @Test("domains lists the guests of a connection, as a table and as JSON")
    func domains() throws {
        let table = try vfioctl(["domains", "--connect", nodeURI])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NAME") == true)
        #expect(lines.contains { $0.hasPrefix("gaming ") && $0.contains("running") && $0.contains("0000:01:00.0") })
        #expect(lines.contains { $0.hasPrefix("workstation ") && $0.contains("shut off") })
        let json = try vfioctl(["domains", "--json", "--connect", nodeURI])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["uri"] as? String == nodeURI)
        let list = try #require(object["domains"] as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["gaming", "win11", "workstation"])
        let env = try vfioctl(["domains"], environment: ["LIBVIRT_DEFAULT_URI": nodeURI])
        #expect(env.stdout == table.stdout, "LIBVIRT_DEFAULT_URI is honoured")
    }

    // libvirt's test driver keeps no state between connections, so the definition cannot be read back here: the
    // test proves the merge (the diff) and that libvirt accepted the define, not what it stored.
    @Test("attach --domain merges the guest's definition and libvirt's test driver accepts the define")
    func attachDomain() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--connect", nodeURI]
        let diff = try vfioctl(["attach", "--domain", "gaming", "--gpu", "gpu:2", "--print-diff"] + root)
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(diff.stdout.hasPrefix("--- gaming\n+++ gaming (merged)\n"))
        #expect(diff.stdout.contains("+        <address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/>"))
        let printThenDefine = try vfioctl(
            ["attach", "--domain", "gaming", "--scream", "--print-diff", "--define"] + root)
        #expect(printThenDefine.status == 0, "\(printThenDefine.stderr)")
        #expect(printThenDefine.stdout.contains("+    <shmem name='scream-ivshmem'>"))
        #expect(printThenDefine.stderr.contains("defined gaming at \(nodeURI)"))
        let fileDefine = try vfioctl(["attach", "x.xml", "--scream", "--print-diff", "--define"] + root)
        #expect(fileDefine.status == 64)
        #expect(fileDefine.stderr.contains("--define goes with --domain NAME"))
        let define = try vfioctl(["attach", "--domain", "gaming", "--scream"] + root)
        #expect(define.status == 0, "\(define.stderr)")
        #expect(
            define.stderr.contains("defined gaming at \(nodeURI) (it is running: the changes apply at its next start)"))
        let detach = try vfioctl(["detach", "--domain", "workstation", "--scream"] + root)
        #expect(detach.status == 0)
        #expect(detach.stderr.contains("workstation: already up to date"))
    }

    @Test("detach --domain reads the record libvirt kept in <metadata> and restores libvirt's original definition")
    func detachDomain() throws {
        let virsh = try #require(
            ["/usr/bin/virsh", "/bin/virsh"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "virsh missing: scripts/install-deps --test")
        let fake = try FakeHost.guestHost()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vfioctl-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/domains/tuned.xml").path
        // libvirt's own formatting of the guest, before vfioctl.
        let original = try run(virsh, ["-q", "-c", "test:///default", "define \(fixture); dumpxml gaming"])
        #expect(original.status == 0, "\(original.stderr)")
        let before = directory.appendingPathComponent("before.xml").path
        try original.stdout.write(toFile: before, atomically: true, encoding: .utf8)
        let what = ["--gpu", "gpu:2", "--looking-glass", "--scream", "--evdev", "auto", "--tune"]
        let merged = directory.appendingPathComponent("merged.xml").path
        let attach = try vfioctl(["attach", before] + what + ["-o", merged, "--sysroot", fake.root])
        #expect(attach.status == 0, "\(attach.stderr)")
        // A test driver node holding the guest as vfioctl left it.
        let node = directory.appendingPathComponent("node.xml").path
        try ("<node>\n" + (try String(contentsOfFile: merged, encoding: .utf8)) + "</node>\n").write(
            toFile: node, atomically: true, encoding: .utf8)
        let uri = "test://" + node
        let kept = try run(virsh, ["-q", "-c", uri, "dumpxml gaming"])
        #expect(kept.stdout.contains("<vfioctl:ownership xmlns:vfioctl=\"https://vfioctl.dev/xmlns/ownership/1\">"))
        let root = ["--sysroot", fake.root, "--connect", uri]
        let printed = try vfioctl(["detach", "--domain", "gaming"] + what + ["--print-xml"] + root)
        #expect(printed.status == 0, "\(printed.stderr)")
        // The guest's own Looking Glass device already has the size asked for: it was never vfioctl's.
        #expect(printed.stderr.contains("nothing of vfioctl's to remove for --looking-glass\n"), "\(printed.stderr)")
        #expect(!printed.stderr.contains("remove for --gpu"), "\(printed.stderr)")
        #expect(printed.stdout == original.stdout)
        let define = try vfioctl(["detach", "--domain", "gaming"] + what + root)
        #expect(define.status == 0, "\(define.stderr)")
        #expect(define.stderr.contains("defined gaming at \(uri)"))
        let restored = directory.appendingPathComponent("restored.xml").path
        try printed.stdout.write(toFile: restored, atomically: true, encoding: .utf8)
        let redefined = try run(virsh, ["-q", "-c", "test:///default", "define \(restored); dumpxml gaming"])
        #expect(redefined.stdout == original.stdout)
    }

    @Test("bad combinations and unknown guests are one line and a non-zero exit")
    func errors() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--connect", nodeURI]
        let inPlace = try vfioctl(["attach", "--domain", "gaming", "--scream", "--in-place"] + root)
        #expect(inPlace.status == 64)
        #expect(inPlace.stderr.contains("--in-place is for files"))
        let both = try vfioctl(["attach", "x.xml", "--domain", "gaming", "--scream"] + root)
        #expect(both.status == 64)
        #expect(both.stderr.contains("either a domain.xml file or --domain NAME"))
        let none = try vfioctl(["attach", "--scream"] + root)
        #expect(none.status == 64)
        let unknown = try vfioctl(["attach", "--domain", "nope", "--scream"] + root)
        #expect(unknown.status == 66)
        #expect(unknown.stderr.split(separator: "\n").count == 1)
        #expect(unknown.stderr.contains("domain nope: not found"))
        let down = try vfioctl(["domains", "--connect", "test:///nonexistent/node.xml"])
        #expect(down.status == 69)
        #expect(down.stderr.hasPrefix("vfioctl: cannot connect to libvirt at test:///nonexistent/node.xml"))
        #expect(down.stderr.split(separator: "\n").count == 1)
    }
}

@Suite struct GuestDoctorCommandTests {
    @Test("doctor --domain NAME reads the guest through libvirt and judges it on this host, with attach as the fix")
    func guestByName() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs, "--connect", nodeURI]
        let text = try vfioctl(["doctor", "--domain", "gaming"] + root)
        #expect(text.status == 1, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("vfioctl doctor gaming: ") == true)
        let companions = try #require(lines.firstIndex { $0.hasPrefix("FAIL  companions") })
        #expect(lines[companions].contains("0000:01:00.0  the card's other functions are not passed"))
        #expect(
            lines[companions + 1]
                == "      fix: `vfioctl attach --domain gaming --connect \(nodeURI) --gpu 0000:01:00.0`")

        let json = try vfioctl(["doctor", "--domain", "gaming", "--json"] + root)
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.allSatisfy { Set($0.keys) == ["id", "status", "device", "message", "fix"] })
        let ids = Set(checks.compactMap { $0["id"] as? String })
        #expect(
            ids == [
                "hostdev-missing", "group", "companions", "rom", "x-vga", "bootfb", "config-space", "reset",
                "large-bar", "hugepages", "pinning", "evdev", "shmem", "hidden", "iommu",
            ])
        #expect(checks.first { $0["id"] as? String == "iommu" }?["device"] as? String == "")
        #expect(checks.first { $0["id"] as? String == "iommu" }?["fix"] as? String == "")
        #expect(object["domain"] as? String == "gaming")
    }

    @Test("doctor --domain FILE: a healthy file exits 0; a file that is not there is one line and exit 1")
    func guestFile() throws {
        let fake = try FakeHost.guestHost()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("guest.xml").path
        try """
        <domain type='kvm'>
          <name>plain</name>
          <memory unit='GiB'>4</memory>
          <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>
          <memoryBacking><hugepages/></memoryBacking>
          <devices/>
        </domain>
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let healthy = try vfioctl(["doctor", "--domain", file] + root)
        #expect(healthy.status == 0, "\(healthy.stdout)\(healthy.stderr)")
        #expect(healthy.stdout.contains("OK    hugepages        the guest's 2048 pages of 2048 KiB fit"))

        let missing = try vfioctl(["doctor", "--domain", directory.appendingPathComponent("gone.xml").path] + root)
        #expect(missing.status != 0)
        #expect(missing.stdout == "")
        #expect(missing.stderr.split(separator: "\n").count == 1)
        #expect(missing.stderr.contains("gone.xml does not exist"))

        let stray = try vfioctl(["doctor", "--connect", nodeURI] + root)
        #expect(stray.status != 0)
        #expect(stray.stderr.contains("--connect goes with --domain NAME"))
    }

    @Test("attach --override on a guest: libvirt's version is read, the define validated; a file gets a note")
    func override() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs, "--connect", nodeURI]
        let attach = try vfioctl(
            [
                "attach", "--domain", "gaming", "--override", "0000:01:00.0:x-pci-sub-vendor-id=0x1025", "--print-diff",
                "--define",
            ] + root)
        #expect(attach.status == 0, "\(attach.stderr)")
        #expect(attach.stdout.contains("+      <alias name='ua-vfioctl-0000-01-00-0'/>"))
        #expect(
            attach.stdout.contains("+        <qemu:property name='x-pci-sub-vendor-id' type='unsigned' value='4133'/>"))
        #expect(attach.stderr.contains("defined gaming at \(nodeURI)"))
        let laptop = try vfioctl(["attach", "--domain", "gaming", "--laptop-gpu", "gpu:2", "--print-diff"] + root)
        #expect(laptop.status == 0, "\(laptop.stderr)")
        #expect(laptop.stdout.contains("name='x-pci-sub-vendor-id' type='unsigned' value='5218'"))
        #expect(laptop.stdout.contains("name='x-pci-sub-device-id' type='unsigned' value='14162'"))

        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/domains/minimal.xml").path
        let file = try vfioctl(
            [
                "attach", fixture, "--gpu", "gpu:2", "--override", "0000:01:00.0:x-vga=off", "--print-xml", "--sysroot",
                fake.root,
            ])
        #expect(file.status == 0, "\(file.stderr)")
        #expect(
            file.stderr.contains("note: libvirt's version is unknown for a file: <qemu:override> needs libvirt ≥ 8.2.0")
        )
        let bad = try vfioctl(["attach", fixture, "--override", "x-vga=off", "--print-xml", "--sysroot", fake.root])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--override takes ADDRESS:PROPERTY=VALUE"))
    }
}

@Suite struct BARCommandTests {
    @Test("show and list --json report each BAR's size and the Resizable BAR sizes")
    func bars() throws {
        let fake = try FakeHost.guestHost()
        let directory = "/sys/devices/pci0000:00/0000:01:00.0"
        try fake.write(
            directory + "/resource",
            "0x00000000f6000000 0x00000000f6ffffff 0x0000000000040200\n"
                + "0x0000004000000000 0x00000043ffffffff 0x000000000014220c\n"
                + String(repeating: "0x0000000000000000 0x0000000000000000 0x0000000000000000\n", count: 11))
        try fake.write(directory + "/resource1_resize", "0000000000007f00\n")
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let show = try vfioctl(["show", "01:00.0"] + root)
        #expect(show.status == 0, "\(show.stderr)")
        let lines = show.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines.contains("BAR 0 16 MiB 32-bit"))
        #expect(lines.contains("BAR 1 16 GiB 64-bit prefetchable; Resizable BAR: 16 GiB now, 256 MiB–16 GiB supported"))
        let list = try vfioctl(["list", "--json"] + root)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        let devices = try #require(object["devices"] as? [[String: Any]])
        let card = try #require(devices.first { $0["address"] as? String == "0000:01:00.0" })
        let bars = try #require(card["bars"] as? [[String: Any]])
        #expect(bars.count == 2)
        #expect(bars[1]["size"] as? UInt64 == 16 << 30)
        let resizable = try #require(bars[1]["resizable"] as? [String: Any])
        #expect(resizable["currentSize"] as? UInt64 == 16 << 30)
        #expect((resizable["supportedSizes"] as? [UInt64])?.first == 256 << 20)
        #expect((resizable["supportedSizes"] as? [UInt64])?.last == 16 << 30)
    }
}
