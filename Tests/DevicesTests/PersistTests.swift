import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct PersistTests {
    private func debian(modules: String = "# List of modules that you want to include in your initramfs.\nloop\n")
        throws -> FakeHost
    {
        try FakeHost.debianWorkstation(modules: modules, grubOptions: "quiet splash")
    }

    private func read(_ fake: FakeHost, _ path: String) -> String? {
        try? String(contentsOfFile: fake.path(path), encoding: .utf8)
    }

    private func gpu() throws -> [BindTarget] { [try #require(BindTarget("gpu:2"))] }

    @Test("modprobe.d, initramfs-tools and a GRUB drop-in, with the commands to run")
    func debianHost() throws {
        let fake = try debian()
        try fake.write("/proc/sys/kernel/osrelease", "6.8.0-45-generic\n")
        let plan = try fake.host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false)
        #expect(plan.method == .ids)
        #expect(plan.commands == ["update-initramfs -u -k all", "update-grub"])
        _ = try fake.host.applyPersist(plan)
        let modprobe = try #require(read(fake, "/etc/modprobe.d/vfioctl.conf"))
        #expect(modprobe.contains("options vfio-pci ids=10de:10f9,10de:1ada,10de:1adb,10de:1f08\n"))
        #expect(
            modprobe.hasSuffix(
                "softdep nouveau pre: vfio-pci\nsoftdep nvidia pre: vfio-pci\nsoftdep xhci_hcd pre: vfio-pci\n"
                    + "softdep i2c_nvidia_gpu pre: vfio-pci\n"))
        let modules = try #require(read(fake, "/etc/initramfs-tools/modules"))
        #expect(modules.hasPrefix("# List of modules that you want to include in your initramfs.\nloop\n# >>> vfioctl"))
        #expect(modules.contains("\nvfio_pci\nvfio\nvfio_iommu_type1\n# <<< vfioctl\n"))
        #expect(!modules.contains("vfio_virqfd"))
        #expect(read(fake, "/etc/default/grub.d/vfioctl.cfg")?.contains("intel_iommu=on iommu=pt") == true)
        #expect(read(fake, "/etc/default/grub") == "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"\n")
    }

    @Test("persisting twice changes nothing the second time")
    func idempotent() throws {
        let fake = try debian()
        let host = fake.host
        let first = try host.applyPersist(
            try host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false))
        #expect(
            first.written == [
                "/etc/vfioctl/persist.json", "/etc/modprobe.d/vfioctl.conf", "/etc/default/grub.d/vfioctl.cfg",
                "/etc/initramfs-tools/modules",
            ])
        let second = try host.applyPersist(
            try host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false))
        #expect(second.written.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/modprobe.d/vfioctl.conf.bak")))
    }

    @Test(
        "--remove gives back every file byte for byte, the user's file at vfioctl's place included",
        arguments: ["loop\n", "loop", "", "# only comments\n\n"])
    func removeRoundTrip(original: String) throws {
        let fake = try debian(modules: original)
        try fake.write("/etc/modprobe.d/vfioctl.conf", "# an older file the user had\n")
        let host = fake.host
        let plan = try host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false)
        #expect(plan.notes.contains { $0.hasPrefix("/etc/modprobe.d/vfioctl.conf holds a file vfioctl did not write") })
        _ = try host.applyPersist(plan)
        let removal = try host.planPersist([], options: BindOptions(), method: nil, remove: true)
        _ = try host.applyPersist(removal)
        #expect(read(fake, "/etc/initramfs-tools/modules") == original)
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf") == "# an older file the user had\n")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/modprobe.d/vfioctl.conf.bak")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/default/grub.d/vfioctl.cfg")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/vfioctl")))
    }

    @Test("a second persist adds to the first, and --remove deletes vfioctl's file instead of restoring the first")
    func secondPersistAdds() throws {
        let fake = try debian()
        let host = fake.host
        _ = try host.applyPersist(try host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false))
        let amd = try #require(BindTarget("02:00.0"))
        let second = try host.planPersist([amd], options: BindOptions(), method: nil, remove: false)
        #expect(second.functions.map(\.description) == ["0000:02:00.0", "0000:02:00.1"])
        #expect(second.persisted.count == 6)
        _ = try host.applyPersist(second)
        let modprobe = try #require(read(fake, "/etc/modprobe.d/vfioctl.conf"))
        #expect(modprobe.contains("options vfio-pci ids=1002:67df,1002:aaf0,10de:10f9,10de:1ada,10de:1adb,10de:1f08\n"))
        #expect(modprobe.contains("softdep amdgpu pre: vfio-pci\nsoftdep radeon pre: vfio-pci\nsoftdep nouveau"))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/modprobe.d/vfioctl.conf.bak")))
        let state = try #require(read(fake, "/etc/vfioctl/persist.json"))
        #expect(state.contains("\"method\" : \"ids\""))

        let removal = try host.planPersist([], options: BindOptions(), method: nil, remove: true)
        #expect(removal.persisted.isEmpty)
        let removed = try host.applyPersist(removal)
        #expect(removed.removed.contains("/etc/modprobe.d/vfioctl.conf"))
        #expect(removed.removed.last == "/etc/vfioctl")
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf") == nil)
        #expect(read(fake, "/etc/vfioctl/persist.json") == nil)
    }

    @Test("--remove TARGET takes out that device and its companions and keeps the rest")
    func removeOne() throws {
        let fake = try debian()
        let host = fake.host
        let nvidia = try gpu()
        let amd = [try #require(BindTarget("02:00.0"))]
        _ = try host.applyPersist(try host.planPersist(nvidia, options: BindOptions(), method: nil, remove: false))
        _ = try host.applyPersist(try host.planPersist(amd, options: BindOptions(), method: nil, remove: false))
        let plan = try host.planPersist(nvidia, options: BindOptions(), method: nil, remove: true)
        #expect(plan.functions.count == 4)
        #expect(plan.persisted.map(\.address.description) == ["0000:02:00.0", "0000:02:00.1"])
        _ = try host.applyPersist(plan)
        let modprobe = try #require(read(fake, "/etc/modprobe.d/vfioctl.conf"))
        #expect(modprobe.contains("options vfio-pci ids=1002:67df,1002:aaf0\n"))
        #expect(!modprobe.contains("10de:"))
        #expect(!modprobe.contains("nouveau"))
        #expect(read(fake, "/etc/initramfs-tools/modules")?.contains("vfio_pci") == true)

        let again = try #require(BindTarget("10de:1f08"))
        #expect {
            try host.planPersist([again], options: BindOptions(), method: nil, remove: true)
        } throws: { error in
            (error as? DevicesError)?.message
                == "10de:1f08 is not persisted: the persisted devices are 0000:02:00.0, 0000:02:00.1"
        }
        _ = try host.applyPersist(try host.planPersist(amd, options: BindOptions(), method: nil, remove: true))
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf") == nil)
        #expect(
            read(fake, "/etc/initramfs-tools/modules")
                == "# List of modules that you want to include in your initramfs.\nloop\n")
    }

    @Test("persisting by address and then by IDs leaves no udev rule behind")
    func methodChange() throws {
        let fake = try debian()
        let host = fake.host
        _ = try host.applyPersist(
            try host.planPersist(try gpu(), options: BindOptions(), method: .override, remove: false))
        #expect(read(fake, "/etc/udev/rules.d/80-vfioctl.rules")?.contains("KERNEL==\"0000:01:00.3\"") == true)
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf")?.contains("ids=") == false)
        let byIDs = try host.planPersist(try gpu(), options: BindOptions(), method: .ids, remove: false)
        #expect(byIDs.removals == ["/etc/udev/rules.d/80-vfioctl.rules"])
        _ = try host.applyPersist(byIDs)
        #expect(read(fake, "/etc/udev/rules.d/80-vfioctl.rules") == nil)
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf")?.contains("ids=10de:") == true)
        _ = try host.applyPersist(try host.planPersist([], options: BindOptions(), method: nil, remove: true))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/udev")))
    }

    @Test("files an earlier vfioctl left with .bak backups: its own go, the user's comes back")
    func earlierBackups() throws {
        let fake = try debian()
        let ours =
            "# Written by vfioctl persist: vfio-pci takes these devices at boot.\noptions vfio-pci ids=10de:1f08\n"
        try fake.write("/etc/modprobe.d/vfioctl.conf", ours.replacingOccurrences(of: "1f08", with: "2484"))
        try fake.write("/etc/modprobe.d/vfioctl.conf.bak", ours)
        try fake.write("/etc/default/grub.d/vfioctl.cfg", "# Written by vfioctl persist: the IOMMU options.\n")
        try fake.write("/etc/default/grub.d/vfioctl.cfg.bak", "# the user's own drop-in\n")
        let host = fake.host
        let plan = try host.planPersist([], options: BindOptions(), method: nil, remove: true)
        #expect(
            plan.removals == [
                "/etc/modprobe.d/vfioctl.conf.bak", "/etc/modprobe.d/vfioctl.conf",
                "/etc/default/grub.d/vfioctl.cfg.bak",
            ])
        #expect(
            plan.files == [
                PersistFile(
                    path: "/etc/default/grub.d/vfioctl.cfg", content: "# the user's own drop-in\n", isShared: true)
            ])
        _ = try host.applyPersist(plan)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fake.path("/etc/modprobe.d")) == [])
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: fake.path("/etc/default/grub.d")) == ["vfioctl.cfg"])
        #expect(read(fake, "/etc/default/grub.d/vfioctl.cfg") == "# the user's own drop-in\n")
    }

    @Test("without a state file, the devices an earlier vfioctl persisted are read back, so a persist adds to them")
    func earlierDevices() throws {
        let fake = try debian()
        try fake.write(
            "/etc/modprobe.d/vfioctl.conf",
            "# Written by vfioctl persist: vfio-pci takes these devices at boot.\n"
                + "#   0000:01:00.0 10de:1f08 TU106 [GeForce RTX 2060 Rev. A]\n#   0000:01:00.1 10de:10f9 TU106 Audio\n"
                + "softdep nvidia pre: vfio-pci\n")
        try fake.write(
            "/etc/udev/rules.d/80-vfioctl.rules",
            "# Written by vfioctl persist: these exact devices go to vfio-pci (driver_override).\n"
                + "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"0000:01:00.1\", ATTR{driver_override}=\"vfio-pci\"\n")
        let host = fake.host
        let amd = [try #require(BindTarget("02:00.0"))]
        let plan = try host.planPersist(amd, options: BindOptions(), method: nil, remove: false)
        #expect(
            plan.persisted.map { "\($0.address) \($0.method)" } == [
                "0000:01:00.0 ids", "0000:01:00.1 override", "0000:02:00.0 ids", "0000:02:00.1 ids",
            ])
        #expect(plan.persisted.first?.softdeps == ["nvidia"])
        _ = try host.applyPersist(plan)
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf")?.contains("ids=1002:67df,1002:aaf0,10de:1f08\n") == true)
        #expect(read(fake, "/etc/udev/rules.d/80-vfioctl.rules")?.contains("KERNEL==\"0000:01:00.1\"") == true)
        _ = try host.applyPersist(try host.planPersist([], options: BindOptions(), method: nil, remove: true))
        #expect(try FileManager.default.contentsOfDirectory(atPath: fake.path("/etc/modprobe.d")) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fake.path("/etc/udev/rules.d")) == [])
    }

    @Test("when another device shares the IDs, the devices are bound by address with a udev rule")
    func sharedIDs() throws {
        let fake = try debian()
        try fake.add([
            FakePCIDevice(
                "0000:0a:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000, driver: "nvidia", group: 30)
        ])
        let target = try #require(BindTarget("01:00.0"))
        let plan = try fake.host.planPersist([target], options: BindOptions(), method: nil, remove: false)
        #expect(plan.method == .override)
        #expect(plan.notes.contains { $0.hasPrefix("ids= would also take 0000:0a:00.0 (10de:1f08)") })
        _ = try fake.host.applyPersist(plan)
        let rule = try #require(read(fake, "/etc/udev/rules.d/80-vfioctl.rules"))
        #expect(rule.contains("KERNEL==\"0000:01:00.0\", ATTR{driver_override}=\"vfio-pci\""))
        #expect(!rule.contains("0000:0a:00.0"))
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf")?.contains("options vfio-pci ids=") == false)
        let forced = try fake.host.planPersist([target], options: BindOptions(), method: .ids, remove: false)
        #expect(forced.method == .ids)
        #expect(forced.notes.contains { $0.contains("binding by address (the override method) avoids that") })
    }

    @Test("dracut and mkinitcpio get drop-ins; vfio_virqfd only before Linux 6.2; no GRUB is a note")
    func otherHosts() throws {
        let dracut = try FakeHost.workstation()
        try dracut.write("/usr/bin/dracut", "")
        try dracut.write("/proc/sys/kernel/osrelease", "5.15.0-91-generic\n")
        let plan = try dracut.host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false)
        let file = try #require(plan.files.first { $0.path == "/etc/dracut.conf.d/vfioctl.conf" })
        #expect(file.content.contains("force_drivers+=\" vfio_pci vfio vfio_iommu_type1 vfio_virqfd \""))
        #expect(plan.commands == ["dracut -f --regenerate-all"])
        #expect(plan.notes.contains { $0.hasPrefix("no GRUB found") })
        let arch = try FakeHost.workstation()
        try arch.write("/usr/bin/mkinitcpio", "")
        let archPlan = try arch.host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false)
        // Linux 6.1 still has vfio_virqfd as its own module (it was folded into vfio in 6.2).
        let expected = "MODULES+=(vfio_pci vfio vfio_iommu_type1 vfio_virqfd)"
        #expect(archPlan.files.contains { $0.content.contains(expected) })
        #expect(archPlan.commands == ["mkinitcpio -P"])
        withExtendedLifetime(dracut) {}
        withExtendedLifetime(arch) {}
    }

    @Test("the managed block is written after the user's text, replaced by a second apply, and comes out exactly")
    func managedBlock() {
        for text in ["", "a", "a\n", "a\n\n", "x\ny"] {
            let applied = ManagedBlock.persist.apply(["vfio_pci"], to: text)
            let lines = applied.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(applied.hasPrefix(text))
            #expect(lines.filter { $0 == "vfio_pci" }.count == 1)
            #expect(lines.contains { $0 == ManagedBlock.persist.begin || $0 == ManagedBlock.persist.beginAfterNewline })
            #expect(lines.contains(ManagedBlock.persist.end))
            #expect(ManagedBlock.persist.remove(from: applied) == text)
            let twice = ManagedBlock.persist.apply(["vfio_pci"], to: ManagedBlock.persist.apply(["vfio"], to: text))
            #expect(twice == applied)
            #expect(!twice.split(separator: "\n").contains("vfio"))
        }
    }
}
