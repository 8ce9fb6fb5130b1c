/// Fake hosts shared by the tests: each call builds a fresh tree.
extension FakeHost {
    /// The workstation as a Debian host: initramfs-tools with the user's module list, `update-initramfs`, GRUB
    /// with these default kernel options.
    public static func debianWorkstation(
        modules: String = "# user's modules\nloop\n", grubOptions: String = "quiet"
    ) throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.write("/etc/initramfs-tools/modules", modules)
        try fake.write("/usr/sbin/update-initramfs", "")
        try fake.write("/usr/sbin/update-grub", "")
        try fake.write("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"\(grubOptions)\"\n")
        return fake
    }

    /// A workstation with the IOMMU on: an Intel boot iGPU, an NVIDIA Turing card with audio, USB and UCSI
    /// functions on its host drivers, an AMD Polaris card already on vfio-pci, and an AMD Navi 31 card in a
    /// slot that shares its group with the chipset.
    public static func workstation() throws -> FakeHost {
        let host = try FakeHost()
        try host.add([
            FakePCIDevice("0000:00:00.0", vendor: 0x8086, device: 0x29c0, classCode: 0x060000, group: 0),
            FakePCIDevice(
                "0000:00:01.0", vendor: 0x1b36, device: 0x000c, classCode: 0x060400, driver: "pcieport", group: 1
            ) {
                $0.headerType = 1
                $0.pcieType = 4
                $0.pmNoSoftReset = false
                $0.acsControl = 0x001D
            },
            FakePCIDevice("0000:00:02.0", vendor: 0x8086, device: 0x3e92, classCode: 0x030000, driver: "i915", group: 3)
            {
                $0.pmNoSoftReset = false
                $0.supportsAFFLR = true
            }.with { $0.bootVGA = true },
            FakePCIDevice(
                "0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000, driver: "nvidia", group: 2
            ) {
                $0.isMultifunction = true
                $0.pcieType = 0
                $0.pmNoSoftReset = true
                $0.revision = 0xa1
                $0.subsystem = (0x1462, 0x3752)
            }.with {
                $0.resetMethods = ["bus"]
                $0.numaNode = 0
            },
            FakePCIDevice(
                "0000:01:00.1", vendor: 0x10de, device: 0x10f9, classCode: 0x040300, driver: "snd_hda_intel", group: 2
            ) {
                $0.isMultifunction = true
                $0.pcieType = 0
                $0.supportsFLR = true
            }.with { $0.resetMethods = ["flr", "bus"] },
            FakePCIDevice(
                "0000:01:00.2", vendor: 0x10de, device: 0x1ada, classCode: 0x0c0330, driver: "xhci_hcd", group: 2
            ) {
                $0.isMultifunction = true
                $0.pcieType = 0
            },
            FakePCIDevice(
                "0000:01:00.3", vendor: 0x10de, device: 0x1adb, classCode: 0x0c8000, driver: "nvidia-gpu", group: 2
            ) {
                $0.isMultifunction = true
                $0.pcieType = 0
            },
            FakePCIDevice(
                "0000:02:00.0", vendor: 0x1002, device: 0x67df, classCode: 0x030000, driver: "vfio-pci", group: 4
            ) {
                $0.isMultifunction = true
                $0.pcieType = 0
                $0.pmNoSoftReset = false
                $0.subsystem = (0x1da2, 0xe387)
            }.with { $0.rom = [0x55, 0xAA] },
            FakePCIDevice(
                "0000:02:00.1", vendor: 0x1002, device: 0xaaf0, classCode: 0x040300, driver: "vfio-pci", group: 4
            ) {
                $0.isMultifunction = true
                $0.pcieType = 0
            },
            FakePCIDevice(
                "0000:00:1f.0", vendor: 0x8086, device: 0x2918, classCode: 0x060100, driver: "lpc_ich", group: 5
            ) {
                $0.isMultifunction = true
            },
            FakePCIDevice(
                "0000:00:1f.3", vendor: 0x8086, device: 0x2930, classCode: 0x0c0500, driver: "i801_smbus", group: 5
            ) {
                $0.isMultifunction = true
            },
            FakePCIDevice(
                "0000:03:00.0", vendor: 0x1002, device: 0x744c, classCode: 0x030000, driver: "amdgpu", group: 5
            ) {
                $0.pcieType = 0
                $0.supportsFLR = false
            },
        ])
        try host.write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet intel_iommu=on iommu=pt\n")
        try host.write("/sys/firmware/acpi/tables/DMAR", [0x44, 0x4D, 0x41, 0x52])
        return host
    }

    /// The workstation fixture made a complete passthrough host: KVM, remapped interrupts, vfio loaded, 2 MiB
    /// pages, QEMU/libvirt/OVMF on Debian, a USB keyboard and mouse allowed by qemu.conf.
    public static func preparedWorkstation() throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.setCPU(vendor: "GenuineIntel")
        try fake.write("/proc/sys/kernel/osrelease", "6.1.0-26-amd64\n")
        try fake.write("/dev/kvm", "")
        try fake.write(
            "/proc/interrupts",
            "            CPU0\n  0:         45   IO-APIC   2-edge      timer\n 24:          0  IR-PCI-MSI 512000-edge "
                + "ahci\n 25:        310  IR-IO-APIC   9-fasteoi   acpi\n")
        try fake.write("/sys/class/iommu/dmar0/intel-iommu/ecap", "f0205e\n")
        for module in ["vfio", "vfio_iommu_type1", "vfio_pci"] { try fake.write("/sys/module/\(module)/refcnt", "0\n") }
        try fake.write("/dev/vfio/vfio", "")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "8192\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "8192\n")
        try fake.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")
        try fake.write("/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")
        try fake.write("/usr/bin/qemu-system-x86_64", "")
        try fake.write("/usr/sbin/libvirtd", "")
        try fake.write("/usr/bin/virsh", "")
        try fake.write("/usr/share/OVMF/OVMF_CODE_4M.fd", "")
        try fake.write("/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n")
        var keyboard = FakeInputDevice.keyboard(
            event: 3, name: "Cherry USB keyboard", physical: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1")
        keyboard.byID = ["usb-Cherry_USB_keyboard-event-kbd"]
        var mouse = FakeInputDevice.mouse(
            event: 5, name: "Logitech USB Optical Mouse", physical: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
        mouse.byID = ["usb-Logitech_USB_Optical_Mouse-event-mouse"]
        try fake.add(keyboard)
        try fake.add(mouse)
        try fake.write(
            "/etc/libvirt/qemu.conf",
            """
            # user = "root"
            cgroup_device_acl = [
                "/dev/null", "/dev/full", "/dev/zero",
                "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm",
                "/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd",
                "/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse"
            ]

            """)
        return fake
    }
}

