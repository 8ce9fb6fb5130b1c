import Foundation
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// `scripts/install`: the binary writes its own manual page and completions, so a host without Swift installs all.
@Suite struct InstallTests {
    private let script = repository.appendingPathComponent("scripts/install").path
    private let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl").path

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Every file an install puts under `root`, relative to it.
    private func files(under root: URL) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(
                atPath: root.appendingPathComponent(path).path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    /// The names of the commands `--help` lists, groups with their members (`vbios dump`).
    private func commands() throws -> [String] {
        func listed(_ help: String) -> [String] {
            guard let start = help.range(of: "SUBCOMMANDS:") else { return [] }
            return help[start.upperBound...].split(separator: "\n").compactMap { line in
                // A command's line starts with two spaces and its name; continuation lines with more spaces.
                guard line.hasPrefix("  "), !line.hasPrefix("   "),
                    let word = line.split(separator: " ").first, word.first?.isLetter == true
                else { return nil }
                return String(word)
            }.filter { $0 != "See" }
        }
        var names: [String] = []
        for command in listed(try vfioctl(["--help"]).stdout) {
            let members = listed(try vfioctl([command, "--help"]).stdout)
            names += members.isEmpty ? [command] : members.map { "\(command) \($0)" }
        }
        return names
    }

    @Test(
        "install puts the binary, a manual page man(1) reads without a warning that names every command, and three completions; uninstall removes them"
    )
    func installAndUninstall() throws {
        let stage = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: stage) }
        let install = try run(script, ["--destdir", stage.path, "--prefix", "/usr", "--binary", binary])
        #expect(install.status == 0, "\(install.stderr)")
        let root = stage.appendingPathComponent("usr")
        #expect(
            files(under: root) == [
                "bin/vfioctl", "share/bash-completion/completions/vfioctl",
                "share/fish/vendor_completions.d/vfioctl.fish", "share/man/man8/vfioctl.8",
                "share/zsh/site-functions/_vfioctl",
            ])
        #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("bin/vfioctl").path))

        let page = root.appendingPathComponent("share/man/man8/vfioctl.8").path
        let man = try #require(["/usr/bin/man", "/bin/man"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let rendered = try run(
            man, ["--warnings", "-l", page], environment: ["MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""])
        #expect(rendered.status == 0)
        #expect(rendered.stderr.isEmpty, "man(1) warns: \(rendered.stderr)")
        let text = rendered.stdout
        #expect(text.contains("VFIOCTL(8)"))
        let names = try commands()
        #expect(names.count >= 20 && names.contains("vbios dump") && names.contains("mdev create"), "\(names)")
        for name in names {
            #expect(text.contains("vfioctl \(name)\n"), "the manual page has no section for vfioctl \(name)")
        }
        // The global options are described once, and taken before or after the command.
        for option in ["--sysroot", "--connect", "--json", "--quiet", "--verbose"] {
            #expect(text.contains(option), "\(option)")
        }

        let bash = try run(
            "/bin/bash", ["-n", root.appendingPathComponent("share/bash-completion/completions/vfioctl").path])
        #expect(bash.status == 0, "bash -n: \(bash.stderr)")

        let uninstall = try run(script, ["--destdir", stage.path, "--prefix", "/usr", "--uninstall"])
        #expect(uninstall.status == 0)
        #expect(files(under: root).isEmpty)
    }

    @Test("from an unpacked archive (install and vfioctl side by side) install takes the binary beside it")
    func archiveLayout() throws {
        let stage = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: stage) }
        let unpacked = stage.appendingPathComponent("vfioctl-dist")
        try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: script, toPath: unpacked.appendingPathComponent("install").path)
        try FileManager.default.copyItem(atPath: binary, toPath: unpacked.appendingPathComponent("vfioctl").path)
        let result = try run(
            unpacked.appendingPathComponent("install").path, ["--destdir", stage.appendingPathComponent("root").path])
        #expect(result.status == 0, "\(result.stderr)")
        let installed = stage.appendingPathComponent("root/usr/local/bin/vfioctl").path
        #expect(FileManager.default.contentsEqual(atPath: installed, andPath: binary))
        #expect(files(under: stage.appendingPathComponent("root/usr/local")).count == 5)
    }

    @Test("a binary that does not run, a missing binary and a relative prefix install nothing, each with one line")
    func refusals() throws {
        let stage = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: stage) }
        let broken = stage.appendingPathComponent("broken")
        try "#!/bin/sh\necho 'cannot open shared object file' >&2\nexit 127\n".write(
            to: broken, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: broken.path)
        let cases: [([String], Int32, String)] = [
            (["--binary", broken.path], 69, "does not run here: cannot open shared object file"),
            (["--binary", stage.appendingPathComponent("absent").path], 66, "no vfioctl binary at"),
            (["--binary", binary, "--prefix", "usr"], 64, "not an absolute path"),
            (["--bogus"], 64, "unknown option '--bogus'"),
        ]
        for (arguments, status, words) in cases {
            let result = try run(script, ["--destdir", stage.appendingPathComponent("root").path] + arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(
                result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(words), "\(result.stderr)")
            #expect(files(under: stage.appendingPathComponent("root")).isEmpty, "\(arguments) installed something")
        }
    }
}
