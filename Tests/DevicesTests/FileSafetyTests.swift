import CLinux
import Foundation
import Glibc
import SystemPackage
import TestSupport
import Testing

@testable import Devices

/// A temporary folder, removed when the value is released.
final class ScratchDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-files-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws {
        try FileManager.default.createDirectory(
            atPath: (file(name) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
        #expect(chmod(file(name), mode) == 0)
    }

    func read(_ name: String) -> String? { try? String(contentsOfFile: file(name), encoding: .utf8) }

    func status(_ name: String) -> stat? {
        var info = stat()
        return lstat(file(name), &info) == 0 ? info : nil
    }

    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}

@Suite struct AtomicFileTests {
    @Test("a user's file keeps its owner, group and permissions when root rewrites it")
    func keepsOwner() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("dom.xml", "old\n", mode: 0o640)
        #expect(chown(scratch.file("dom.xml"), 1000, 1001) == 0 || geteuid() != 0)
        let before = try #require(scratch.status("dom.xml"))
        let outcome = try AtomicFile.write(Array("new\n".utf8), to: FilePath(scratch.file("dom.xml")))
        let after = try #require(scratch.status("dom.xml"))
        #expect(scratch.read("dom.xml") == "new\n")
        #expect(after.st_uid == before.st_uid && after.st_gid == before.st_gid)
        #expect(after.st_mode & 0o7777 == 0o640)
        #expect(outcome.backup == FilePath(scratch.file("dom.xml.bak")))
        #expect(scratch.read("dom.xml.bak") == "old\n")
    }

    @Test("setuid, setgid and sticky bits are never carried over or added")
    func dropsSpecialBits() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("dom.xml", "old\n", mode: 0o7755)
        try AtomicFile.write(Array("new\n".utf8), to: FilePath(scratch.file("dom.xml")), mode: 0o4755)
        #expect(try #require(scratch.status("dom.xml")).st_mode & 0o7777 == 0o755)
        try AtomicFile.write(Array("x".utf8), to: FilePath(scratch.file("new.xml")), mode: 0o6644)
        #expect(try #require(scratch.status("new.xml")).st_mode & 0o7777 == 0o644)
    }

    @Test("a symbolic link stays a link: its target gets the new content, the backup is a copy of the old")
    func followsLinks() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("real/dom.xml", "old\n")
        #expect(symlink("real/dom.xml", scratch.file("link.xml")) == 0)
        let outcome = try AtomicFile.write(Array("new\n".utf8), to: FilePath(scratch.file("link.xml")))
        #expect(try #require(scratch.status("link.xml")).st_mode & S_IFMT == S_IFLNK)
        #expect(scratch.read("real/dom.xml") == "new\n")
        #expect(outcome.backup == FilePath(scratch.file("real/dom.xml.bak")))
        #expect(try #require(scratch.status("real/dom.xml.bak")).st_mode & S_IFMT == S_IFREG)
        #expect(scratch.read("real/dom.xml.bak") == "old\n")
        #expect(scratch.names() == ["link.xml", "real"])
    }

    @Test("temporary files of a killed run are removed; one a live writer holds is not")
    func removesLeftovers() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("dom.xml", "old\n")
        try scratch.write(".dom.xml.Ab12Cd", "half a file")
        try scratch.write(".dom.xml.LIVE01", "being written")
        try scratch.write(".other.xml.Ab12Cd", "not ours")
        let live = open(scratch.file(".dom.xml.LIVE01"), O_RDONLY)
        defer { close(live) }
        #expect(flock(live, LOCK_EX) == 0)
        try AtomicFile.write(Array("new\n".utf8), to: FilePath(scratch.file("dom.xml")))
        #expect(scratch.names() == [".dom.xml.LIVE01", ".other.xml.Ab12Cd", "dom.xml", "dom.xml.bak"])
    }

    @Test("a folder that is a link out of the sysroot gets nothing written outside")
    func confinedWrite() throws {
        let fake = try FakeHost()
        let outside = try ScratchDirectory()
        #expect(symlink(outside.path, fake.path("/etc/modprobe.d")) == 0)
        let target = fake.host.files.path(FilePath("/etc/modprobe.d/vfioctl.conf"))
        #expect(throws: DevicesError.self) {
            try AtomicFile.write(Array("options vfio-pci\n".utf8), to: target, within: fake.host.sysroot)
        }
        #expect(outside.names().isEmpty)
        // A link to a file outside is followed inside the tree instead.
        try outside.write("grub", "GRUB_CMDLINE_LINUX=\"\"\n")
        try FileManager.default.createDirectory(atPath: fake.path("/etc/default"), withIntermediateDirectories: true)
        #expect(symlink(outside.file("grub"), fake.path("/etc/default/grub")) == 0)
        try AtomicFile.write(
            Array("changed\n".utf8), to: fake.host.files.path(FilePath("/etc/default/grub")), backup: false,
            within: fake.host.sysroot)
        #expect(outside.read("grub") == "GRUB_CMDLINE_LINUX=\"\"\n")
        #expect(try String(contentsOfFile: fake.path(outside.file("grub")), encoding: .utf8) == "changed\n")
    }

    @Test("the lock waits a bounded time, then names the process that holds it")
    func lockHolder() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("dom.xml", "old\n")
        let lock = open(scratch.file(".dom.xml.lock"), O_RDWR | O_CREAT, 0o600)
        defer { close(lock) }
        #expect(flock(lock, LOCK_EX) == 0)
        _ = "\(getpid())\n".withCString { Glibc.write(lock, $0, strlen($0)) }
        let start = ContinuousClock.now
        let error = #expect(throws: DevicesError.self) {
            try DomainFile.withLock(on: scratch.file("dom.xml"), timeout: .milliseconds(200)) {}
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("is locked by process \(getpid())") == true)
        #expect(scratch.read("dom.xml") == "old\n")
        flock(lock, LOCK_UN)
        let ran = try DomainFile.withLock(on: scratch.file("dom.xml"), timeout: .milliseconds(200)) { true }
        #expect(ran)
        #expect(scratch.names() == ["dom.xml"])
    }
}

