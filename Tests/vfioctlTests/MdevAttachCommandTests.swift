import Foundation
import TestSupport
import Testing

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

/// Finds a program on PATH.
private func program(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

@Suite struct MdevAttachCommandTests {
    let uuid = "4b20d080-1b54-4048-85b3-a6a62d165c01"

    /// A host whose iGPU offers GVT-g types and has one mediated device.
    private func host() throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.addMdevTypes("0000:00:02.0", FakeMdevType.gvtg)
        try fake.addMdev(uuid, parent: "0000:00:02.0", type: "i915-GVTg_V5_4", group: 40)
        return fake
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-mdev-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test(
        "attach --mdev UUID writes a hostdev libvirt takes (virt-xml-validate, virsh define); detach restores the bytes"
    )
    func attachAndDetach() throws {
        let validate = try #require(program("virt-xml-validate"), "virt-xml-validate missing")
        let virsh = try #require(program("virsh"), "virsh missing")
        let fake = try host()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        for domain in ["minimal", "virt-manager", "tuned"] {
            let file = directory.appendingPathComponent("\(domain).xml").path
            try FileManager.default.copyItem(
                atPath: fixtures.appendingPathComponent("domains/\(domain).xml").path, toPath: file)
            let original = try Data(contentsOf: URL(fileURLWithPath: file))
            let attach = try vfioctl(["attach", file, "--mdev", uuid, "--mdev-display", "on", "--in-place"] + root)
            #expect(attach.status == 0, "\(domain): \(attach.stderr)")
            let merged = try String(contentsOfFile: file, encoding: .utf8)
            #expect(merged.contains("type='mdev' model='vfio-pci' display='on'"), "\(domain)")
            let check = try run(validate, [file, "domain"])
            #expect(check.status == 0, "\(domain): virt-xml-validate: \(check.stdout)\(check.stderr)")
            let name = try #require(merged.firstMatch(of: /<name>([^<]+)<\/name>/)?.1)
            let defined = try run(virsh, ["-q", "-c", "test:///default", "define \(file); dumpxml \(name)"])
            #expect(defined.status == 0, "\(domain): virsh define: \(defined.stderr)")
            #expect(defined.stdout.contains("<address uuid='\(uuid)'/>"), "\(domain): libvirt lost the mdev")
            let twice = try vfioctl(["attach", file, "--mdev", uuid, "--in-place"] + root)
            #expect(twice.status == 75)
            #expect(twice.stderr.split(separator: "\n").count == 1, "\(twice.stderr)")
            #expect(twice.stderr.contains("already has mediated device \(uuid)"))
            let detach = try vfioctl(["detach", file, "--mdev", uuid, "--in-place"] + root)
            #expect(detach.status == 0, "\(domain): \(detach.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == original, "\(domain): not restored")
        }
        // --json follows attach's document.
        let input = fixtures.appendingPathComponent("domains/minimal.xml").path
        let output = directory.appendingPathComponent("json.xml").path
        let json = try vfioctl(["attach", input, "--mdev", uuid, "-o", output, "--json"] + root)
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["changed"] as? Bool == true)
        #expect(object["destination"] as? String == output)
        #expect(object["notes"] is [String])
    }

    @Test("bad --mdev input: one line naming it and the fix, a non-zero status, no file touched")
    func refusals() throws {
        let fake = try host()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let file = directory.appendingPathComponent("minimal.xml").path
        try FileManager.default.copyItem(
            atPath: fixtures.appendingPathComponent("domains/minimal.xml").path, toPath: file)
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        let before = try fake.snapshot()
        let unknown = "0b7e9a5e-9c3a-4f57-8d0c-5a1f3b2e4d61"
        let cases: [([String], Int32, String)] = [
            (
                ["attach", file, "--mdev", unknown, "--in-place"], 66,
                "vfioctl: no mediated device \(unknown) on this host (`vfioctl mdev create PARENT TYPE` makes one"
            ),
            (
                ["attach", file, "--mdev", "i915-GVTg_V5_4", "--print-xml"], 64,
                "--mdev i915-GVTg_V5_4 creates a mediated device, so the result must be written or defined"
            ),
            (["detach", file, "--mdev", "i915-GVTg_V5_4", "--in-place"], 64, "takes a mediated device's UUID"),
            (["attach", file, "--mdev", uuid, "--mdev-display", "maybe", "--in-place"], 64, "on or off, not 'maybe'"),
            (
                ["attach", file, "--scream", "--mdev-display", "on", "--in-place"], 64,
                "--mdev-display goes with --mdev"
            ),
            (
                ["attach", file, "--mdev", uuid, "--mdev", uuid.uppercased(), "--in-place"], 64,
                "mediated device \(uuid) is named twice"
            ),
        ]
        for (arguments, status, text) in cases {
            let result = try vfioctl(arguments + root)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(text), "\(arguments): \(result.stderr)")
            if status != 64 {
                #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == original, "\(arguments)")
        }
        #expect(try fake.snapshot() == before, "the host tree is untouched")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["minimal.xml"])
    }

    @Test("attach --domain refuses an mdev another guest libvirt defines already has")
    func usedByAnotherGuest() throws {
        let fake = try host()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let node = directory.appendingPathComponent("node.xml").path
        try """
        <node>
          <domain type='test'>
            <name>office</name>
            <memory>1048576</memory>
            <os><type>hvm</type></os>
            <devices>
              <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
                <source><address uuid='\(uuid)'/></source>
              </hostdev>
            </devices>
          </domain>
          <domain type='test'>
            <name>desk</name>
            <memory>1048576</memory>
            <os><type>hvm</type></os>
          </domain>
        </node>

        """.write(toFile: node, atomically: true, encoding: .utf8)
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs, "--connect", "test://" + node]
        let taken = try vfioctl(["attach", "--domain", "desk", "--mdev", uuid] + root)
        #expect(taken.status == 75, "\(taken.stderr)")
        #expect(taken.stderr == "vfioctl: mediated device \(uuid) is already given to the guest office\n")
        let own = try vfioctl(["attach", "--domain", "office", "--mdev", uuid, "--print-diff"] + root)
        #expect(own.status == 75)
        #expect(own.stderr.contains("domain office at test://\(node) already has mediated device \(uuid)"))
    }
}
