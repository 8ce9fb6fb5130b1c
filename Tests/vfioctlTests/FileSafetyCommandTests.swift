import Foundation
import Glibc
import TestSupport
import Testing

/// The result of a measured run: status, output, and what the run cost.
struct MeasuredResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The child's peak resident set, from `wait4`'s rusage.
    var peakKiB: Int
    var elapsed: Duration
}

/// Runs the built vfioctl with stdin from a file (or /dev/null), stdout and stderr to files, and reaps it with
/// `wait4` to learn its peak memory.
func measured(_ arguments: [String], stdin: String = "/dev/null", environment: [String: String] = [:]) throws
    -> MeasuredResult
{
    let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl").path
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let out = directory.appendingPathComponent("stdout").path
    let err = directory.appendingPathComponent("stderr").path
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var env = ProcessInfo.processInfo.environment
    env["VFIOCTL_SYSROOT"] = nil
    for (key, value) in environment { env[key] = value }
    let argv = ([binary] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var pid: pid_t = 0
    let start = ContinuousClock.now
    let rc = posix_spawn(&pid, binary, &actions, nil, argv, envp)
    try #require(rc == 0, "cannot start \(binary): \(rc)")
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let elapsed = ContinuousClock.now - start
    let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return MeasuredResult(
        status: code, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "", peakKiB: Int(usage.ru_maxrss),
        elapsed: elapsed)
}

/// A temporary folder for one test.
private final class Folder: @unchecked Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
    }

    func read(_ name: String) -> String? { try? String(contentsOfFile: file(name), encoding: .utf8) }

    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    func status(_ name: String) -> stat {
        var info = stat()
        _ = lstat(file(name), &info)
        return info
    }
}

private let domain = """
    <domain type='kvm'>
      <name>win</name>
      <memory unit='GiB'>4</memory>
      <os>
        <type arch='x86_64' machine='q35'>hvm</type>
      </os>
    </domain>

    """

/// Expects a refusal: the status, exactly one line on stderr, nothing on stdout, and a bounded cost.
private func expectRefusal(
    _ result: MeasuredResult, status: Int32, containing text: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == status, "\(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("vfioctl: "), sourceLocation: sourceLocation)
    #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(text), "\(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
    #expect(result.peakKiB < 200 * 1024, "peak RSS \(result.peakKiB) KiB", sourceLocation: sourceLocation)
    #expect(result.elapsed < .seconds(20), "took \(result.elapsed)", sourceLocation: sourceLocation)
}

