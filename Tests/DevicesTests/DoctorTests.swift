import TestSupport
import Testing

@testable import Devices

@Suite struct DoctorTests {
    private func status(_ diagnosis: Diagnosis, _ id: String) -> Diagnosis.Status? {
        diagnosis.check(id)?.status
    }

    @Test("a prepared host: every host-wide check is OK, and each GPU is judged on its own")
    func prepared() throws {
        let fake = try FakeHost.preparedWorkstation()
        let diagnosis = try fake.host.diagnose()
        for id in ["iommu", "interrupt-remapping", "cmdline", "kvm", "vfio-modules", "hugepages", "libvirt", "ovmf"] {
            #expect(status(diagnosis, id) == .ok, "\(id): \(diagnosis.check(id)?.summary ?? "missing")")
        }
        #expect(status(diagnosis, "evdev-acl") == .ok)
        #expect(diagnosis.check("iommu")?.summary == "on: 6 groups, firmware table DMAR, units dmar0")
        #expect(diagnosis.check("interrupt-remapping")?.summary == "on (IR-IO-APIC, IR-PCI-MSI)")
        #expect(diagnosis.check("cmdline")?.summary == "intel_iommu=on iommu=pt")
        #expect(diagnosis.check("hugepages")?.summary == "8192 × 2 MiB reserved (8192 free), 16 GiB in all")
        #expect(
            diagnosis.check("libvirt")?.summary == "/usr/bin/qemu-system-x86_64, /usr/sbin/libvirtd, /usr/bin/virsh")
        #expect(diagnosis.check("ovmf")?.summary == "/usr/share/OVMF/OVMF_CODE_4M.fd")

        // The boot iGPU, the NVIDIA card on its host drivers, the Polaris card on vfio-pci, the Navi card with the
        // chipset.
        #expect(status(diagnosis, "gpu-group:0000:00:02.0") == .warn)
        #expect(status(diagnosis, "gpu-group:0000:01:00.0") == .ok)
        #expect(diagnosis.check("gpu-group:0000:01:00.0")?.summary.contains("4 functions to bind") == true)
        #expect(diagnosis.check("gpu-group:0000:01:00.0")?.title == "gpu:2 0000:01:00.0 group")
        #expect(status(diagnosis, "gpu-group:0000:02:00.0") == .ok)
        #expect(diagnosis.check("gpu-group:0000:02:00.0")?.summary.contains("every function on vfio-pci") == true)
        #expect(status(diagnosis, "gpu-group:0000:03:00.0") == .fail)
        #expect(diagnosis.check("gpu-group:0000:03:00.0")?.fix == "move the card to another slot")

