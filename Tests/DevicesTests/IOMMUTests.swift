import TestSupport
import Testing

@testable import Devices

@Suite struct IOMMUTests {
    private func offHost(vendor: String, cmdline: String, table: String? = nil, hypervisor: Bool = false) throws
        -> FakeHost
    {
        let fake = try FakeHost()
        try fake.setCPU(vendor: vendor, hypervisor: hypervisor)
        try fake.write("/proc/cmdline", cmdline + "\n")
        if let table { try fake.write("/sys/firmware/acpi/tables/\(table)", [0]) }
        try fake.add(FakePCIDevice("0000:00:00.0", vendor: 0x8086, device: 0x29c0, classCode: 0x060000))
        return fake
    }

    @Test("Intel without intel_iommu=on: add it to the command line")
    func intelCmdline() throws {
        let report = try offHost(vendor: "GenuineIntel", cmdline: "root=/dev/sda1 quiet", table: "DMAR").report()
        #expect(!report.iommu.enabled)
        #expect(report.iommu.groupCount == 0)
        #expect(report.iommu.cpuVendor == "intel")
        #expect(report.iommu.advice.count == 1)
        #expect(report.iommu.advice[0].hasPrefix("add intel_iommu=on to the kernel command line"))
        #expect(report.devices.count == 1)
    }

    @Test("Intel with intel_iommu=on already: enable VT-d in the firmware")
    func intelFirmware() throws {
        let report = try offHost(vendor: "GenuineIntel", cmdline: "quiet intel_iommu=on").report()
        #expect(report.iommu.commandLineArguments == ["intel_iommu=on"])
        #expect(report.iommu.advice.count == 1)
        #expect(report.iommu.advice[0].contains("already has intel_iommu=on"))
        #expect(report.iommu.advice[0].contains("firmware"))
    }

    @Test("Intel without a DMAR table: the firmware must be changed too")
    func intelNoTable() throws {
        let report = try offHost(vendor: "GenuineIntel", cmdline: "quiet").report()
        #expect(report.iommu.advice.count == 2)
        #expect(report.iommu.advice[1].contains("no DMAR table"))
    }

    @Test("AMD: a firmware setting, and amd_iommu=on is called out as a no-op")
    func amd() throws {
        let report = try offHost(vendor: "AuthenticAMD", cmdline: "quiet amd_iommu=on").report()
        #expect(report.iommu.cpuVendor == "amd")
        #expect(report.iommu.advice.count == 2)
        #expect(report.iommu.advice[0].contains("amd_iommu=on on the kernel command line does nothing"))
        #expect(report.iommu.advice[1].contains("firmware setup"))
        #expect(!report.iommu.advice.contains { $0.contains("intel_iommu") })
    }

    @Test("an explicit iommu=off is named for removal")
    func explicitOff() throws {
        let report = try offHost(vendor: "AuthenticAMD", cmdline: "iommu=off", table: "IVRS").report()
        #expect(
            report.iommu.advice.first
                == "remove iommu=off from the kernel command line (it turns the IOMMU off), then reboot")
        #expect(report.iommu.firmwareTable == "IVRS")
    }

    @Test("a virtual machine without an IOMMU table needs an emulated IOMMU")
    func virtualMachine() throws {
        let report = try offHost(vendor: "AuthenticAMD", cmdline: "console=ttyS0", hypervisor: true).report()
        #expect(report.iommu.isVirtualMachine)
        #expect(report.iommu.advice.count == 1)
        #expect(report.iommu.advice[0].contains("intel-iommu"))
    }

    @Test("a VM with an emulated Intel IOMMU on an AMD host gets the Intel advice")
    func emulatedIntelIOMMU() throws {
        let report = try offHost(vendor: "AuthenticAMD", cmdline: "console=ttyS0", table: "DMAR", hypervisor: true)
            .report()
        #expect(report.iommu.advice.first?.hasPrefix("add intel_iommu=on") == true)
    }

    @Test("with the IOMMU on there is nothing to fix, but ACS override is flagged")
    func enabled() throws {
        let fake = try FakeHost.workstation()
        #expect(try fake.report().iommu.advice.isEmpty)
        try fake.write("/proc/cmdline", "intel_iommu=on pcie_acs_override=downstream,multifunction\n")
        let report = try fake.report()
        #expect(report.iommu.advice.count == 1)
        #expect(report.iommu.advice[0].contains("security risk"))
    }
}

@Suite struct KernelCommandLineTests {
    @Test("the command line splits as the kernel splits it: spaces, tabs, a newline, a quoted value kept whole")
    func words() {
        let line = KernelCommandLine(
            "BOOT_IMAGE=/vmlinuz root=UUID=1 ro\tquiet  intel_iommu=on dyndbg=\"file x.c +p\"\n")
        #expect(
            line.words == ["BOOT_IMAGE=/vmlinuz", "root=UUID=1", "ro", "quiet", "intel_iommu=on", "dyndbg=file x.c +p"])
        #expect(line.contains("intel_iommu=on"))
        #expect(!line.contains("x.c"))
        #expect(IOMMUInspector.relevantArguments(line) == ["intel_iommu=on"])
        #expect(KernelCommandLine("").words.isEmpty)
    }
}
