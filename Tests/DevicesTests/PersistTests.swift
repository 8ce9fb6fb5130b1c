import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct PersistTests {
    private func debian(modules: String = "# List of modules that you want to include in your initramfs.\nloop\n")
        throws
        -> FakeHost
    {
        let fake = try FakeHost.workstation()
        try fake.write("/etc/initramfs-tools/modules", modules)
        try fake.write("/usr/sbin/update-initramfs", "")
        try fake.write("/usr/sbin/update-grub", "")
        try fake.write("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"\n")
        return fake
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
        #expect(first.written.count == 3)
        let second = try host.applyPersist(
            try host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false))
        #expect(second.written.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/modprobe.d/vfioctl.conf.bak")))
    }

    @Test(
        "--remove restores every file byte for byte",
        arguments: ["loop\n", "loop", "", "# only comments\n\n"])
    func removeRoundTrip(original: String) throws {
        let fake = try debian(modules: original)
        try fake.write("/etc/modprobe.d/vfioctl.conf", "# an older file the user had\n")
        let host = fake.host
        _ = try host.applyPersist(try host.planPersist(try gpu(), options: BindOptions(), method: nil, remove: false))
        let removal = try host.planPersist([], options: BindOptions(), method: nil, remove: true)
        _ = try host.applyPersist(removal)
        #expect(read(fake, "/etc/initramfs-tools/modules") == (original.isEmpty ? nil : original))
        #expect(read(fake, "/etc/modprobe.d/vfioctl.conf") == "# an older file the user had\n")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/etc/default/grub.d/vfioctl.cfg")))
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
        #expect(forced.notes.contains { $0.contains("use --method override") })
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

    @Test("the managed block comes out exactly as it went in")
    func managedBlock() {
        for text in ["", "a", "a\n", "a\n\n", "x\ny"] {
            #expect(ManagedBlock.remove(from: ManagedBlock.apply(["vfio_pci"], to: text)) == text)
            #expect(
                ManagedBlock.apply(["vfio_pci"], to: ManagedBlock.apply(["vfio"], to: text))
                    == ManagedBlock.apply(["vfio_pci"], to: text))
        }
    }
}
