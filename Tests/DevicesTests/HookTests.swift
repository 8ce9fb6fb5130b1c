import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct HookTests {
    /// A guest passing the workstation's Turing card (four functions), pinned to CPUs 2-7 and 10-15.
    private let guestXML = """
        <domain type='kvm'>
          <name>gaming</name>
          <memory unit='GiB'>16</memory>
          <vcpu placement='static'>12</vcpu>
          <cputune>
            <vcpupin vcpu='0' cpuset='2'/>
            <vcpupin vcpu='1' cpuset='3-7'/>
            <vcpupin vcpu='2' cpuset='10-15'/>
          </cputune>
          <os><type arch='x86_64' machine='q35'>hvm</type></os>
          <devices>
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
            </hostdev>
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x1'/></source>
            </hostdev>
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x2'/></source>
            </hostdev>
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x3'/></source>
            </hostdev>
          </devices>
        </domain>

        """

    /// The workstation as a desktop: a display manager, the NVIDIA driver stack, consoles, an EFI framebuffer.
    private func desktop(_ config: HookConfig) throws -> FakeHost {
        let fake = try FakeHost.guestHost()
        try fake.write("/usr/bin/systemctl", "")
        for module in ["nvidia", "nvidia_modeset", "nvidia_drm"] {
            try fake.write("/sys/module/\(module)/refcnt", "1\n")
        }
        try fake.write("/sys/class/vtconsole/vtcon0/bind", "1\n")
        try fake.write("/sys/class/vtconsole/vtcon1/bind", "0\n")
        try fake.write(
            "/sys/bus/platform/drivers/efi-framebuffer/efi-framebuffer.0/modalias", "platform:efi-framebuffer\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0\n")
        try fake.write("/etc/vfioctl/hooks/gaming.conf", config.text)
        return fake
    }

    private func driver(_ fake: FakeHost, _ address: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: fake.path("/sys/bus/pci/devices/\(address)/driver")))
            .map { ($0 as NSString).lastPathComponent }
    }

    private func run(
        _ fake: FakeHost, _ operation: String, _ phase: String, kernel: FakeKernel, commands: FakeCommands
    ) throws -> [String] {
        var lines: [String] = []
        let box = LineBox()
        try fake.host.runHook(
            guest: "gaming", operation: operation, phase: phase, domainXML: Array(guestXML.utf8), io: kernel,
            commands: commands
        ) { box.append($0) }
        lines = box.lines
        return lines
    }

    @Test(
        "single GPU: stop the display manager, release consoles and framebuffer, unload the driver, bind; then exactly back"
    )
    func singleGPU() throws {
        let fake = try desktop(HookConfig(singleGPU: true))
        let kernel = try FakeKernel(host: fake)
        let commands = FakeCommands(host: fake)
        _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands)
        #expect(
            commands.log == [
                "systemctl is-active --quiet display-manager.service", "systemctl stop display-manager.service",
                "modprobe -r nvidia_drm", "modprobe -r nvidia_modeset", "modprobe -r nvidia",
            ])
        #expect(kernel.writes.prefix(2) == ["vtcon0/bind <- 0", "efi-framebuffer/unbind <- efi-framebuffer.0"])
        for function in ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"] {
            #expect(driver(fake, function) == "vfio-pci")
        }
        #expect(FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/hooks/gaming.json")))

        let before = kernel.writes.count
        _ = try run(fake, "release", "end", kernel: kernel, commands: commands)
        #expect(
            commands.log.suffix(4) == [
                "modprobe nvidia", "modprobe nvidia_modeset", "modprobe nvidia_drm",
                "systemctl start display-manager.service",
            ])
        #expect(
            ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"]
                == ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"].map { driver(fake, $0) ?? "none" })
        let releaseWrites = Array(kernel.writes[before...])
        #expect(releaseWrites.suffix(2) == ["efi-framebuffer/bind <- efi-framebuffer.0", "vtcon0/bind <- 1"])
        #expect(!FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/hooks/gaming.json")))

        // A second release (libvirt after a crash, or twice) changes nothing.
        let writes = kernel.writes.count
        let calls = commands.log.count
        let lines = try run(fake, "release", "end", kernel: kernel, commands: commands)
        #expect(lines == ["gaming: nothing to release"])
        #expect(kernel.writes.count == writes)
        #expect(commands.log.count == calls)
    }

    @Test("a driver that will not unload stops the start and undoes every earlier step")
    func singleGPUFailure() throws {
        let fake = try desktop(HookConfig(singleGPU: true))
        let kernel = try FakeKernel(host: fake)
        let commands = FakeCommands(host: fake)
        commands.answers["modprobe -r nvidia"] = (1, "modprobe: FATAL: Module nvidia is in use.\n")
        #expect {
            _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands)
        } throws: { error in
            (error as? DevicesError)?.message
                == "cannot unload nvidia for gaming: modprobe: FATAL: Module nvidia is in use. (something still uses the GPU)"
        }
        #expect(
            commands.log.suffix(3) == [
                "modprobe nvidia_modeset", "modprobe nvidia_drm", "systemctl start display-manager.service",
            ])
        #expect(kernel.writes.suffix(2) == ["efi-framebuffer/bind <- efi-framebuffer.0", "vtcon0/bind <- 1"])
        #expect(driver(fake, "0000:01:00.0") == "nvidia")
        #expect(FileManager.default.fileExists(atPath: fake.path("/sys/module/nvidia_drm")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/hooks/gaming.json")))
    }

    @Test("hugepages: compact, reserve what the guest needs, give back; too few pages stop the start")
    func hugepages() throws {
        let fake = try desktop(HookConfig(hugepages: true))
        let kernel = try FakeKernel(host: fake)
        let commands = FakeCommands(host: fake)
        _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands)
        #expect(
            kernel.writes == ["vm/drop_caches <- 3", "vm/compact_memory <- 1", "hugepages-2048kB/nr_hugepages <- 8192"])
        let count = fake.path("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
        #expect(try String(contentsOfFile: count, encoding: .utf8) == "8192\n")
        _ = try run(fake, "release", "end", kernel: kernel, commands: commands)
        #expect(try String(contentsOfFile: count, encoding: .utf8) == "0\n")

        kernel.hugepageLimit = 100
        #expect {
            _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands)
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix(
                "could reserve only 100 of 8192 hugepages of 2048 KiB for gaming") == true
        }
        #expect(try String(contentsOfFile: count, encoding: .utf8) == "0\n")
    }

    @Test("isolate CPUs: host slices get the CPUs the guest does not pin, and all of them back")
    func isolate() throws {
        let fake = try desktop(HookConfig(isolateCPUs: true))
        let kernel = try FakeKernel(host: fake)
        let commands = FakeCommands(host: fake)
        _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands)
        #expect(
            commands.log == [
                "systemctl set-property --runtime -- system.slice AllowedCPUs=0-1,8-9",
                "systemctl set-property --runtime -- user.slice AllowedCPUs=0-1,8-9",
                "systemctl set-property --runtime -- init.scope AllowedCPUs=0-1,8-9",
            ])
        _ = try run(fake, "release", "end", kernel: kernel, commands: commands)
        #expect(
            commands.log.suffix(3) == [
                "systemctl set-property --runtime -- init.scope AllowedCPUs=0-15",
                "systemctl set-property --runtime -- user.slice AllowedCPUs=0-15",
                "systemctl set-property --runtime -- system.slice AllowedCPUs=0-15",
            ])
    }

    @Test("other operations, other guests and a guest without pins")
    func otherCalls() throws {
        let fake = try desktop(HookConfig(isolateCPUs: true))
        let kernel = try FakeKernel(host: fake)
        let commands = FakeCommands(host: fake)
        for (operation, phase) in [("start", "begin"), ("started", "begin"), ("stopped", "end"), ("prepare", "end")] {
            _ = try run(fake, operation, phase, kernel: kernel, commands: commands)
        }
        try fake.host.runHook(
            guest: "other", operation: "prepare", phase: "begin", domainXML: [], io: kernel, commands: commands
        ) { _ in }
        #expect(commands.log.isEmpty)
        #expect(kernel.writes.isEmpty)
        #expect {
            try fake.host.runHook(
                guest: "gaming", operation: "prepare", phase: "begin",
                domainXML: Array("<domain type='kvm'><name>gaming</name></domain>".utf8), io: kernel, commands: commands
            ) { _ in }
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix("gaming pins no vCPUs") == true
        }
        #expect {
            try fake.host.runHook(
                guest: "../etc", operation: "prepare", phase: "begin", domainXML: [], io: kernel, commands: commands
            ) { _ in }
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix("'../etc' cannot be a guest name here") == true
        }
    }

    @Test(
        "install writes the configuration and the dispatcher block; remove gives the user's script back byte for byte")
    func install() throws {
        let fake = try FakeHost.guestHost()
        let host = fake.host
        let plan = try host.planHookInstall(
            guest: "gaming", config: HookConfig(singleGPU: true), binary: "/usr/local/bin/vfioctl", remove: false)
        _ = try host.applyHookInstall(plan)
        let script = try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8)
        #expect(script.hasPrefix("#!/bin/sh\n# >>> vfioctl"))
        #expect(script.contains("/usr/local/bin/vfioctl hooks run \"$1\" \"$2\" \"$3\" \"$4\" || exit $?"))
        let mode =
            try FileManager.default.attributesOfItem(atPath: fake.path("/etc/libvirt/hooks/qemu"))[.posixPermissions]
            as? Int
        #expect(mode == 0o755)
        #expect(
            try String(contentsOfFile: fake.path("/etc/vfioctl/hooks/gaming.conf"), encoding: .utf8).contains(
                "single-gpu=yes"))
        #expect(plan.notes.contains { $0.contains("restart it once") })
        // Removing the only hook removes the script vfioctl created.
        _ = try host.applyHookInstall(
            try host.planHookInstall(guest: "gaming", config: HookConfig(), binary: "/x", remove: true))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/vfioctl/hooks/gaming.conf")))

        // A user's own script keeps every line; the block goes right after the shebang, before its exit.
        let own = "#!/bin/bash\n# my hook\nlogger \"guest $1 $2\"\nexit 0\n"
        try fake.write("/etc/libvirt/hooks/qemu", own)
        _ = try host.applyHookInstall(
            try host.planHookInstall(
                guest: "gaming", config: HookConfig(hugepages: true), binary: "/usr/bin/vfioctl", remove: false))
        let merged = try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8)
        #expect(merged.hasPrefix("#!/bin/bash\n# >>> vfioctl"))
        #expect(merged.hasSuffix("# <<< vfioctl\n# my hook\nlogger \"guest $1 $2\"\nexit 0\n"))
        let again = try host.planHookInstall(
            guest: "gaming", config: HookConfig(hugepages: true), binary: "/usr/bin/vfioctl", remove: false)
        #expect(try host.applyHookInstall(again).written.isEmpty)
        _ = try host.applyHookInstall(
            try host.planHookInstall(guest: "gaming", config: HookConfig(), binary: "/x", remove: true))
        #expect(try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8) == own)

        #expect {
            try host.planHookInstall(guest: "gaming", config: HookConfig(), binary: "/x", remove: false)
        } throws: { error in
            (error as? DevicesError)?.message == "say what the hook does: --single-gpu, --hugepages, --isolate-cpus"
        }
        #expect {
            try host.planHookInstall(guest: "nobody", config: HookConfig(), binary: "/x", remove: true)
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix("nobody has no vfioctl hook") == true
        }
    }

    @Test("the dispatcher runs vfioctl with the definition and gives the rest of the script its stdin back")
    func dispatcherScript() throws {
        let fake = try FakeHost.guestHost()
        let directory = fake.path("/bin-test")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A stand-in vfioctl that records its arguments and stdin.
        let stand = directory + "/vfioctl"
        try "#!/bin/sh\necho \"$@\" > \(directory)/args\ncat > \(directory)/stdin\n".write(
            toFile: stand, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: stand)
        let own = "#!/bin/sh\ncat > \(directory)/rest\n"
        let script = HookDispatcher.apply(binary: stand, to: own).replacingOccurrences(
            of: "/etc/vfioctl/hooks", with: fake.path("/etc/vfioctl/hooks"))
        try fake.write("/etc/vfioctl/hooks/gaming.conf", "hugepages=yes\n")
        try script.write(toFile: directory + "/qemu", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [directory + "/qemu", "gaming", "prepare", "begin", "-"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(guestXML.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(
            try String(contentsOfFile: directory + "/args", encoding: .utf8) == "hooks run gaming prepare begin -\n")
        #expect(try String(contentsOfFile: directory + "/stdin", encoding: .utf8).contains("<name>gaming</name>"))
        #expect(try String(contentsOfFile: directory + "/rest", encoding: .utf8).contains("<name>gaming</name>"))
    }
}

/// Collects log lines from a non-escaping context.
private final class LineBox: @unchecked Sendable {
    var lines: [String] = []
    func append(_ line: String) { lines.append(line) }
}
