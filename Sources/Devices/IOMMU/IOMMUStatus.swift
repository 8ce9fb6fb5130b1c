import SystemPackage

/// Whether the IOMMU is on, and when it is not, why and how to turn it on.
public struct IOMMUStatus: Sendable, Codable, Hashable {
    /// The kernel created IOMMU groups.
    public var enabled: Bool
    /// How many groups exist.
    public var groupCount: Int
    /// What to do, one line each; empty when nothing is needed.
    public var advice: [String]
    /// CPU vendor from `/proc/cpuinfo`: `intel`, `amd`, or another `vendor_id`.
    public var cpuVendor: String?
    /// The CPU reports the `hypervisor` flag: this host is itself a virtual machine.
    public var isVirtualMachine: Bool
    /// The IOMMU-related arguments on the running kernel's command line.
    public var commandLineArguments: [String]
    /// The firmware's IOMMU table (`DMAR` on Intel, `IVRS` on AMD), when published.
    public var firmwareTable: String?
    /// IOMMU units registered with the kernel (`/sys/class/iommu`).
    public var units: [String]
}

/// Reads the IOMMU state of a host: groups, CPU vendor, kernel command line and firmware tables.
struct IOMMUInspector {
    let files: HostFiles

    /// The arguments on the kernel command line that matter for the IOMMU and vfio.
    static func relevantArguments(_ cmdline: KernelCommandLine) -> [String] {
        cmdline.words.filter { argument in
            let key = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            return [
                "intel_iommu", "amd_iommu", "iommu", "vfio-pci.ids", "vfio_pci.ids", "pcie_acs_override",
                "vfio_pci.disable_vga", "vfio-pci.disable_vga",
            ]
            .contains(key)
        }
    }

    /// The IOMMU state.
    /// - Throws: `DevicesError` when a file exists but cannot be read.
    func inspect(groupCount: Int) throws -> IOMMUStatus {
        let cpu = try CPUInfo(files: files)
        let cpuVendor = cpu.vendor
        let isVirtualMachine = cpu.isVirtualMachine
        let arguments = Self.relevantArguments(try KernelCommandLine.read(files))
        let tables = try files.list(files.path(HostPaths.acpiTables)) ?? []
        let firmwareTable = tables.first { $0.hasPrefix("DMAR") || $0.hasPrefix("IVRS") }.map { String($0.prefix(4)) }
        let units = try files.list(files.path(HostPaths.iommuClass)) ?? []
        var status = IOMMUStatus(
            enabled: groupCount > 0, groupCount: groupCount, advice: [], cpuVendor: cpuVendor,
            isVirtualMachine: isVirtualMachine, commandLineArguments: arguments, firmwareTable: firmwareTable,
            units: units)
        status.advice = advice(for: status)
        return status
    }

    /// What the user should do, from the facts gathered.
    func advice(for status: IOMMUStatus) -> [String] {
        let arguments = status.commandLineArguments
        var advice: [String] = []
        if arguments.contains("amd_iommu=on") {
            advice.append(
                "amd_iommu=on on the kernel command line does nothing (it is not a kernel switch): AMD-Vi is on "
                    + "whenever the firmware enables it; you may remove it")
        }
        if arguments.contains("pcie_acs_override") || arguments.contains(where: { $0.hasPrefix("pcie_acs_override=") })
        {
            advice.append(
                "pcie_acs_override is set: the groups shown are not the hardware's real isolation, and devices in "
                    + "one real group can reach each other's memory (a security risk)")
        }
        guard !status.enabled else { return advice }
        for off in ["intel_iommu=off", "amd_iommu=off", "iommu=off"] where arguments.contains(off) {
            advice.append("remove \(off) from the kernel command line (it turns the IOMMU off), then reboot")
        }
        // The firmware table names the IOMMU that exists (a VM on an AMD host may have an emulated Intel one);
        // without a table, the CPU vendor says which one the firmware could enable.
        let kind = status.firmwareTable == "DMAR" ? "intel" : status.firmwareTable == "IVRS" ? "amd" : status.cpuVendor
        if status.isVirtualMachine && status.firmwareTable == nil {
            advice.append(
                "this host is itself a virtual machine (CPU flag hypervisor) and its firmware describes no IOMMU: "
                    + "give it an emulated one (QEMU: -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on"
                    + ", then intel_iommu=on on the guest's kernel command line)")
            return advice
        }
        switch kind {
        case "intel":
            if arguments.contains("intel_iommu=on") {
                advice.append(
                    "the kernel command line already has intel_iommu=on, yet the kernel found no IOMMU: enable VT-d "
                        + "(\"Intel Virtualization Technology for Directed I/O\") in the firmware setup")
            } else {
                advice.append(
                    "add intel_iommu=on to the kernel command line (GRUB: GRUB_CMDLINE_LINUX_DEFAULT in "
                        + "/etc/default/grub, then update-grub) and reboot")
                if status.firmwareTable == nil {
                    advice.append("the firmware publishes no DMAR table: also enable VT-d in the firmware setup")
                }
            }
        case "amd":
            if status.firmwareTable == "IVRS" {
                advice.append(
                    "the firmware publishes an IVRS table, yet the kernel created no IOMMU groups: check "
                        + "`dmesg | grep -i AMD-Vi` for errors")
            } else {
                advice.append(
                    "enable the IOMMU (\"AMD-Vi\"/\"IOMMU\", next to SVM) in the firmware setup and reboot: AMD-Vi "
                        + "is on whenever the firmware enables it; amd_iommu=on is not a real kernel switch")
            }
        default:
            advice.append("enable the IOMMU (VT-d or AMD-Vi) in the firmware setup and reboot")
        }
        return advice
    }
}

extension Substring {
    /// The text without surrounding white space.
    func trimmingCharacters() -> String { String(self).trimmingWhitespace() }
}
