import Foundation
import SystemPackage
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

    @Test("single GPU, one ordered log: the driver unloads before vfio-pci takes the GPU and reloads before it rebinds")
    func singleGPUOrder() throws {
        let fake = try desktop(HookConfig(singleGPU: true))
        let events = EventLog()
        let kernel = try FakeKernel(host: fake, events: events)
        let commands = FakeCommands(host: fake, events: events)
        _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands)
        let unload = try #require(events.index(of: "run modprobe -r nvidia"))
        let toVFIO = try #require(events.index(of: "write 0000:01:00.0/driver_override <- vfio-pci"))
        #expect(unload < toVFIO)
        _ = try run(fake, "release", "end", kernel: kernel, commands: commands)
        let reload = try #require(events.index(of: "run modprobe nvidia"))
        let rebind = try #require(events.index(of: "write nvidia/bind <- 0000:01:00.0"))
        #expect(reload < rebind)
        let start = try #require(events.index(of: "run systemctl start display-manager.service"))
        #expect(rebind < start)
        #expect(driver(fake, "0000:01:00.0") == "nvidia")
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

    @Test("a release that fails keeps the steps that failed for the next release; the configuration is not needed")
    func releaseKeepsFailures() throws {
        let fake = try desktop(HookConfig(isolateCPUs: true))
        let kernel = try FakeKernel(host: fake)
        let commands = FakeCommands(host: fake)
        _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands)
        // The configuration goes while the guest runs: its release must still undo the prepare.
        try fake.remove("/etc/vfioctl/hooks/gaming.conf")
        commands.answers["systemctl set-property --runtime -- user.slice AllowedCPUs=0-15"] = (1, "bus error")
        let failure = #expect(throws: DevicesError.self) {
            _ = try run(fake, "release", "end", kernel: kernel, commands: commands)
        }
        #expect(failure?.message.contains("give user.slice every CPU: systemctl set-property") == true)
        let kept = try JSONDecoder().decode(
            HookState.self,
            from: Data(contentsOf: URL(fileURLWithPath: fake.path("/run/vfioctl/hooks/gaming.json"))))
        #expect(kept.slices == ["user.slice"])
        #expect(kept.allCPUs == "0-15")
        commands.answers = [:]
        _ = try run(fake, "release", "end", kernel: kernel, commands: commands)
        #expect(commands.log.last == "systemctl set-property --runtime -- user.slice AllowedCPUs=0-15")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/hooks/gaming.json")))
    }

    @Test("each prepare step is recorded before it is taken: a step that fails half-way is still undone")
    func recordedBeforeTaken() throws {
        let fake = try desktop(HookConfig(isolateCPUs: true))
        let kernel = try FakeKernel(host: fake)
        let commands = FakeCommands(host: fake)
        // The second slice's change fails after systemd may have applied part of it: release must still reset it.
        commands.answers["systemctl set-property --runtime -- user.slice AllowedCPUs=0-1,8-9"] = (1, "timeout")
        #expect(throws: DevicesError.self) { _ = try run(fake, "prepare", "begin", kernel: kernel, commands: commands) }
        #expect(
            commands.log.suffix(2) == [
                "systemctl set-property --runtime -- user.slice AllowedCPUs=0-15",
                "systemctl set-property --runtime -- system.slice AllowedCPUs=0-15",
            ])
        #expect(!FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/hooks/gaming.json")))
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

    // MARK: Installing

    /// The test's user: the owner of every file the test makes, standing in for root.
    private let me = TrustedOwner(user: getuid(), group: getgid())

    /// A fake host with a vfioctl at `/usr/local/bin/vfioctl` that only the test's user can change.
    private func hostWithBinary() throws -> FakeHost {
        let fake = try FakeHost.guestHost()
        try fake.write("/usr/local/bin/vfioctl", "#!/bin/sh\n")
        for folder in ["", "/usr", "/usr/local", "/usr/local/bin", "/etc"] {
            try setMode(0o755, fake.path(folder))
        }
        try setMode(0o755, fake.path("/usr/local/bin/vfioctl"))
        return fake
    }

    private func setMode(_ mode: Int, _ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    private func mode(_ path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    }

    private func plan(
        _ fake: FakeHost, _ binary: HookBinary = .installed("/usr/local/bin/vfioctl"), owner: TrustedOwner? = nil,
        config: HookConfig = HookConfig(hugepages: true), remove: Bool = false
    ) throws -> HookInstallPlan {
        try fake.host.planHookInstall(
            guest: "gaming", config: config, binary: binary, remove: remove, trustedOwner: owner ?? me)
    }

    /// What `body` throws: the code, the message and the refusal it carries.
    private func refusal(_ body: () throws -> Void) -> Refusal? {
        do { try body() } catch let error as DevicesError {
            return Refusal(code: error.code, message: error.message, cause: error.cause as? HookRefusal)
        } catch { return nil }
        return nil
    }

    private struct Refusal {
        var code: DevicesError.Code
        var message: String
        var cause: HookRefusal?
    }

    @Test(
        "install writes the configuration and the dispatcher block; remove gives the user's script back byte for byte")
    func install() throws {
        let fake = try hostWithBinary()
        let host = fake.host
        let plan = try plan(fake, config: HookConfig(singleGPU: true))
        #expect(plan.binary == "/usr/local/bin/vfioctl")
        #expect(plan.programCopy == nil)
        _ = try host.applyHookInstall(plan)
        let script = try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8)
        #expect(script.hasPrefix("#!/bin/sh\n# >>> vfioctl"))
        #expect(
            script.contains(
                "'/usr/local/bin/vfioctl' hooks run -- \"$1\" \"$2\" \"$3\" \"$4\" || vfioctl_status=$?"))
        #expect(try mode(fake.path("/etc/libvirt/hooks/qemu")) == 0o755)
        #expect(
            try String(contentsOfFile: fake.path("/etc/vfioctl/hooks/gaming.conf"), encoding: .utf8).contains(
                "single-gpu=yes"))
        #expect(plan.notes.contains { $0.contains("restart it once") })
        // Removing the only hook removes the script vfioctl created.
        _ = try host.applyHookInstall(try self.plan(fake, .installed("/x"), config: HookConfig(), remove: true))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/vfioctl/hooks/gaming.conf")))

        // A user's own script keeps every line; the block goes right after the shebang, before its exit.
        let own = "#!/bin/bash\n# my hook\nlogger \"guest $1 $2\"\nexit 0\n"
        try fake.write("/etc/libvirt/hooks/qemu", own)
        try setMode(0o755, fake.path("/etc/libvirt/hooks/qemu"))
        _ = try host.applyHookInstall(try self.plan(fake))
        let merged = try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8)
        #expect(merged.hasPrefix("#!/bin/bash\n# >>> vfioctl"))
        #expect(merged.hasSuffix("# <<< vfioctl\n# my hook\nlogger \"guest $1 $2\"\nexit 0\n"))
        #expect(try host.applyHookInstall(try self.plan(fake)).written.isEmpty)
        _ = try host.applyHookInstall(try self.plan(fake, .installed("/x"), config: HookConfig(), remove: true))
        #expect(try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8) == own)

        #expect {
            try self.plan(fake, config: HookConfig())
        } throws: { error in
            (error as? DevicesError)?.object == .request(.hook)
        }
        #expect {
            try fake.host.planHookInstall(
                guest: "nobody", config: HookConfig(), binary: .installed("/x"), remove: true)
        } throws: { error in
            (error as? DevicesError)?.message.hasPrefix("nobody has no vfioctl hook") == true
        }
    }

    @Test("a folder above vfioctl that its group or others can write is refused, a sticky one is not")
    func writableFolderRefused() throws {
        let fake = try hostWithBinary()
        try setMode(0o775, fake.path("/usr/local/bin"))
        let found = refusal { _ = try plan(fake) }
        #expect(found?.code == .permissionDenied)
        #expect(
            found?.message
                == "libvirt's hook would run vfioctl as root through the folder /usr/local/bin, which can be changed "
                + "by its group or others (owner uid \(me.user), mode 0775)")
        #expect(found?.cause == .untrustedBinaryPath(path: "/usr/local/bin", owner: me.user, mode: 0o775))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/libvirt/hooks/qemu")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/vfioctl/hooks/gaming.conf")))

        try setMode(0o1777, fake.path("/usr/local/bin"))
        #expect(try plan(fake).binary == "/usr/local/bin/vfioctl")
        try setMode(0o755, fake.path("/usr/local/bin"))
        try setMode(0o757, fake.path("/usr"))
        #expect(
            refusal { _ = try plan(fake) }?.cause == .untrustedBinaryPath(path: "/usr", owner: me.user, mode: 0o757))
        try setMode(0o755, fake.path("/usr"))
        try setMode(0o775, fake.path("/usr/local/bin/vfioctl"))
        #expect(
            refusal { _ = try plan(fake) }?.message.contains("through the file /usr/local/bin/vfioctl, which can be")
                == true)
    }

    @Test("a vfioctl that does not belong to the trusted owner is refused (the owner is the seam)")
    func foreignOwnerRefused() throws {
        let fake = try hostWithBinary()
        let stranger = TrustedOwner(user: me.user &+ 1, group: me.group)
        let found = refusal { _ = try plan(fake, owner: stranger) }
        #expect(found?.code == .permissionDenied)
        #expect(
            found?.message
                == "libvirt's hook would run vfioctl as root through the file /usr/local/bin/vfioctl, which belongs to "
                + "uid \(me.user), not \(stranger.user == 0 ? "root" : "uid \(stranger.user)") "
                + "(owner uid \(me.user), mode 0755)")
        #expect(found?.cause == .untrustedBinaryPath(path: "/usr/local/bin/vfioctl", owner: me.user, mode: 0o755))
        // Under a sysroot, the trusted owner is whoever owns its top folder: this test's user.
        #expect(fake.host.trustedOwner.user == me.user)
        #expect(Host().trustedOwner == .root)
        #expect(
            try fake.host.planHookInstall(
                guest: "gaming", config: HookConfig(hugepages: true), binary: .installed("/usr/local/bin/vfioctl"),
                remove: false
            ).binary == "/usr/local/bin/vfioctl")
    }

    @Test("links are followed inside the sysroot, and the folders they lead through are checked too")
    func linksFollowed() throws {
        let fake = try hostWithBinary()
        try fake.write("/opt/build/vfioctl", "#!/bin/sh\n")
        try setMode(0o755, fake.path("/opt/build/vfioctl"))
        try setMode(0o755, fake.path("/opt"))
        try setMode(0o777, fake.path("/opt/build"))
        // An absolute target means the sysroot's /opt, not the machine's.
        try FileManager.default.createSymbolicLink(
            atPath: fake.path("/usr/local/bin/vfioctl-abs"), withDestinationPath: "/opt/build/vfioctl")
        try fake.link("/usr/local/bin/vfioctl-rel", to: "../../../opt/./build/vfioctl")
        for name in ["vfioctl-abs", "vfioctl-rel"] {
            #expect(
                refusal { _ = try plan(fake, .installed("/usr/local/bin/\(name)")) }?.cause
                    == .untrustedBinaryPath(path: "/opt/build", owner: me.user, mode: 0o777))
        }
        try setMode(0o755, fake.path("/opt/build"))
        #expect(try plan(fake, .installed("/usr/local/bin/vfioctl-abs")).binary == "/usr/local/bin/vfioctl-abs")
        // A link in a folder others can write could be pointed elsewhere.
        try setMode(0o777, fake.path("/usr/local/bin"))
        #expect(
            refusal { _ = try plan(fake, .installed("/usr/local/bin/vfioctl-abs")) }?.cause
                == .untrustedBinaryPath(path: "/usr/local/bin", owner: me.user, mode: 0o777))
        try setMode(0o755, fake.path("/usr/local/bin"))
        try FileManager.default.createSymbolicLink(
            atPath: fake.path("/usr/local/bin/loop"), withDestinationPath: "/usr/local/bin/loop")
        #expect(
            refusal { _ = try plan(fake, .installed("/usr/local/bin/loop")) }?.message.contains("too many links")
                == true)
        #expect(refusal { _ = try plan(fake, .installed("/usr/local/bin/none")) }?.code == .notFound)
        #expect(refusal { _ = try plan(fake, .installed("/usr/local/bin")) }?.code == .invalidArgument)
    }

    @Test("--copy-binary installs vfioctl at /usr/local/sbin/vfioctl (0755, the trusted owner's) for the hook")
    func copyBinary() throws {
        let fake = try hostWithBinary()
        let source = fake.path("/outside-vfioctl")
        let program = Array("#!/bin/sh\necho the real one\n".utf8) + [UInt8](repeating: 7, count: 3 << 20)
        try Data(program).write(to: URL(fileURLWithPath: source))
        let plan = try plan(fake, .copy(of: source))
        #expect(plan.binary == "/usr/local/sbin/vfioctl")
        #expect(plan.programCopy?.destination == "/usr/local/sbin/vfioctl")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/usr/local/sbin/vfioctl")))
        let done = try fake.host.applyHookInstall(plan)
        #expect(done.written.first == "/usr/local/sbin/vfioctl")
        let copy = fake.path("/usr/local/sbin/vfioctl")
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: copy))) == program)
        let attributes = try FileManager.default.attributesOfItem(atPath: copy)
        #expect(attributes[.posixPermissions] as? Int == 0o755)
        #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == me.user)
        #expect(
            try String(contentsOfFile: fake.path("/etc/libvirt/hooks/qemu"), encoding: .utf8).contains(
                "'/usr/local/sbin/vfioctl' hooks run -- "))
        #expect(try FileManager.default.contentsOfDirectory(atPath: fake.path("/usr/local/sbin")) == ["vfioctl"])

        // The folder the copy goes into is checked like the program's.
        try setMode(0o775, fake.path("/usr/local"))
        #expect(
            refusal { _ = try self.plan(fake, .copy(of: source)) }?.cause
                == .untrustedBinaryPath(path: "/usr/local", owner: me.user, mode: 0o775))
    }

    @Test("the path to vfioctl and the configuration folder are single-quoted words")
    func quotedPaths() throws {
        let fake = try hostWithBinary()
        let folder = "/opt/it's a $(touch pwned) `id` \"dir\""
        try fake.write(folder + "/vfioctl", "#!/bin/sh\n")
        for path in ["/opt", folder, folder + "/vfioctl"] { try setMode(0o755, fake.path(path)) }
        let script = try plan(fake, .installed(folder + "/vfioctl")).files[1].content
        #expect(script.contains(#"| '/opt/it'\''s a $(touch pwned) `id` "dir"/vfioctl' hooks run -- "$1""#))
        #expect(script.contains(#"if [ -f '/etc/vfioctl/hooks'/"$1".conf ]; then"#))
        #expect(HookDispatcher.quoted("'") == #"''\'''"#)
        #expect(HookDispatcher.quoted("") == "''")
    }

    @Test(
        "the script runs exactly `vfioctl hooks run -- GUEST OP PHASE SUB`, expands nothing, hands stdin on",
        arguments: ["gaming", "-x", "--help"])
    func dispatcherScript(guest: String) throws {
        let bench = try ScriptBench()
        defer { bench.discard() }
        try "hugepages=yes\n".write(toFile: bench.configs + "/\(guest).conf", atomically: true, encoding: .utf8)
        let own = "#!/bin/sh\ncat > \"\(bench.directory)/rest\"\n"
        let script = HookDispatcher.apply(binary: bench.binary, to: own, configs: FilePath(bench.configs))
        #expect(try bench.run(script, [guest, "prepare", "begin", "-"], input: guestXML) == 0)
        #expect(bench.arguments() == ["hooks", "run", "--", guest, "prepare", "begin", "-"])
        #expect(bench.read("stdin") == guestXML)
        #expect(bench.rest() == guestXML)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: bench.directory).sorted() == [
                "it's a $(touch pwned) dir", "qemu", "rest",
            ])

        // A guest without a configuration: vfioctl is not run, the rest of the script is.
        bench.clear()
        #expect(try bench.run(script, ["other", "prepare", "begin", "-"], input: guestXML) == 0)
        #expect(bench.read("args") == nil)
        #expect(bench.rest() == guestXML)
    }

    @Test("a failed release still runs the rest of the script with its stdin; only a failed prepare ends it")
    func failedRelease() throws {
        let bench = try ScriptBench(status: 3)
        defer { bench.discard() }
        try "single-gpu=yes\n".write(toFile: bench.configs + "/gaming.conf", atomically: true, encoding: .utf8)
        // Even a script that stops at its first failure.
        let own = "#!/bin/sh -e\ncat > \"\(bench.directory)/rest\"\necho \"$2 $3\" >> \"\(bench.directory)/rest\"\n"
        let script = HookDispatcher.apply(binary: bench.binary, to: own, configs: FilePath(bench.configs))
        for (operation, phase) in [("release", "end"), ("stopped", "end"), ("prepare", "end")] {
            bench.clear()
            #expect(try bench.run(script, ["gaming", operation, phase, "-"], input: guestXML) == 0)
            #expect(bench.arguments() == ["hooks", "run", "--", "gaming", operation, phase, "-"])
            #expect(bench.rest() == guestXML + "\(operation) \(phase)\n")
        }
        bench.clear()
        #expect(try bench.run(script, ["gaming", "prepare", "begin", "-"], input: guestXML) == 3)
        #expect(bench.read("stdin") == guestXML)
        #expect(bench.rest() == nil)
    }

    @Test(
        "a hook script in another language, a program or text without #! is refused and left byte for byte",
        arguments: [
            "#!/usr/bin/env python3\nimport sys\nsys.exit(0)\n", "#!/usr/bin/python3\nprint('hi')\n",
            "#!/usr/bin/perl -w\nexit 0;\n", "logger hello\n", "#!\n", "#!/usr/bin/env -S python3 -u\npass\n",
            "\u{7F}ELF\u{2}\u{1}\u{1}\u{0}\u{0}\u{0}binary",
        ])
    func otherInterpretersRefused(content: String) throws {
        let fake = try hostWithBinary()
        let bytes = Array(content.utf8)
        try fake.write("/etc/libvirt/hooks/qemu", bytes)
        try setMode(0o700, fake.path("/etc/libvirt/hooks/qemu"))
        let found = refusal { _ = try plan(fake) }
        #expect(found?.code == .conflict)
        guard case .notShellScript(let path, _)? = found?.cause else {
            Issue.record("not refused as a script of another kind: \(String(describing: found))")
            return
        }
        #expect(path == "/etc/libvirt/hooks/qemu")
        #expect(found?.message.hasPrefix("/etc/libvirt/hooks/qemu ") == true)
        #expect(
            found?.message.hasSuffix(
                ", not sh, bash or dash: vfioctl's block only goes into shell scripts, so it is left as it is") == true)
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: fake.path("/etc/libvirt/hooks/qemu")))) == bytes)
        #expect(try mode(fake.path("/etc/libvirt/hooks/qemu")) == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fake.path("/etc/libvirt/hooks")) == ["qemu"])
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/vfioctl/hooks/gaming.conf")))
    }

    @Test(
        "the program a #! line runs",
        arguments: [
            ("#!/usr/bin/env python3\n", "python3"), ("#! /bin/bash -e\n", "bash"),
            ("#!/usr/bin/env -S bash -e\n", "bash"), ("#!/usr/bin/env LC_ALL=C sh\n", "sh"), ("#!/bin/dash", "dash"),
            ("echo\n", nil), ("", nil),
        ] as [(String, String?)])
    func interpreter(line: String, program: String?) {
        #expect(HookDispatcher.interpreter(of: Array(line.utf8)) == program)
    }

    @Test(
        "sh, bash and dash scripts take the block right after their #! line",
        arguments: [
            "#!/usr/bin/env bash", "#!/bin/bash", "#!/bin/sh", "#!/usr/bin/env sh", "#!/bin/dash", "#!/bin/sh -e",
        ])
    func shellsAccepted(shebang: String) throws {
        let fake = try hostWithBinary()
        try fake.write("/etc/libvirt/hooks/qemu", shebang + "\necho mine\n")
        let script = try plan(fake).files[1].content
        #expect(script.hasPrefix(shebang + "\n# >>> vfioctl"))
        #expect(script.hasSuffix("# <<< vfioctl\necho mine\n"))
    }

    @Test("the script's mode and owner are kept when it is rewritten; a new one is 0755")
    func modeKept() throws {
        let fake = try hostWithBinary()
        let path = fake.path("/etc/libvirt/hooks/qemu")
        try fake.write("/etc/libvirt/hooks/qemu", "#!/bin/bash\necho mine\n")
        try setMode(0o700, path)
        // Only root can give a file away; the owner is checked when the test can set one.
        let other: (user: uid_t, group: gid_t)? = getuid() == 0 ? (4321, 4322) : nil
        if let other { #expect(chown(path, other.user, other.group) == 0) }
        _ = try fake.host.applyHookInstall(try plan(fake))
        #expect(try mode(path) == 0o700)
        if let other {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == other.user)
            #expect((attributes[.groupOwnerAccountID] as? NSNumber)?.uint32Value == other.group)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("# >>> vfioctl"))
        // Taking the block out keeps them too.
        _ = try fake.host.applyHookInstall(try plan(fake, .installed("/x"), config: HookConfig(), remove: true))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "#!/bin/bash\necho mine\n")
        #expect(try mode(path) == 0o700)
        // A script without the execute bit stays so, with a note.
        try setMode(0o644, path)
        #expect(
            try plan(fake).notes.contains(
                "/etc/libvirt/hooks/qemu is not executable (mode 0644): libvirt does not run it"))
    }
}