@Suite struct BoundedInputTests {
    @Test("a DOCTYPE that declares entities is refused in one line, before any expansion")
    func entities() throws {
        var laughs = "<?xml version='1.0'?>\n<!DOCTYPE domain [\n  <!ENTITY a0 'ha'>\n"
        for level in 1...20 {
            laughs += "  <!ENTITY a\(level) '" + String(repeating: "&a\(level - 1);", count: 10) + "'>\n"
        }
        laughs += "]>\n<domain type='kvm'><name>&a20;</name></domain>\n"
        let error = #expect(throws: DevicesError.self) {
            try XMLDocument(bytes: Array(laughs.utf8), source: "laughs.xml")
        }
        #expect(error?.code == .invalidData)
        #expect(
            error?.message
                == "laughs.xml:3: the DOCTYPE declares the entity 'a0': domain XML never needs one (remove the DOCTYPE)"
        )
    }

    @Test("an element's text is its own, not its children's")
    func ownText() throws {
        let document = try XMLDocument(
            bytes: Array("<domain>a<memory unit='KiB'>1024</memory>b<![CDATA[c]]></domain>".utf8), source: "t")
        #expect(document.root.text == "abc")
        #expect(document.root.child("memory")?.text == "1024")
    }

    @Test(
        "memory and page sizes that do not fit in 64 bits are refused, quoting the element",
        arguments: [
            ("<memory unit='TiB'>99999999999</memory>", "<memory unit='TiB'>99999999999</memory> is more than"),
            ("<memory>99999999999999999999999</memory>", "<memory unit='KiB'>99999999999999999999999</memory> is too"),
            ("<memory unit='GiB'>-1</memory>", "<memory unit='GiB'>-1</memory> is negative"),
        ])
    func memoryOverflow(element: String, message: String) throws {
        let document = try XMLDocument(bytes: Array("<domain>\(element)</domain>".utf8), source: "t")
        let error = #expect(throws: DevicesError.self) { try DomainMerger.memoryKiB(of: document.root) }
        #expect(error?.code == .invalidData)
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
    }

    @Test("a page size that overflows or is not positive is refused", arguments: ["9223372036854775807", "0", "-2"])
    func pageOverflow(size: String) throws {
        let document = try XMLDocument(bytes: Array("<page size='\(size)' unit='GiB'/>".utf8), source: "t")
        let error = #expect(throws: DevicesError.self) { try DomainMerger.pageKiB(of: document.root) }
        #expect(error?.message.hasPrefix("<page size='\(size)' unit='GiB'/> is ") == true)
    }

    @Test("a character device is refused by name, without reading it")
    func characterDevice() throws {
        let error = #expect(throws: DevicesError.self) {
            try ReadLimit.readFile(FilePath("/dev/zero"), limit: ReadLimit.rom, what: "a ROM file")
        }
        #expect(error?.message == "/dev/zero is a character device, not a ROM file: refusing to read it")
    }

    @Test("a sysfs attribute larger than 64 KiB, or a pipe, is refused by name")
    func attributes() throws {
        let fake = try FakeHost()
        let files = fake.host.files
        try fake.write("/sys/devices/big", [UInt8](repeating: 0x41, count: 70_000))
        let big = #expect(throws: DevicesError.self) { try files.read(files.path(FilePath("/sys/devices/big"))) }
        #expect(
            big?.message
                == "\(fake.path("/sys/devices/big")) is 70000 bytes, more than 64 KiB, the limit for a sysfs attribute: refusing to read it"
        )
        #expect(mkfifo(fake.path("/sys/devices/fifo"), 0o644) == 0)
        let fifo = #expect(throws: DevicesError.self) { try files.read(files.path(FilePath("/sys/devices/fifo"))) }
        #expect(fifo?.message.contains("is a pipe, not a sysfs attribute") == true)
        // Within the limit, and outside /sys, larger files are fine.
        try fake.write("/proc/cpuinfo", String(repeating: "processor\t: 0\n", count: 10_000))
        #expect(try files.read(files.path(HostPaths.cpuinfo))?.count == 140_000)
    }

    @Test("links in the sysroot resolve inside it: an absolute link to a host file reads the tree's")
    func confinedRead() throws {
        let fake = try FakeHost()
        let outside = try ScratchDirectory()
        try outside.write("secret", "host file\n")
        #expect(symlink(outside.file("secret"), fake.path("/etc/link")) == 0)
        #expect(symlink("../../../../../../../../../" + outside.file("secret"), fake.path("/etc/climb")) == 0)
        let files = fake.host.files
        #expect(try files.read(files.path(FilePath("/etc/link"))) == nil)
        #expect(try files.read(files.path(FilePath("/etc/climb"))) == nil)
        try fake.write(outside.file("secret"), "tree file\n")
        #expect(try files.readText(files.path(FilePath("/etc/link"))) == "tree file")
        #expect(files.realPath(files.path(FilePath("/etc/climb"))) == FilePath(fake.path(outside.file("secret"))))
    }

    @Test(
        "a read through a link with `..` succeeds while another thread renames files (a raced openat2 falls back to a walk inside the root)"
    )
    func confinedReadDuringRenames() throws {
        let fake = try FakeHost()
        try fake.write("/sys/bus/pci/drivers/nvidia/new_id", "x\n")
        #expect(symlink("../../../sys/bus/pci/drivers/nvidia", fake.path("/etc/driver")) == 0)
        let scratch = try ScratchDirectory()
        try scratch.write("a", "a")
        let stop = ManagedAtomicFlag()
        let renamer = Thread {
            var flip = false
            while !stop.isSet {
                let (from, to) = flip ? ("b", "a") : ("a", "b")
                _ = rename(scratch.file(from), scratch.file(to))
                flip.toggle()
            }
        }
        renamer.start()
        defer { stop.set() }
        let files = fake.host.files
        var failures: [String] = []
        for _ in 0..<2000 {
            do {
                let text = try files.readText(files.path(FilePath("/etc/driver/new_id")))
                if text != "x" { failures.append("read \(text.map { "\"\($0)\"" } ?? "nothing")") }
            } catch {
                failures.append("\(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failed reads, the first: \(failures.first ?? "")")
    }

    @Test("the component walk (openat2's fallback) keeps links, `..` and absolute targets inside the root")
    func walkInRoot() throws {
        let fake = try FakeHost()
        let outside = try ScratchDirectory()
        try outside.write("secret", "host file\n")
        try fake.write(outside.file("secret"), "tree file\n")
        try fake.write("/sys/bus/pci/drivers/nvidia/new_id", "x\n")
        #expect(symlink(outside.file("secret"), fake.path("/etc/link")) == 0)
        #expect(symlink("../../../../../../../../.." + outside.file("secret"), fake.path("/etc/climb")) == 0)
        #expect(symlink("../sys/bus/pci/drivers/nvidia", fake.path("/etc/driver")) == 0)
        #expect(symlink("loop", fake.path("/etc/loop")) == 0)
        let root = open(fake.root, CLINUX_O_PATH | O_DIRECTORY)
        defer { close(root) }
        func read(_ path: String, _ flags: Int32 = O_RDONLY) -> String? {
            let fd = clinux_walk_in_root(root, path, flags, 0o600)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            return String(decoding: buffer[0..<max(n, 0)], as: UTF8.self)
        }
        #expect(read("etc/link") == "tree file\n")
        #expect(read("etc/climb") == "tree file\n")
        #expect(read("/../../etc/driver/new_id") == "x\n")
        #expect(read("etc/driver/../../../../../etc/driver/new_id") == "x\n")
        #expect(read("etc/loop") == nil && errno == ELOOP)
        #expect(read("etc/missing") == nil && errno == ENOENT)
        #expect(read("etc/link", O_RDONLY | O_NOFOLLOW) == nil && errno == ELOOP)
        let created = clinux_walk_in_root(root, "etc/driver/created", O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(created >= 0)
        close(created)
        #expect(FileManager.default.fileExists(atPath: fake.path("/sys/bus/pci/drivers/nvidia/created")))
        #expect(try String(contentsOfFile: outside.file("secret"), encoding: .utf8) == "host file\n")
    }

    @Test("under another sysroot no host program is run to load a module")
    func noHostModprobe() throws {
        let fake = try FakeHost()
        let error = #expect(throws: DevicesError.self) { try fake.host.io.loadModule("vfio-pci") }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("the running host's modprobe is never run for another root") == true)
    }

    @Test("a pci.ids file that cannot be read is an error naming it")
    func missingPCIIDs() throws {
        let fake = try FakeHost.workstation()
        let host = Host(sysroot: fake.host.sysroot, pciIDsPath: "/nonexistent/pci.ids")
        let error = withExtendedLifetime(fake) { #expect(throws: DevicesError.self) { try host.report() } }
        #expect(error?.code == .notFound)
        #expect(error?.message == "cannot read the pci.ids file /nonexistent/pci.ids: no such file or directory")
    }
}

/// A flag one thread sets and another polls.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