extension FakeHost {
    /// Adds `/sys/devices/system/cpu`: `groups` L3 groups of `cores` cores each, `threads` per core, numbered as
    /// Linux does (first threads of every core, then the second threads).
    public func addTopology(groups: Int = 1, cores: Int = 8, threads: Int = 2, l3KiB: [Int]? = nil) throws {
        let total = groups * cores
        for thread in 0..<threads {
            for core in 0..<total {
                let cpu = thread * total + core
                let siblings = (0..<threads).map { $0 * total + core }
                let group = core / cores
                let members = (0..<cores).flatMap { c in (0..<threads).map { $0 * total + group * cores + c } }
                let directory = "/sys/devices/system/cpu/cpu\(cpu)"
                try write(
                    directory + "/topology/thread_siblings_list",
                    siblings.map(String.init).joined(separator: ",") + "\n")
                try write(
                    directory + "/cache/index3/shared_cpu_list",
                    members.sorted().map(String.init).joined(separator: ",") + "\n")
                try write(directory + "/cache/index3/size", "\(l3KiB?[group] ?? 32768)K\n")
            }
        }
        try write("/sys/devices/system/cpu/online", "0-\(total * threads - 1)\n")
    }

    /// Adds SMBIOS strings under `/sys/class/dmi/id`.
    public func addDMI() throws {
        let values = [
            "bios_vendor": "American Megatrends International, LLC.", "bios_version": "F20",
            "bios_date": "11/10/2023", "sys_vendor": "Gigabyte Technology Co., Ltd.",
            "product_name": "X570 AORUS ELITE",
            "product_version": "-CF", "product_serial": "Default string",
            "board_vendor": "Gigabyte Technology Co., Ltd.",
            "board_name": "X570 AORUS ELITE", "board_version": "x.x", "board_serial": "Default string",
        ]
        for (name, value) in values { try write("/sys/class/dmi/id/\(name)", value + "\n") }
    }

    /// The prepared workstation with an 8-core/16-thread CPU, SMBIOS strings and 2 MiB pages: everything
    /// `attach` reads.
    public static func guestHost() throws -> FakeHost {
        let fake = try preparedWorkstation()
        try fake.addTopology()
        try fake.addDMI()
        return fake
    }
}
