import Foundation
import TestSupport
import Testing

/// The conventions every command shares: global options anywhere, one target syntax, one JSON shape.
@Suite struct ConventionTests {
    private func object(_ text: String) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not one object: \(text)")
    }

    @Test("global options work before and after the command, -c is --connect")
    func globalOptionsAnywhere() throws {
        let fake = try FakeHost.workstation()
        let after = try vfioctl(["list", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        let before = try vfioctl(["--sysroot", fake.root, "--json", "--pci-ids", fake.pciIDs, "list"])
        let mixed = try vfioctl(["--json", "list", "--sysroot=\(fake.root)", "--pci-ids", fake.pciIDs])
        #expect(after.status == 0)
        #expect(before.status == 0 && mixed.status == 0)
        #expect(before.stdout == after.stdout)
        #expect(mixed.stdout == after.stdout)
        // A nested command takes them before its group too.
        let input = try vfioctl(["--sysroot", fake.root, "input", "list"])
        #expect(input.status == 0, "\(input.stderr)")
        let short = try vfioctl(["-c", "test:///default", "domains", "--json"])
        let long = try vfioctl(["domains", "--connect", "test:///default", "--json"])
        #expect(short.status == 0, "\(short.stderr)")
        #expect(short.stdout == long.stdout)
        #expect(try object(short.stdout)["uri"] as? String == "test:///default")
        // A command that reads this host's sysfs says so for --connect, in one line.
        let local = try vfioctl(["-c", "test:///default", "show", "01:00.0", "--sysroot", fake.root])
        #expect(local.status == 64)
        #expect(local.stderr.contains("show reads this host's sysfs"))
    }

    @Test("a misspelt command names the nearest ones; help of a missing command fails")
    func didYouMean() throws {
        let list = try vfioctl(["lsit"])
        #expect(list.status == 64)
        #expect(list.stderr == "vfioctl: 'lsit' is not a command: did you mean 'list'?\n")
        let dump = try vfioctl(["vbios", "dumb", "01:00.0"])
        #expect(dump.status == 64)
        #expect(dump.stderr == "vfioctl: 'dumb' is not a command of vbios: did you mean 'dump'?\n")
        let far = try vfioctl(["zzzzzz"])
        #expect(far.status == 64)
        #expect(far.stderr.contains("the commands are list, show"))
        let help = try vfioctl(["help", "bogus"])
        #expect(help.status == 64)
        #expect(help.stderr.contains("'bogus' is not a command"))
        let good = try vfioctl(["help", "vbios", "dump"])
        #expect(good.status == 0)
        #expect(good.stdout.contains("USAGE: vfioctl vbios dump"))
        let json = try vfioctl(["--json", "lsit"])
        #expect(json.status == 64)
        let error = try #require(try object(json.stdout)["error"] as? [String: Any])
        #expect(error["code"] as? String == "usage")
        #expect(error["status"] as? Int == 64)
        #expect((error["message"] as? String)?.contains("did you mean 'list'") == true)
    }

    @Test("every command that takes a device takes every target form, with one wording of the error")
    func targetForms() throws {
        let fake = try FakeHost.workstation()
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let gpus = try object(try vfioctl(["list", "--gpus", "--json"] + root).stdout)["gpus"] as? [[String: Any]]
        let first = try #require(gpus?.first?["address"] as? String)
        let show = try vfioctl(["show", "gpu:1", "--json"] + root)
        #expect(show.status == 0, "\(show.stderr)")
        let devices = try #require(try object(show.stdout)["devices"] as? [[String: Any]])
        #expect(devices.map { $0["address"] as? String } == [first])
        let rom = FileManager.default.temporaryDirectory.appendingPathComponent("convention-\(UUID().uuidString).rom")
        try Data(ROMBuilder.hybrid().bytes()).write(to: rom)
        defer { try? FileManager.default.removeItem(at: rom) }
        let check = try vfioctl(["vbios", "check", rom.path, "--for", "gpu:1", "--json"] + root)
        #expect(check.status == 0 || check.status == 65, "\(check.stderr)")
        #expect(try object(check.stdout)["valid"] != nil)
        // gpu:9, an unknown ID pair and an unknown address: the same line from every command.
        for missing in ["gpu:9", "10de:ffff", "0000:7f:00.0"] {
            var lines: Set<String> = []
            for command in [
                ["show", missing], ["vbios", "dump", missing], ["bind", missing, "--dry-run"],
                ["vbios", "check", rom.path, "--for", missing], ["vbios", "install", rom.path, "--for", missing],
            ] {
                let result = try vfioctl(command + root)
                #expect(result.status == 66, "\(command): \(result.stderr)")
                lines.insert(result.stderr)
            }
            #expect(lines.count == 1, "\(missing): \(lines)")
            #expect(lines.first?.contains(missing) == true)
        }
        for command in [["show", "banana"], ["vbios", "dump", "banana"], ["bind", "banana"]] {
            let result = try vfioctl(command + root)
            #expect(result.status == 64)
            #expect(result.stderr.contains("'banana' is not a device: use an address"))
        }
    }

    @Test("--json: one object from every command, errors as {\"error\": …} with the text's exit status")
    func oneJSONShape() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let domain = FileManager.default.temporaryDirectory.appendingPathComponent(
            "convention-\(UUID().uuidString).xml")
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/domains/virt-manager.xml")
        try Data(contentsOf: fixture).write(to: domain)
        defer { try? FileManager.default.removeItem(at: domain) }
        let commands: [[String]] = [
            ["list"], ["show", "gpu:2"], ["doctor"], ["input", "list"], ["bind", "gpu:2", "--dry-run"],
            ["unbind", "gpu:2", "--dry-run"], ["recover", "--dry-run"],
            ["attach", domain.path, "--gpu", "gpu:2", "--print-diff"],
        ]
        for command in commands {
            let result = try vfioctl(command + ["--json"] + root)
            #expect(result.status == 0 || command == ["doctor"], "\(command): \(result.stderr)")
            let document = try object(result.stdout)
            #expect(!document.isEmpty, "\(command)")
            #expect(document["error"] == nil, "\(command): \(result.stdout)")
        }
        for (command, status) in [(["show", "10de:ffff"], 66), (["list", "--bogus"], 64), (["bind"], 64)] {
            let text = try vfioctl(command + root)
            let json = try vfioctl(command + root + ["--json"])
            #expect(text.status == Int32(status))
            #expect(json.status == text.status, "\(command)")
            let error = try #require(try object(json.stdout)["error"] as? [String: Any], "\(command)")
            #expect(error["status"] as? Int == status)
            #expect(error["message"] as? String != nil)
            #expect(json.stderr.isEmpty, "\(command): \(json.stderr)")
        }
        let missing = try object(try vfioctl(["show", "10de:ffff", "--json"] + root).stdout)
        let error = try #require(missing["error"] as? [String: Any])
        #expect(error["code"] as? String == "not-found")
        #expect((error["details"] as? [String: Any])?["object"] as? String == "10de:ffff")
    }

    @Test("--quiet drops warnings and notes, --verbose adds the details of what passed; both together are refused")
    func quietAndVerbose() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/sys/bus/pci/devices/0000:01:00.0/vendor", "garbage\n")
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let loud = try vfioctl(["list"] + root)
        #expect(loud.stderr.contains("warning: "))
        let quiet = try vfioctl(["-q", "list"] + root)
        #expect(quiet.status == 0)
        #expect(quiet.stderr.isEmpty)
        #expect(quiet.stdout == loud.stdout)
        let plain = try vfioctl(["doctor"] + root)
        let verbose = try vfioctl(["doctor", "--verbose"] + root)
        #expect(verbose.stdout.split(separator: "\n").count > plain.stdout.split(separator: "\n").count)
        let both = try vfioctl(["list", "-q", "-v"] + root)
        #expect(both.status == 64)
    }

    @Test("colour only on a terminal, and never with NO_COLOR")
    func colour() throws {
        let fake = try FakeHost.workstation()
        let command = "\(Bundle.main.bundleURL.appendingPathComponent("vfioctl").path) list --sysroot \(fake.root)"
        // script(1) gives the command a terminal.
        let terminal = try run(
            "/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["TERM": "xterm", "NO_COLOR": ""])
        #expect(terminal.stdout.contains("\u{1B}["))
        let noColor = try run(
            "/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["NO_COLOR": "1", "TERM": "xterm"])
        #expect(!noColor.stdout.contains("\u{1B}["))
        let pipe = try vfioctl(["list", "--sysroot", fake.root])
        #expect(!pipe.stdout.contains("\u{1B}["))
    }

    @Test("--version names the versions of libpci, libxml2 and libvirt that are installed")
    func version() throws {
        let result = try vfioctl(["--version"])
        #expect(result.status == 0)
        for (name, package) in [("libpci", "libpci"), ("libxml2", "libxml-2.0"), ("libvirt", "libvirt")] {
            let installed = try run("/usr/bin/pkg-config", ["--modversion", package])
            guard installed.status == 0 else { continue }
            let expected = installed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(result.stdout.contains("  \(name) \(expected)\n"), "\(name): \(result.stdout)")
        }
        let json = try object(try vfioctl(["--version", "--json"]).stdout)
        #expect(json["version"] as? String != nil)
        #expect((json["libraries"] as? [String: String])?["libpci"] != nil)
    }
}