/// A folder on the machine with a stand-in vfioctl that records its arguments (one a line) and stdin, and exits
/// with a given status; the folder it sits in (and the configuration folder) has a space, a quote and `$(…)`.
private struct ScriptBench {
    let directory: String
    let binary: String
    let configs: String

    init(status: Int32 = 0) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-hook-\(UUID().uuidString)").path
        let weird = directory + "/it's a $(touch pwned) dir"
        binary = weird + "/vfioctl"
        configs = weird + "/hooks"
        try FileManager.default.createDirectory(atPath: configs, withIntermediateDirectories: true)
        let recorder = """
            #!/bin/sh
            here=$(dirname "$0")
            printf '%s\\n' "$@" > "$here/args"
            cat > "$here/stdin"
            exit \(status)

            """
        try recorder.write(toFile: binary, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
    }

    /// Runs `text` with sh as libvirt would, the guest definition on stdin, from the bench folder.
    func run(_ text: String, _ arguments: [String], input: String) throws -> Int32 {
        try text.write(toFile: directory + "/qemu", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [directory + "/qemu"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardInput = pipe
        try process.run()
        pipe.fileHandleForWriting.write(Data(input.utf8))
        try pipe.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A file the stand-in wrote next to itself.
    func read(_ name: String) -> String? {
        try? String(contentsOfFile: (binary as NSString).deletingLastPathComponent + "/" + name, encoding: .utf8)
    }

    /// The arguments the stand-in was run with.
    func arguments() -> [String]? {
        read("args").map { $0.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
    }

    /// What the user's part of the script read from stdin (and wrote after it).
    func rest() -> String? { try? String(contentsOfFile: directory + "/rest", encoding: .utf8) }

    func clear() {
        for name in ["args", "stdin"] {
            try? FileManager.default.removeItem(atPath: (binary as NSString).deletingLastPathComponent + "/" + name)
        }
        try? FileManager.default.removeItem(atPath: directory + "/rest")
    }

    func discard() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Collects log lines from a non-escaping context.
private final class LineBox: @unchecked Sendable {
    var lines: [String] = []
    func append(_ line: String) { lines.append(line) }
}
