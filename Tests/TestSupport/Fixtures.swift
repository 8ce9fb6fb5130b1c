/// Fake hosts shared by the tests: each call builds a fresh tree.
extension FakeHost {
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
}
