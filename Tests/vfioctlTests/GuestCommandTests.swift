import Foundation
import TestSupport
import Testing

/// The domain files under Tests/Fixtures.
private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

private let domains = ["minimal", "virt-manager", "handmade", "tabs", "existing-passthrough", "i440fx"]

/// Each attach option as a user types it.
private let options: [(String, [String])] = [
    ("gpu", ["--gpu", "gpu:2"]), ("hostdev", ["--hostdev", "02:00.0"]),
    ("looking-glass", ["--looking-glass", "2560x1440"]), ("kvmfr", ["--looking-glass-kvmfr"]), ("scream", ["--scream"]),
    ("evdev", ["--evdev", "auto"]), ("evdev-native", ["--evdev", "auto", "--evdev-style", "native"]),
    ("tune", ["--tune"]),
    ("everything", ["--gpu", "gpu:2", "--looking-glass", "--scream", "--evdev", "auto", "--tune"]),
]

/// Finds a program on PATH.
private func program(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

@Suite struct GuestCommandTests {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-xml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("libvirt itself accepts every attach result: virt-xml-validate and virsh define on the test driver")
    func libvirtAccepts() throws {
        let validate = try #require(
            program("virt-xml-validate"), "virt-xml-validate missing: scripts/install-deps --test")
        let virsh = try #require(program("virsh"), "virsh missing: scripts/install-deps --test")
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for domain in domains {
            let input = fixtures.appendingPathComponent("domains/\(domain).xml").path
            for (label, arguments) in options {
                let output = directory.appendingPathComponent("\(domain)-\(label).xml").path
                let result = try vfioctl(
                    ["attach", input] + arguments + ["-o", output, "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
                #expect(result.status == 0, "\(domain) \(label): \(result.stderr)")
                let check = try run(validate, [output, "domain"])
                #expect(check.status == 0, "\(domain) \(label): virt-xml-validate: \(check.stdout)\(check.stderr)")
                let name = try #require(
                    String(contentsOfFile: output, encoding: .utf8).firstMatch(of: /<name>([^<]+)<\/name>/)?.1)
                let defined = try run(virsh, ["-q", "-c", "test:///default", "define \(output); dumpxml \(name)"])
                #expect(defined.status == 0, "\(domain) \(label): virsh define: \(defined.stderr)")
                let dump = defined.stdout
                if label == "gpu" || label == "everything" {
                    #expect(
                        dump.contains("<address domain='0x0000' bus='0x01' slot='0x00' function='0x3'/>"),
                        "\(domain) \(label): libvirt lost the GPU's USB-C function")
                }
                if label == "looking-glass" {
                    #expect(dump.contains("<shmem name='looking-glass'>"), "\(domain): libvirt lost the shmem")
                    #expect(dump.contains("<size unit='M'>64</size>"))
                }
                if label == "evdev-native" {
                    #expect(dump.contains("<input type='evdev'>"), "\(domain): libvirt lost the evdev input")
                    #expect(dump.contains("grabToggle='ctrl-ctrl'"))
                }
                if label == "tune" {
                    #expect(dump.contains("<hugepages/>"))
                    #expect(dump.contains("<vcpupin vcpu='0' cpuset='2'/>"))
                    #expect(dump.contains("<smbios mode='sysinfo'/>"))
                }
            }
        }
    }

    @Test("xml's blocks pasted where their comments say into each domain give one libvirt accepts and defines")
    func sectionsPaste() throws {
        let validate = try #require(
            program("virt-xml-validate"), "virt-xml-validate missing: scripts/install-deps --test")
        let virsh = try #require(program("virsh"), "virsh missing: scripts/install-deps --test")
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let everything = [
            "--gpu", "gpu:2", "--looking-glass", "--scream", "--evdev", "auto", "--tune",
            "--override", "0000:01:00.0:x-pci-sub-vendor-id=0x1025",
        ]
        for (domain, machine) in [
            ("minimal", "q35"), ("virt-manager", "q35"), ("handmade", "q35"), ("tabs", "q35"), ("tuned", "q35"),
            ("i440fx", "i440fx"),
        ] {
            let sections = try vfioctl(["xml", "--machine", machine, "--force"] + everything + root)
            #expect(sections.status == 0, "\(domain): \(sections.stderr)")
            let original = try String(
                contentsOf: fixtures.appendingPathComponent("domains/\(domain).xml"), encoding: .utf8)
            let pasted = try paste(sections.stdout, into: original)
            let output = directory.appendingPathComponent("\(domain).xml").path
            try pasted.write(toFile: output, atomically: true, encoding: .utf8)
            let check = try run(validate, [output, "domain"])
            #expect(check.status == 0, "\(domain): virt-xml-validate: \(check.stdout)\(check.stderr)\n\(pasted)")
            let name = try #require(pasted.firstMatch(of: /<name>([^<]+)<\/name>/)?.1)
            let defined = try run(virsh, ["-q", "-c", "test:///default", "define \(output); dumpxml \(name)"])
            #expect(defined.status == 0, "\(domain): virsh define: \(defined.stderr)\n\(pasted)")
            #expect(defined.stdout.contains("<shmem name='looking-glass'>"), "\(domain)")
            #expect(defined.stdout.contains("function='0x3'"), "\(domain): the GPU's fourth function")
            #expect(defined.stdout.contains("<vcpupin vcpu='0' cpuset='2'/>"), "\(domain)")
            // The test driver keeps no <qemu:override>: the file libvirt validated has it.
            #expect(pasted.contains("<qemu:property name='x-pci-sub-vendor-id'"), "\(domain)")
        }
    }

    /// Does what each block's comment says, as a person would.
    private func paste(_ sections: String, into domain: String) throws -> String {
        var text = domain
        func element(_ name: String) throws -> Regex<Substring> {
            // The element with its content, or empty: `<cpu …/>`, `<cpu …>…</cpu>` (not `<cputune>`).
            try Regex("[ \\t]*<\(name)(?:\\s[^>]*)?(?:/>|>[\\s\\S]*?</\(name)>)\\n?")
        }
        func insert(_ body: String, before closing: String) throws {
            guard let range = text.range(of: closing, options: .backwards) else {
                // A domain without the element gets one, as a person would make it.
                let name = closing.dropFirst(2).dropLast()
                return try insert("<\(name)>\n" + body + "\n" + closing, before: "</domain>")
            }
            text.replaceSubrange(range, with: body + "\n" + closing)
        }
        for block in sections.components(separatedBy: "\n\n") where !block.isEmpty {
            var lines = block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let comment = lines.removeFirst()
            var body = lines.joined(separator: "\n")
            if let added = comment.firstMatch(of: /on <domain> itself, add the attribute (.+) if it lacks it -->/)?.1 {
                let start = try #require(text.range(of: "<domain "))
                if !text.contains(added) { text.insert(contentsOf: String(added) + " ", at: start.upperBound) }
            } else if let name = comment.firstMatch(of: /in <domain>, in place of its own <([a-zA-Z]+)[^>]*>/)?.1 {
                text.replace(try element(String(name)), with: "")
                try insert(body, before: "</domain>")
            } else if let name = comment.firstMatch(of: /add the children to its own <([a-z:]+)>/)?.1 {
                if text.contains("</\(name)>") {
                    try insert(lines.dropFirst().dropLast().joined(separator: "\n"), before: "</\(name)>")
                } else {
                    try insert(body, before: "</domain>")
                }
            } else if comment.contains("in <os>, in place of its own <smbios>") {
                text.replace(try element("smbios"), with: "")
                try insert(body, before: "</os>")
            } else if let match = comment.firstMatch(of: /index='(\d+)' is the bus='(0x[0-9a-f]+)'/) {
                let used = text.matches(of: /<controller type=["']pci["'] index=["'](\d+)["']/).compactMap { Int($0.1) }
                if used.contains(Int(match.1) ?? -1) {
                    // Taken: the next number the domain does not use, in both places.
                    let free = (used.max() ?? 0) + 1
                    body = body.replacingOccurrences(of: "index='\(match.1)'", with: "index='\(free)'")
                        .replacingOccurrences(
                            of: "bus='\(match.2)'", with: "bus='0x" + String(format: "%02x", free) + "'")
                }
                try insert(body, before: "</devices>")
            } else if let parent = comment.firstMatch(of: /<!-- in <([a-z]+)> -->/)?.1 {
                try insert(body, before: "</\(parent)>")
            } else {
                Issue.record("a comment that says nowhere: \(comment)")
            }
        }
        return text
    }

    @Test("each option adds to the virt-manager domain what its hand-checked golden/ file says, as diff(1) sees it")
    func golden() throws {
        let diff = try #require(program("diff"), "diff missing: apt-get install diffutils")
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = fixtures.appendingPathComponent("domains/virt-manager.xml").path
        for (label, arguments) in options {
            let result = try vfioctl(
                ["attach", input] + arguments + ["--print-xml", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
            #expect(result.status == 0, "\(label): \(result.stderr)")
            let output = directory.appendingPathComponent("\(label).xml").path
            try result.stdout.write(toFile: output, atomically: true, encoding: .utf8)
            let changes = try run(diff, [input, output])
            #expect(changes.status == 1, "\(label): diff(1) found no change or failed: \(changes.stderr)")
            let golden = fixtures.appendingPathComponent("golden/virt-manager-\(label).diff")
            let expected = try String(contentsOf: golden, encoding: .utf8)
            #expect(changes.stdout == expected, "\(label): diff(1) from the domain differs from \(golden.path)")
        }
    }

    @Test("--print-diff shows only added lines for a new GPU, and writes nothing")
    func printDiff() throws {
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("win11.xml").path
        try FileManager.default.copyItem(
            atPath: fixtures.appendingPathComponent("domains/virt-manager.xml").path, toPath: file)
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        let result = try vfioctl(["attach", file, "--gpu", "gpu:2", "--print-diff", "--sysroot", fake.root])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first == "--- \(file)")
        let changed = lines.dropFirst(2).filter { $0.hasPrefix("+") || $0.hasPrefix("-") }
        // 27 lines of devices and 9 of the ownership record in <metadata>.
        #expect(changed.count == 36)
        #expect(changed.allSatisfy { $0.hasPrefix("+") })
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before)
        // The same diff as diff(1) computes from the written result.
        let diffTool = try #require(program("diff"))
        let out = directory.appendingPathComponent("out.xml").path
        _ = try vfioctl(["attach", file, "--gpu", "gpu:2", "-o", out, "--sysroot", fake.root])
        let reference = try run(diffTool, ["-u", file, out])
        let referenceHunks = reference.stdout.split(separator: "\n").dropFirst(2)
        #expect(Array(lines.dropFirst(2)) == Array(referenceHunks))
    }

    @Test("--in-place keeps a .bak of the original and the file's mode; a second run changes nothing")
    func inPlace() throws {
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("gaming.xml").path
        try FileManager.default.copyItem(
            atPath: fixtures.appendingPathComponent("domains/existing-passthrough.xml").path, toPath: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        let first = try vfioctl(["attach", file, "--scream", "--in-place", "--sysroot", fake.root])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("wrote \(file) (the previous version is in \(file).bak)"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file + ".bak")) == original)
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let merged = try Data(contentsOf: URL(fileURLWithPath: file))
        let second = try vfioctl(["attach", file, "--scream", "--in-place", "--sysroot", fake.root])
        #expect(second.status == 0)
        #expect(second.stderr.contains("already up to date"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == merged)
        let detach = try vfioctl(["detach", file, "--scream", "--in-place", "--sysroot", fake.root])
        #expect(detach.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == original)
    }

    @Test("detach of what vfioctl never added changes nothing and says so; attach keeps the user's enabled='no'")
    func notOwned() throws {
        let fake = try FakeHost.guestHost()
        let file = fixtures.appendingPathComponent("domains/virt-manager.xml").path
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let detach = try vfioctl(["detach", file, "--hyperv", "--pm", "--print-diff"] + root)
        #expect(detach.status == 0, "\(detach.stderr)")
        #expect(detach.stdout.isEmpty, "\(detach.stdout)")
        #expect(detach.stderr.contains("note: nothing of vfioctl's to remove for --hyperv (the domain holds no record"))
        #expect(detach.stderr.contains("note: nothing of vfioctl's to remove for --pm"))
        let gpu = try vfioctl(["detach", file, "--gpu", "gpu:2", "--print-diff"] + root)
        #expect(gpu.stdout.isEmpty)
        #expect(gpu.stderr.contains("note: nothing of vfioctl's to remove for --gpu 0000:01:00.0"))
        let pm = try vfioctl(["attach", file, "--pm", "--print-diff"] + root)
        #expect(pm.status == 0)
        #expect(pm.stdout.isEmpty, "both suspend states stay off: \(pm.stdout)")
        #expect(
            pm.stderr.contains(
                "note: the domain's <suspend-to-mem enabled='no'/> (line 42) is kept: set enabled='yes' there"))
    }

    @Test("attach then detach through the command gives the file's bytes back, for every option set")
    func roundTrip() throws {
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for domain in ["virt-manager", "tuned"] {
            let file = directory.appendingPathComponent("\(domain).xml").path
            try FileManager.default.copyItem(
                atPath: fixtures.appendingPathComponent("domains/\(domain).xml").path, toPath: file)
            let original = try Data(contentsOf: URL(fileURLWithPath: file))
            for (label, arguments) in options {
                let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
                let attach = try vfioctl(["attach", file] + arguments + ["--in-place"] + root)
                #expect(attach.status == 0, "\(domain) \(label): \(attach.stderr)")
                let detach = try vfioctl(["detach", file] + arguments + ["--in-place"] + root)
                #expect(detach.status == 0, "\(domain) \(label): \(detach.stderr)")
                #expect(
                    try Data(contentsOf: URL(fileURLWithPath: file)) == original, "\(domain) \(label): not restored")
            }
        }
    }

    @Test(
        "attach waits while another holds the file's lock (its lock file open in /proc/PID/fd), then reads the file anew"
    )
    func waitsForTheLock() throws {
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("win11.xml").path
        try FileManager.default.copyItem(
            atPath: fixtures.appendingPathComponent("domains/virt-manager.xml").path, toPath: file)
        let original = try String(contentsOfFile: file, encoding: .utf8)
        // Held as another run would hold it: the lock file next to the domain, with that run's process ID.
        let lockPath = directory.appendingPathComponent(".win11.xml.lock").path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(flock(fd, LOCK_EX) == 0)

        let process = Process()
        process.executableURL = Bundle.main.bundleURL.appendingPathComponent("vfioctl")
        process.arguments = ["attach", file, "--scream", "--in-place", "--sysroot", fake.root]
        var environment = ProcessInfo.processInfo.environment
        environment["VFIOCTL_LOCK_TIMEOUT"] = "600"
        process.environment = environment
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The run waits with the lock file open: its descriptors name it. Polled until it appears or the run ends;
        // nothing here depends on how long anything takes.
        let descriptors = "/proc/\(process.processIdentifier)/fd"
        var blocked = false
        while !blocked && process.isRunning {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: descriptors)) ?? []
            blocked = names.contains {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/" + $0)) == lockPath
            }
            if !blocked { usleep(2000) }
        }
        #expect(blocked, "the run never opened the lock file")
        #expect(process.isRunning)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == original, "the run wrote while the lock was held")

        // Written while the lock is held: the run must read the file only after it gets the lock.
        let meanwhile = original.replacingOccurrences(
            of: "</domain>", with: "  <!-- written while the lock was held -->\n</domain>")
        try meanwhile.write(toFile: file, atomically: false, encoding: .utf8)
        #expect(flock(fd, LOCK_UN) == 0)
        process.waitUntilExit()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(message)")
        let result = try String(contentsOfFile: file, encoding: .utf8)
        #expect(result.contains("<shmem name='scream-ivshmem'>"))
        #expect(result.contains("<!-- written while the lock was held -->"))
        #expect(try String(contentsOfFile: file + ".bak", encoding: .utf8) == meanwhile)
    }

    @Test("four runs on one file at once all land: each one's change is in the result, no temporary file left")
    func concurrent() throws {
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("win11.xml").path
        try FileManager.default.copyItem(
            atPath: fixtures.appendingPathComponent("domains/virt-manager.xml").path, toPath: file)
        let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl").path
        var processes: [Process] = []
        for arguments in [["--scream"], ["--looking-glass"], ["--hostdev", "02:00.0"], ["--gpu", "gpu:2"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["attach", file] + arguments + ["--in-place", "--sysroot", fake.root]
            process.standardError = FileHandle.nullDevice
            try process.run()
            processes.append(process)
        }
        for process in processes { process.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let result = try String(contentsOfFile: file, encoding: .utf8)
        #expect(result.contains("<shmem name='scream-ivshmem'>"))
        #expect(result.contains("<shmem name='looking-glass'>"))
        #expect(result.contains("function='0x3'/>"))
        #expect(result.contains("<address domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test(
        "bad input: one line, a non-zero exit, and the file untouched",
        arguments: [
            ("not XML", "garbage <<<", 65, ":1:"),
            ("truncated", "<domain type='kvm'>\n  <name>x</name>\n  <devices>\n", 65, ":4:1: Premature end of data"),
            ("not a domain", "<network><name>default</name></network>\n", 65, "the root element is <network>"),
        ])
    func badInput(_ label: String, _ content: String, _ status: Int32, _ message: String) throws {
        let fake = try FakeHost.guestHost()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.xml").path
        try content.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try vfioctl(["attach", file, "--scream", "--in-place", "--sysroot", fake.root])
        #expect(result.status == status, "\(label)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(label): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(label): \(result.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == content)
        #expect(!FileManager.default.fileExists(atPath: file + ".bak"))
    }

    @Test("bad options: no destination, an unknown device, a bad size, a ROM of another card")
    func badOptions() throws {
        let fake = try FakeHost.guestHost()
        let file = fixtures.appendingPathComponent("domains/minimal.xml").path
        let root = ["--sysroot", fake.root]
        let noDestination = try vfioctl(["attach", file, "--scream"] + root)
        #expect(noDestination.status == 64)
        #expect(
            noDestination.stderr.contains("say where the result goes: -o FILE, --in-place, --print-diff or --print-xml")
        )
        let unknown = try vfioctl(["attach", file, "--hostdev", "42:00.0", "--print-xml"] + root)
        #expect(unknown.status == 66)
        #expect(unknown.stderr.hasPrefix("vfioctl: no PCI device matches 0000:42:00.0"))
        let size = try vfioctl(["attach", file, "--looking-glass", "1920by1080", "--print-xml"] + root)
        #expect(size.status == 64, "\(size.stderr)")
        #expect(size.stderr.contains("'1920by1080' is not a resolution"))
        try fake.write("/tmp/other.rom", ROMBuilder.legacy(vendor: 0x1002, device: 0x67df).bytes())
        let rom = try vfioctl(
            ["attach", file, "--gpu", "gpu:2", "--rom", fake.path("/tmp/other.rom"), "--print-xml"] + root)
        #expect(rom.status == 65)
        #expect(rom.stdout.isEmpty)
        #expect(rom.stderr.contains("is not a usable ROM for 0000:01:00.0"))
        let missing = try vfioctl(["attach", "/nonexistent/dom.xml", "--scream", "--print-xml"] + root)
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("/nonexistent/dom.xml does not exist"))
    }

    @Test(
        "xml prints the sections alone; --name suggests the guide's name; the ACL block comes with evdev while qemu.conf lacks a device"
    )
    func sections() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        let lookingGlass = try vfioctl(["xml", "--looking-glass"] + root)
        #expect(lookingGlass.status == 0)
        #expect(
            lookingGlass.stdout
                == "<!-- in <devices> -->\n<shmem name='looking-glass'>\n  <model type='ivshmem-plain'/>\n  <size unit='M'>32</size>\n</shmem>\n"
        )
        // Without a domain the guest's size is unknown: the hugepages note gives the rule, never a made-up count.
        let hugepages = try vfioctl(["xml", "--hugepages"] + root)
        #expect(hugepages.status == 0)
        #expect(
            hugepages.stdout
                == "<!-- in <domain>, in place of its own <memoryBacking> if it has one -->\n<memoryBacking>\n"
                + "  <hugepages/>\n  <nosharepages/>\n</memoryBacking>\n")
        #expect(hugepages.stderr.contains("its MiB ÷ 2"))
        // --json: one object, each fragment with its place; the note among the notes, nothing on stderr.
        let json = try vfioctl(["xml", "--hugepages", "--scream", "--json"] + root)
        #expect(json.status == 0 && json.stderr.isEmpty, "\(json.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        let sections = try #require(object["sections"] as? [[String: String]])
        #expect(
            sections.map { $0["place"] ?? "" } == [
                "in <domain>, in place of its own <memoryBacking> if it has one", "in <devices>",
            ])
        #expect(sections.last?["xml"]?.hasPrefix("<shmem name='scream-ivshmem'>\n") == true)
        #expect((object["notes"] as? [String])?.contains { $0.contains("its MiB ÷ 2") } == true)
        #expect(!hugepages.stderr.contains("MiB need"))
        // qemu.conf already allows both devices: the fragment alone, no ACL block.
        let allowed = try vfioctl(["xml", "--evdev", "auto"] + root)
        #expect(allowed.status == 0)
        #expect(
            allowed.stdout.contains(
                "<!-- in <domain>; add the children to its own <qemu:commandline> if it has one -->\n<qemu:commandline>"
            ))
        #expect(!allowed.stdout.contains("cgroup_device_acl"))
        // Without the mouse in it, the block lists it beside what the file already allows.
        let conf = try String(contentsOfFile: fake.path("/etc/libvirt/qemu.conf"), encoding: .utf8)
        try fake.write(
            "/etc/libvirt/qemu.conf",
            conf.replacingOccurrences(
                of: ",\n    \"/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse\"", with: ""))
        let evdev = try vfioctl(["xml", "--evdev", "auto"] + root)
        #expect(
            evdev.stdout.contains(
                "<!-- in <domain>; add the children to its own <qemu:commandline> if it has one -->\n<qemu:commandline>"
            ))
        #expect(evdev.stdout.contains("cgroup_device_acl"))
        #expect(evdev.stdout.contains("\"/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse\""))
        #expect(evdev.stdout.contains("\"/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd\""))
        let file = fixtures.appendingPathComponent("domains/virt-manager.xml").path
        let named = try vfioctl(["attach", file, "--gpu", "gpu:2", "--tune", "--name", "--print-diff"] + root)
        #expect(named.stderr.contains("suggested name: passthrough_nvidia_win11_x86_64_q35_uefi_"))
    }
}
