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

    @Test("hooks install --copy-binary: --dry-run shows the copy and the block; install and --remove write, take out")
    func install() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root]
        let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl").resolvingSymlinksInPath().path
        let dry = try vfioctl(["hooks", "install", "gaming", "--single-gpu", "--copy-binary", "--dry-run"] + root)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.hasPrefix("# /usr/local/sbin/vfioctl (mode 755): a copy of \(binary)\n"))
        #expect(dry.stdout.contains("# /etc/libvirt/hooks/qemu (mode 755)\n#!/bin/sh\n# >>> vfioctl"))
        #expect(dry.stdout.contains("| '/usr/local/sbin/vfioctl' hooks run -- \"$1\" \"$2\" \"$3\" \"$4\""))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/usr/local/sbin/vfioctl")))
        let install = try vfioctl(
            ["hooks", "install", "gaming", "--hugepages", "--isolate-cpus", "--copy-binary"] + root)
        #expect(install.status == 0, "\(install.stderr)")
        #expect(install.stderr.hasPrefix("wrote /usr/local/sbin/vfioctl\nwrote /etc/vfioctl/hooks/gaming.conf\n"))
        #expect(FileManager.default.contentsEqual(atPath: binary, andPath: fake.path("/usr/local/sbin/vfioctl")))
        let mode =
            try FileManager.default.attributesOfItem(atPath: fake.path("/usr/local/sbin/vfioctl"))[
                .posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        // The copy is now what --binary names, and it passes the same check.
        let again = try vfioctl(
            ["hooks", "install", "gaming", "--hugepages", "--isolate-cpus", "--binary", "/usr/local/sbin/vfioctl"]
                + root)
        #expect(again.stderr.hasPrefix("gaming: hook already in place\n"))
        let remove = try vfioctl(["hooks", "install", "gaming", "--remove"] + root)
        #expect(remove.status == 0)
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        let nothing = try vfioctl(["hooks", "install", "gaming"] + root)
        #expect(nothing.status == 64)
        #expect(nothing.stderr.contains("the hook has nothing to do"))
        #expect(nothing.stderr.contains("--single-gpu, --hugepages or --isolate-cpus"))
        let both = try vfioctl(["hooks", "install", "gaming", "--hugepages", "--copy-binary", "--binary", "/x"] + root)
        #expect(both.status == 64)
    }

    @Test("hooks install --remove refuses while the guest's hook has prepared the host, and says how to proceed")
    func removeWhilePrepared() throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root]
        let install = try vfioctl(["hooks", "install", "gaming", "--hugepages", "--copy-binary"] + root)
        #expect(install.status == 0, "\(install.stderr)")
        try fake.write("/run/vfioctl/hooks/gaming.json", "{}")
        let before = try fake.snapshot()
        let remove = try vfioctl(["hooks", "install", "gaming", "--remove"] + root)
        #expect(remove.status == 75)
        #expect(remove.stderr.contains("gaming's hook has prepared the host and not released it: stop the guest"))
        #expect(FakeHost.differences(before, try fake.snapshot()) == [])
        let forced = try vfioctl(["hooks", "install", "gaming", "--remove", "--force"] + root)
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test("a vfioctl others could change is refused in one line that names the folder and offers --copy-binary")
    func untrustedBinary() throws {
        let fake = try FakeHost.guestHost()
        try fake.write("/home/me/bin/vfioctl", "#!/bin/sh\n")
        for path in ["", "/home", "/home/me/bin/vfioctl"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path(path))
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: fake.path("/home/me"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path("/home/me/bin"))
        let result = try vfioctl(
            ["hooks", "install", "gaming", "--single-gpu", "--binary", "/home/me/bin/vfioctl", "--sysroot", fake.root])
        #expect(result.status == 77)
        #expect(
            result.stderr
                == "vfioctl: libvirt's hook would run vfioctl as root through the folder /home/me, which can be "
                + "changed by its group or others (owner uid \(getuid()), mode 0777); let the hook run a copy only "
                + "root can change: `vfioctl hooks install gaming --single-gpu --copy-binary` installs this vfioctl "
                + "as /usr/local/sbin/vfioctl\n")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        // Under a sysroot, this very binary is not in the tree.
        let missing = try vfioctl(["hooks", "install", "gaming", "--single-gpu", "--sysroot", fake.root])
        #expect(missing.status == 66)
    }

    @Test("a Python hook script is refused in one line with the way out, and left byte for byte")
    func pythonHook() throws {
        let fake = try FakeHost.guestHost()
        let python = "#!/usr/bin/env python3\nimport sys\nprint(sys.argv)\n"
        try fake.write("/etc/libvirt/hooks/qemu", python)
        let result = try vfioctl(
            ["hooks", "install", "gaming", "--hugepages", "--copy-binary", "--sysroot", fake.root])
        #expect(result.status == 75)
        #expect(
            result.stderr
                == "vfioctl: /etc/libvirt/hooks/qemu runs with python3, not sh, bash or dash: vfioctl's block only "
                + "goes into shell scripts, so it is left as it is; move your script into /etc/libvirt/hooks/qemu.d/ "
                + "(libvirt runs those too) and install again, or call `vfioctl hooks run -- GUEST OPERATION PHASE "
                + "SUB` from it yourself with the definition on stdin\n")
        #expect(try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8) == python)
        #expect(!FileManager.default.fileExists(atPath: fake.path("/usr/local/sbin/vfioctl")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/vfioctl/hooks/gaming.conf")))
    }

    @Test("hooks run takes guests named like options after --", arguments: ["-x", "--help", "-"])
    func optionLikeGuest(guest: String) throws {
        let fake = try FakeHost.guestHost()
        let root = ["--sysroot", fake.root]
        try fake.write("/etc/vfioctl/hooks/\(guest).conf", "hugepages=yes\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0\n")
        let other = try vfioctl(["hooks", "run"] + root + ["--", guest, "started", "begin", "-"], input: guestXML)
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stdout.isEmpty)
        let prepare = try vfioctl(["hooks", "run"] + root + ["--", guest, "prepare", "begin", "-"], input: guestXML)
        #expect(prepare.status == 0, "\(prepare.stderr)")
        #expect(prepare.stdout.isEmpty)
        #expect(prepare.stderr.contains("vfioctl hook: \(guest): reserved 32 hugepages of 2048 KiB (0 → 32)"))
        let release = try vfioctl(["hooks", "run"] + root + ["--", guest, "release", "end", "-"], input: guestXML)
        #expect(release.status == 0, "\(release.stderr)")
        #expect(release.stderr.contains("vfioctl hook: \(guest): host restored"))
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
                "vfioctl: gaming pins no vCPUs, so there is nothing to keep the host off (`vfioctl attach --pin` first)\n"
            ))
        let broken = try vfioctl(
            ["hooks", "run", "gaming", "prepare", "begin", "-", "--sysroot", fake.root], input: "not xml")
        #expect(broken.status == 65)
    }
}