        // ROMs: the Polaris card exposes one; the others do not.
        #expect(status(diagnosis, "rom:0000:02:00.0") == .ok)
        #expect(status(diagnosis, "rom:0000:01:00.0") == .warn)
        #expect(
            diagnosis.check("rom:0000:01:00.0")?.fix?.contains("vfioctl vbios install FILE --for 0000:01:00.0") == true)

        // Reset: Polaris 10 is in vendor-reset's table and vendor-reset is not loaded.
        #expect(status(diagnosis, "reset:0000:02:00.0") == .fail)
        #expect(diagnosis.check("reset:0000:02:00.0")?.fix?.contains("ATTR{device}==\"0x67DF\"") == true)
        #expect(status(diagnosis, "reset:0000:01:00.0") == .ok)
        #expect(diagnosis.check("reset:0000:01:00.0")?.summary.hasPrefix("the kernel resets it by bus") == true)
        #expect(diagnosis.worst == .fail)
        // Exactly two failures: the Polaris card cannot be reset, the Navi card shares its group with the chipset.
        #expect(
            diagnosis.checks.filter { $0.status == .fail }.map(\.id) == [
                "reset:0000:02:00.0", "gpu-group:0000:03:00.0",
            ])
        #expect(diagnosis.count(.fail) == 2)
    }

    @Test("vendor-reset loaded: OK on a kernel that uses it, WARN when reset_method is not device_specific")
    func vendorReset() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.write("/sys/module/vendor_reset/refcnt", "1\n")
        #expect(status(try fake.host.diagnose(), "reset:0000:02:00.0") == .ok)
        try fake.write("/sys/devices/pci0000:00/0000:02:00.0/reset_method", "bus\n")
        let check = try #require(try fake.host.diagnose().check("reset:0000:02:00.0"))
        #expect(check.status == .warn)
        #expect(check.summary.contains("not device_specific"))
        #expect(check.fix?.contains("echo device_specific") == true)
    }

    @Test("IOMMU off on Intel without intel_iommu=on: IOMMU, command line and remapping fail with the fix")
    func iommuOff() throws {
        let fake = try FakeHost()
        try fake.setCPU(vendor: "GenuineIntel")
        try fake.write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n")
        let diagnosis = try fake.host.diagnose()
        #expect(status(diagnosis, "iommu") == .fail)
        #expect(diagnosis.check("iommu")?.fix?.contains("add intel_iommu=on") == true)
        #expect(status(diagnosis, "cmdline") == .fail)
        #expect(diagnosis.check("cmdline")?.fix?.contains("add intel_iommu=on") == true)
        #expect(status(diagnosis, "interrupt-remapping") == .fail)
        #expect(diagnosis.check("interrupt-remapping")?.fix?.hasPrefix("turn the IOMMU on first") == true)
        #expect(status(diagnosis, "gpus") == .warn)
        #expect(status(diagnosis, "evdev-acl") == .warn)
    }

    @Test("interrupt remapping: allowed unsafely is a warning; turned off on the command line names the option")
    func remapping() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.write("/proc/interrupts", "            CPU0\n 24:          0  PCI-MSI 512000-edge      ahci\n")
        var check = try #require(try fake.host.diagnose().check("interrupt-remapping"))
        #expect(check.status == .fail)
        #expect(check.details.contains("the IOMMU reports interrupt remapping support (ECAP.IR)"))
        #expect(check.fix?.contains("allow_unsafe_interrupts=1") == true)

        try fake.write("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n")
        check = try #require(try fake.host.diagnose().check("interrupt-remapping"))
        #expect(check.status == .warn)
        #expect(check.summary.contains("allow_unsafe_interrupts=Y"))

        try fake.write("/proc/cmdline", "root=/dev/sda1 intel_iommu=on intremap=off\n")
        let diagnosis = try fake.host.diagnose()
        #expect(
            diagnosis.check("interrupt-remapping")?.fix == "remove intremap=off from the kernel command line and reboot"
        )
        #expect(status(diagnosis, "cmdline") == .warn)
    }

    @Test("command line: amd_iommu=on and pcie_acs_override are warnings, iommu=off a failure")
    func commandLine() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.write("/proc/cmdline", "root=/dev/sda1 amd_iommu=on pcie_acs_override=downstream,multifunction\n")
        var diagnosis = try fake.host.diagnose()
        var check = try #require(diagnosis.check("cmdline"))
        #expect(check.status == .warn)
        #expect(check.details.count == 2)
        #expect(check.fix == "remove amd_iommu=on")
        #expect(status(diagnosis, "iommu") == .warn)

        try fake.write("/proc/cmdline", "root=/dev/sda1 iommu=off\n")
        diagnosis = try fake.host.diagnose()
        check = try #require(diagnosis.check("cmdline"))
        #expect(check.status == .fail)
        #expect(check.fix == "remove iommu=off")
    }

    @Test("KVM: vmx without /dev/kvm names kvm_intel; no vmx asks for the firmware switch")
    func kvm() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.remove("/dev/kvm")
        var check = try #require(try fake.host.diagnose().check("kvm"))
        #expect(check.status == .fail)
        #expect(check.fix?.hasPrefix("`modprobe kvm_intel`") == true)

        try fake.write("/proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme de pse\n\n")
        check = try #require(try fake.host.diagnose().check("kvm"))
        #expect(check.status == .fail)
        #expect(check.fix == "enable SVM (AMD-V) in the firmware setup and reboot")
    }

    @Test("vfio modules: installed but not loaded is OK, absent from the kernel fails, no container node warns")
    func modules() throws {
        let fake = try FakeHost.preparedWorkstation()
        for module in ["vfio", "vfio_iommu_type1", "vfio_pci"] { try fake.remove("/sys/module/\(module)") }
        try fake.write(
            "/lib/modules/6.1.0-26-amd64/modules.dep",
            "kernel/drivers/vfio/vfio.ko:\nkernel/drivers/vfio/vfio_iommu_type1.ko: kernel/drivers/vfio/vfio.ko\n"
                + "kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko\n")
        var check = try #require(try fake.host.diagnose().check("vfio-modules"))
        #expect(check.status == .ok)
        #expect(check.summary.hasPrefix("not loaded yet: vfio, vfio_iommu_type1, vfio_pci (installed"))

        try fake.write("/lib/modules/6.1.0-26-amd64/modules.dep", "kernel/drivers/vfio/vfio.ko:\n")
        check = try #require(try fake.host.diagnose().check("vfio-modules"))
        #expect(check.status == .fail)
        #expect(check.summary == "this kernel has no vfio_iommu_type1, vfio_pci module")

        for module in ["vfio", "vfio_iommu_type1", "vfio_pci"] { try fake.write("/sys/module/\(module)/refcnt", "0\n") }
        try fake.remove("/dev/vfio/vfio")
        check = try #require(try fake.host.diagnose().check("vfio-modules"))
        #expect(check.status == .warn)
        #expect(check.summary == "loaded, but /dev/vfio/vfio is missing")
    }

    @Test("hugepages: 1 GiB pages counted; none with THP off warns with the exact command")
    func hugepages() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "16\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "4\n")
        #expect(try fake.host.diagnose().check("hugepages")?.summary == "16 × 1 GiB reserved (4 free), 16 GiB in all")

        try fake.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")
        #expect(try fake.host.diagnose().check("hugepages")?.status == .ok)
        try fake.write("/sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n")
        let check = try #require(try fake.host.diagnose().check("hugepages"))
        #expect(check.status == .warn)
        #expect(check.summary.contains("transparent hugepages are never"))
        #expect(check.fix?.contains("hugepages-2048kB/nr_hugepages") == true)
    }

    @Test("an installed ROM is checked: valid is OK, not a ROM fails naming the file")
    func installedROM() throws {
        let fake = try FakeHost.preparedWorkstation()
        let path = "/usr/share/vgabios/10de-1f08-0000-01-00.0.rom"
        try fake.write(path, ROMBuilder.hybrid(vendor: 0x10de, device: 0x1f08).bytes())
        var check = try #require(try fake.host.diagnose().check("rom:0000:01:00.0"))
        #expect(check.status == .ok)
        #expect(check.summary == "ROM file \(path) installed and valid (<rom file='\(path)'/>)")

        try fake.write(path, [UInt8](repeating: 0xFF, count: 1024))
        check = try #require(try fake.host.diagnose().check("rom:0000:01:00.0"))
        #expect(check.status == .fail)
        #expect(check.summary.contains(path))
        #expect(!check.details.isEmpty)
    }

    @Test("QEMU and libvirt missing: the install command follows /etc/os-release")
    func software() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.remove("/usr/sbin/libvirtd")
        try fake.remove("/usr/share/OVMF/OVMF_CODE_4M.fd")
        var diagnosis = try fake.host.diagnose()
        #expect(diagnosis.check("libvirt")?.summary.hasPrefix("missing: libvirt daemon (found ") == true)
        #expect(diagnosis.check("libvirt")?.fix?.hasPrefix("`apt-get install") == true)
        #expect(diagnosis.check("ovmf")?.fix == "`apt-get install ovmf`")
        try fake.write("/etc/os-release", "NAME=\"Fedora Linux\"\nID=fedora\n")
        diagnosis = try fake.host.diagnose()
        #expect(diagnosis.check("libvirt")?.fix?.hasPrefix("`dnf install") == true)
        #expect(diagnosis.check("ovmf")?.fix == "`dnf install edk2-ovmf`")
        try fake.write("/usr/libexec/virtqemud", "")
        #expect(try fake.host.diagnose().check("libvirt")?.status == .ok)
    }

    @Test("qemu.conf: a missing mouse warns with a block that keeps the user's entries and libvirt's defaults")
    func evdevACL() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.write(
            "/etc/libvirt/qemu.conf",
            "cgroup_device_acl = [ \"/dev/null\", \"/dev/rtc\",\n  \"/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd\" ]\n"
        )
        var check = try #require(try fake.host.diagnose().check("evdev-acl"))
        #expect(check.status == .warn)
        #expect(check.summary.contains("does not allow /dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse"))
        #expect(check.details.first == "cgroup_device_acl = [")
        #expect(check.details.last == "]")
        let entries = check.details.dropFirst().dropLast().map { $0.trimmingCharacters(in: [" ", ","]) }
        #expect(
            entries == [
                "\"/dev/null\"", "\"/dev/full\"", "\"/dev/zero\"", "\"/dev/random\"", "\"/dev/urandom\"",
                "\"/dev/ptmx\"",
                "\"/dev/kvm\"", "\"/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd\"", "\"/dev/rtc\"",
                "\"/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse\"",
            ])

        try fake.remove("/etc/libvirt/qemu.conf")
        check = try #require(try fake.host.diagnose().check("evdev-acl"))
        #expect(check.status == .warn)
        #expect(check.summary.hasPrefix("no /etc/libvirt/qemu.conf"))
    }

    @Test("a fully prepared host with one ready GPU has no failures")
    func allClear() throws {
        let fake = try FakeHost.preparedWorkstation()
        for address in ["0000:00:02.0", "0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3", "0000:03:00.0"]
        {
            try fake.remove("/sys/devices/pci0000:00/\(address)")
            try fake.remove("/sys/bus/pci/devices/\(address)")
        }
        try fake.remove("/sys/kernel/iommu_groups/2")
        try fake.remove("/sys/kernel/iommu_groups/3")
        try fake.remove("/sys/kernel/iommu_groups/5/devices/0000:03:00.0")
        try fake.write("/sys/module/vendor_reset/refcnt", "1\n")
        let diagnosis = try fake.host.diagnose()
        #expect(diagnosis.worst == .ok, "\(diagnosis.checks.filter { $0.status != .ok }.map(\.summary))")
        #expect(
            diagnosis.checks.map(\.id).filter { $0.contains(":") } == [
                "gpu-group:0000:02:00.0", "rom:0000:02:00.0", "reset:0000:02:00.0",
            ])
    }
}