@Suite struct FileSafetyCommandTests {
    @Test("attach --in-place keeps a user's file as it was: owner, group, mode (no setuid), a .bak")
    func ownerAndMode() throws {
        let fake = try FakeHost.guestHost()
        let folder = try Folder()
        try folder.write("dom.xml", domain)
        #expect(chown(folder.file("dom.xml"), 1000, 1001) == 0)
        #expect(chmod(folder.file("dom.xml"), 0o4640) == 0)
        let result = try measured([
            "attach", folder.file("dom.xml"), "--hugepages", "--in-place", "--sysroot", fake.root,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let info = folder.status("dom.xml")
        #expect(info.st_uid == 1000 && info.st_gid == 1001)
        #expect(info.st_mode & 0o7777 == 0o640)
        #expect(folder.read("dom.xml")?.contains("<hugepages/>") == true)
        #expect(folder.read("dom.xml.bak") == domain)
        #expect(folder.names() == ["dom.xml", "dom.xml.bak"])
    }

    @Test("attach --in-place on a symbolic link writes its target; the link stays, the .bak is the old content")
    func symlinkTarget() throws {
        let fake = try FakeHost.guestHost()
        let folder = try Folder()
        try FileManager.default.createDirectory(atPath: folder.file("real"), withIntermediateDirectories: true)
        try folder.write("real/dom.xml", domain)
        #expect(symlink("real/dom.xml", folder.file("link.xml")) == 0)
        let result = try measured([
            "attach", folder.file("link.xml"), "--hugepages", "--in-place", "--sysroot", fake.root,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(folder.status("link.xml").st_mode & S_IFMT == S_IFLNK)
        #expect(folder.read("real/dom.xml")?.contains("<hugepages/>") == true)
        #expect(folder.status("real/dom.xml.bak").st_mode & S_IFMT == S_IFREG)
        #expect(folder.read("real/dom.xml.bak") == domain)
        #expect(result.stderr.contains("(the previous version is in \(folder.file("real/dom.xml.bak")))"))
    }

    @Test("a CRLF file keeps CRLF on every line, the new ones too")
    func crlf() throws {
        let fake = try FakeHost.guestHost()
        let folder = try Folder()
        try folder.write("dom.xml", domain.replacingOccurrences(of: "\n", with: "\r\n"))
        let result = try measured([
            "attach", folder.file("dom.xml"), "--hugepages", "--in-place", "--sysroot", fake.root,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let text = try #require(folder.read("dom.xml"))
        #expect(text.contains("<hugepages/>"))
        let bytes = Array(text.utf8)
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            #expect(index > 0 && bytes[index - 1] == 0x0D, "bare LF at \(index)")
        }
    }

    @Test("-o with a relative path writes under the working directory, creating its folder")
    func relativeOutput() throws {
        let fake = try FakeHost.guestHost()
        let folder = try Folder()
        try folder.write("dom.xml", domain)
        let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["attach", "dom.xml", "--hugepages", "-o", "sub/out.xml", "--sysroot", fake.root]
        process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(folder.read("sub/out.xml")?.contains("<hugepages/>") == true)
        #expect(!FileManager.default.fileExists(atPath: "/sub"))
        #expect(folder.read("dom.xml") == domain)
    }

    @Test("temporary files a killed run left are cleaned up by the next write")
    func killedRun() throws {
        let fake = try FakeHost.guestHost()
        let folder = try Folder()
        try folder.write("dom.xml", domain)
        try folder.write(".dom.xml.k1LLed", "<domain")
        let result = try measured([
            "attach", folder.file("dom.xml"), "--hugepages", "--in-place", "--sysroot", fake.root,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(folder.names() == ["dom.xml", "dom.xml.bak"])
    }

    @Test("a lock held by another process: a bounded wait, then one line naming it (exit 75), the file untouched")
    func lockHolder() throws {
        let folder = try Folder()
        try folder.write("dom.xml", domain)
        let lock = open(folder.file(".dom.xml.lock"), O_RDWR | O_CREAT, 0o600)
        defer { close(lock) }
        #expect(flock(lock, LOCK_EX) == 0)
        _ = "\(getpid())\n".withCString { Glibc.write(lock, $0, strlen($0)) }
        let result = try measured(
            ["attach", folder.file("dom.xml"), "--pm", "--in-place"], environment: ["VFIOCTL_LOCK_TIMEOUT": "0.5"])
        expectRefusal(result, status: 75, containing: "is locked by process \(getpid())")
        #expect(result.elapsed >= .milliseconds(500))
        #expect(folder.read("dom.xml") == domain)
        #expect(folder.names() == [".dom.xml.lock", "dom.xml"])
    }

    @Test("- reads the domain from standard input and -o - writes the result to standard output")
    func standardStreams() throws {
        let fake = try FakeHost.guestHost()
        let folder = try Folder()
        try folder.write("dom.xml", domain)
        let result = try measured(
            ["attach", "-", "--hugepages", "-o", "-", "--sysroot", fake.root], stdin: folder.file("dom.xml"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("<domain type='kvm'>\n  <name>win</name>"))
        #expect(result.stdout.contains("<hugepages/>"))
        #expect(folder.names() == ["dom.xml"])
        let inPlace = try measured(["attach", "-", "--pm", "--in-place"], stdin: folder.file("dom.xml"))
        #expect(inPlace.status == 64)
        #expect(inPlace.stderr.contains("--in-place needs a file"))
    }

    @Test("a DOCTYPE with nested entities is refused in one line, in bounded time and memory")
    func entityFile() throws {
        let folder = try Folder()
        var text = "<?xml version='1.0'?>\n<!DOCTYPE domain [\n  <!ENTITY a0 'lol'>\n"
        for level in 1...12 {
            text += "  <!ENTITY a\(level) '" + String(repeating: "&a\(level - 1);", count: 10) + "'>\n"
        }
        text += "]>\n<domain type='kvm'><name>&a12;</name><memory>1</memory><os><type>hvm</type></os></domain>\n"
        try folder.write("dom.xml", text)
        let result = try measured(["attach", folder.file("dom.xml"), "--pm", "--in-place"])
        expectRefusal(result, status: 65, containing: "the DOCTYPE declares the entity 'a0'")
        #expect(folder.read("dom.xml") == text)
        #expect(folder.names() == ["dom.xml"])
    }

    @Test("a 100 MB domain file (sparse) is refused by name before it is read")
    func hugeDomain() throws {
        let folder = try Folder()
        let fd = open(folder.file("dom.xml"), O_WRONLY | O_CREAT, 0o644)
        #expect(ftruncate(fd, 100_000_000) == 0)
        close(fd)
        let result = try measured(["attach", folder.file("dom.xml"), "--pm", "--print-xml"])
        expectRefusal(result, status: 65, containing: "\(folder.file("dom.xml")) is 100000000 bytes, more than 16 MiB")
        let device = try measured(["attach", "/dev/zero", "--pm", "--print-xml"])
        expectRefusal(device, status: 65, containing: "/dev/zero is a character device, not a domain file")
        let piped = try measured(["attach", "-", "--pm", "--print-xml"], stdin: "/dev/zero")
        expectRefusal(piped, status: 65, containing: "standard input is a character device")
    }

    @Test("huge memory and page sizes: one line quoting the value, exit 65, no crash")
    func overflow() throws {
        let fake = try FakeHost.guestHost()
        let folder = try Folder()
        let huge = domain.replacingOccurrences(
            of: "<memory unit='GiB'>4</memory>", with: "<memory unit='TiB'>99999999999</memory>")
        try folder.write("dom.xml", huge)
        let attach = try measured([
            "attach", folder.file("dom.xml"), "--hugepages", "--in-place", "--sysroot", fake.root,
        ])
        expectRefusal(attach, status: 65, containing: "<memory unit='TiB'>99999999999</memory> is more than")
        #expect(folder.read("dom.xml") == huge)
        try fake.write("/etc/vfioctl/hooks/win.conf", "hugepages=yes\n")
        let page = domain.replacingOccurrences(
            of: "<os>",
            with:
                "<memoryBacking><hugepages><page size='9223372036854775807' unit='GiB'/></hugepages></memoryBacking>\n  <os>"
        )
        try folder.write("page.xml", page)
        let hook = try measured(
            ["hooks", "run", "win", "prepare", "begin", "-", "--sysroot", fake.root], stdin: folder.file("page.xml"))
        #expect(hook.status == 65, "\(hook.stderr)")
        #expect(hook.stderr.contains("<page size='9223372036854775807' unit='GiB'/> is too large to count"))
        #expect(hook.peakKiB < 200 * 1024)
    }

    @Test("vbios check /dev/zero is refused by name at once")
    func zeroROM() throws {
        let result = try measured(["vbios", "check", "/dev/zero"])
        expectRefusal(result, status: 65, containing: "/dev/zero is a character device, not a ROM file")
    }

    @Test(
        "list: a vendor attribute that is a pipe, too large, or a link to /dev/zero skips the device, naming the file")
    func attributes() throws {
        let fake = try FakeHost.workstation()
        let vendor = fake.path("/sys/devices/pci0000:00/0000:01:00.0/vendor")
        let arguments = ["list", "--sysroot", fake.root, "--pci-ids", fake.pciIDs]
        func check(_ text: String) throws {
            let result = try measured(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            let named = fake.path("/sys/bus/pci/devices/0000:01:00.0/vendor")
            #expect(result.stderr.contains("warning: skipping 0000:01:00.0: \(named)\(text)"), "\(result.stderr)")
            #expect(result.peakKiB < 200 * 1024)
            #expect(result.elapsed < .seconds(20))
        }
        try FileManager.default.removeItem(atPath: vendor)
        #expect(mkfifo(vendor, 0o644) == 0)
        try check(" is a pipe, not a sysfs attribute: refusing to read it")
        try FileManager.default.removeItem(atPath: vendor)
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/vendor", String(repeating: "0", count: 100_000))
        try check(" is 100000 bytes, more than 64 KiB, the limit for a sysfs attribute: refusing to read it")
        // Inside the tree /dev/zero is the tree's (absent here), never the host's device.
        try FileManager.default.removeItem(atPath: vendor)
        #expect(symlink("/dev/zero", vendor) == 0)
        let zero = try measured(arguments)
        #expect(zero.status == 0, "\(zero.stderr)")
        #expect(zero.stderr.contains("0000:01:00.0/vendor is missing"), "\(zero.stderr)")
        #expect(zero.peakKiB < 200 * 1024)
    }

    @Test("persist under a sysroot whose etc/modprobe.d links outside writes nothing outside")
    func sysrootEscape() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/etc/initramfs-tools/modules", "loop\n")
        try fake.write("/usr/sbin/update-initramfs", "")
        try fake.write("/usr/sbin/update-grub", "")
        try fake.write("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n")
        let outside = try Folder()
        #expect(symlink(outside.path, fake.path("/etc/modprobe.d")) == 0)
        let result = try measured(["persist", "gpu:2", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(outside.names().isEmpty)
        #expect(result.status != 0 || FileManager.default.fileExists(atPath: fake.path(outside.path + "/vfioctl.conf")))
    }

    @Test("list --pci-ids with a file that does not exist is an error, exit 66")
    func missingPCIIDs() throws {
        let fake = try FakeHost.workstation()
        let result = try measured(["list", "--pci-ids", "/nonexistent/pci.ids", "--sysroot", fake.root])
        expectRefusal(result, status: 66, containing: "cannot read the pci.ids file /nonexistent/pci.ids")
    }
}
