import Foundation
import TestSupport
import Testing

@Suite struct HookCommandTests {
    private let guestXML = """
        <domain type='kvm'>
          <name>gaming</name>
          <memory unit='MiB'>64</memory>
          <cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='10'/></cputune>
          <os><type>hvm</type></os>
        </domain>

        """

    @Test("hooks install --dry-run shows the block with this binary's path; install and --remove write and take out")
    func install() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root]
        let dry = try vfioctl(["hooks", "install", "gaming", "--single-gpu", "--dry-run"] + root)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("# /etc/libvirt/hooks/qemu (mode 755)\n#!/bin/sh\n# >>> vfioctl"))
        let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl").resolvingSymlinksInPath().path
        #expect(dry.stdout.contains("\(binary) hooks run \"$1\" \"$2\" \"$3\" \"$4\""))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        let install = try vfioctl(["hooks", "install", "gaming", "--hugepages", "--isolate-cpus"] + root)
        #expect(install.status == 0)
        #expect(install.stderr.contains("wrote /etc/vfioctl/hooks/gaming.conf"))
        #expect(FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        let remove = try vfioctl(["hooks", "install", "gaming", "--remove"] + root)
        #expect(remove.status == 0)
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        let nothing = try vfioctl(["hooks", "install", "gaming"] + root)
        #expect(nothing.status == 64)
        #expect(nothing.stderr.contains("say what the hook does"))
    }

    @Test("hooks run: hugepages and CPU isolation through the sysroot's own files and systemctl, then back")
    func run() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root]
        try fake.write("/etc/vfioctl/hooks/gaming.conf", "hugepages=yes\nisolate-cpus=yes\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0\n")
        let log = fake.path("/systemctl.log")
        try fake.write("/usr/bin/systemctl", "#!/bin/sh\necho \"$@\" >> \(log)\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path("/usr/bin/systemctl"))

        let other = try vfioctl(["hooks", "run", "gaming", "started", "begin", "-"] + root, input: guestXML)
        #expect(other.status == 0)
        #expect(other.stderr.isEmpty)
        let prepare = try vfioctl(["hooks", "run", "gaming", "prepare", "begin", "-"] + root, input: guestXML)
        #expect(prepare.status == 0, "\(prepare.stderr)")
        #expect(prepare.stderr.contains("vfioctl hook: gaming: reserved 32 hugepages of 2048 KiB (0 → 32)"))
        let count = fake.path("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
        #expect(try String(contentsOfFile: count, encoding: .utf8) == "32")
        #expect(
            try String(contentsOfFile: log, encoding: .utf8).contains(
                "set-property --runtime -- system.slice AllowedCPUs=0-1,3-9,11-15"))
        let release = try vfioctl(["hooks", "run", "gaming", "release", "end", "-"] + root, input: guestXML)
        #expect(release.status == 0, "\(release.stderr)")
        #expect(try String(contentsOfFile: count, encoding: .utf8) == "0")
        #expect(
            try String(contentsOfFile: log, encoding: .utf8).hasSuffix(
                "set-property --runtime -- system.slice AllowedCPUs=0-15\n"))
    }

    @Test("a host that cannot be prepared: one line, a non-zero exit, nothing left changed")
    func failure() throws {
        let fake = try FakeHost.guestHost()
        try fake.write("/etc/vfioctl/hooks/gaming.conf", "isolate-cpus=yes\n")
        let result = try vfioctl(
            ["hooks", "run", "gaming", "prepare", "begin", "-", "--sysroot", fake.root],
            input: "<domain type='kvm'><name>gaming</name></domain>")
        #expect(result.status != 0)
        #expect(
            result.stderr.hasSuffix(
                "vfioctl: gaming pins no vCPUs, so there is nothing to keep the host off: `vfioctl attach --pin` first\n"
            ))
        let broken = try vfioctl(
            ["hooks", "run", "gaming", "prepare", "begin", "-", "--sysroot", fake.root], input: "not xml")
        #expect(broken.status == 65)
    }
}
