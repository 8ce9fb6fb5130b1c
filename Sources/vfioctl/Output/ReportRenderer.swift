import Devices

/// Renders a host report as the text `list` and `show` print.
struct ReportRenderer {
    let report: HostReport

    func iommuSection() -> String {
        let iommu = report.iommu
        var lines: [String] = []
        var summary = iommu.enabled ? "IOMMU: on, \(iommu.groupCount) groups" : "IOMMU: off (no IOMMU groups)"
        if let release = report.kernelRelease {
            summary += "; kernel \(release)"
        }
        lines.append(summary)
        for advice in iommu.advice {
            lines.append("  -> \(advice)")
        }
        return lines.joined(separator: "\n")
    }

    func deviceTable(_ devices: [PCIDevice]) -> String {
        var table = Table("ADDRESS", "IDS", "CLASS", "DRIVER", "GROUP", "RESET", "DEVICE")
        for device in devices {
            table.add([
                device.address.description,
                device.ids,
                device.className ?? device.class,
                device.driver ?? "-",
                device.iommuGroup.map(String.init) ?? "-",
                device.resetMethods.isEmpty ? "-" : device.resetMethods.joined(separator: ","),
                Self.name(of: device),
            ])
        }
        return table.render()
    }

    /// One line per function that can be shared (physical functions with their VFs, VFs, mdev parents), or nil
    /// when there is none.
    func sharingSection(_ devices: [PCIDevice]) -> String? {
        var table = Table("ADDRESS", "ROLE", "SHARING")
        for device in devices {
            guard let sharing = device.sharing else { continue }
            if let sriov = sharing.sriov {
                let vfs = sriov.virtualFunctions.map {
                    "\($0.address) (group \($0.iommuGroup.map(String.init) ?? "-"), \($0.driver ?? "no driver"))"
                }
                table.add([
                    device.address.description, "SR-IOV PF",
                    "\(sriov.numVFs)/\(sriov.totalVFs) VFs" + (vfs.isEmpty ? "" : ": " + vfs.joined(separator: ", ")),
                ])
            }
            if let pf = sharing.physicalFunction {
                table.add([device.address.description, "SR-IOV VF", "of \(pf)"])
            }
            if !sharing.mdevTypes.isEmpty || !sharing.mediatedDevices.isEmpty {
                let types = sharing.mdevTypes.map { "\($0.id)×\($0.availableInstances.map(String.init) ?? "?")" }
                table.add([
                    device.address.description, "mdev parent",
                    "types " + (types.isEmpty ? "-" : types.joined(separator: " ")) + "; "
                        + "\(sharing.mediatedDevices.count) mdev\(sharing.mediatedDevices.count == 1 ? "" : "s")",
                ])
            }
            if let vgpu = sharing.vgpu {
                table.add([
                    device.address.description, "vGPU",
                    "\(vgpu.creatableTypes.count) creatable types, current \(vgpu.currentType.map(String.init) ?? "none")",
                ])
            }
        }
        return table.rows.isEmpty ? nil : "Sharing:\n" + table.render()
    }

    func groupTable(_ groups: [IOMMUGroup]) -> String {
        var lines: [String] = []
        var table = Table("GROUP", "VIABLE", "DEVICES")
        for group in groups {
            table.add([
                String(group.id), group.viable ? Console.paint("yes", .good) : Console.paint("no", .bad),
                group.devices.joined(separator: " "),
            ])
        }
        lines.append(table.render())
        for group in groups where !group.viable {
            lines.append("group \(group.id) is not viable:")
            for blocker in group.blockers {
                lines.append("  \(blocker.address): \(blocker.reason)")
            }
            for advice in group.advice {
                lines.append("  -> \(advice)")
            }
        }
        return lines.joined(separator: "\n")
    }

    func gpuSection(_ gpus: [GPU]) -> String {
        guard !gpus.isEmpty else { return "no GPU (PCI class 0x03) found" }
        var lines: [String] = []
        for gpu in gpus {
            let number = (report.gpus.firstIndex(of: gpu) ?? 0) + 1
            var title = "gpu:\(number)  \(gpu.address)  \(gpu.vendor)  \(verdict(gpu.status))"
            if let name = gpu.name { title += "  \(name)" }
            var traits: [String] = []
            if gpu.isIntegrated { traits.append("integrated") }
            if gpu.isBootVGA { traits.append("boot VGA") }
            if !traits.isEmpty { title += " [\(traits.joined(separator: ", "))]" }
            lines.append(title)
            let group = gpu.iommuGroup.map { "group \($0)" } ?? "no group"
            let companions = gpu.companions.map { "\($0.address) (\($0.role))" }
            lines.append(
                "  functions: \(gpu.address) (display)"
                    + (companions.isEmpty ? "" : ", " + companions.joined(separator: ", ")) + "; \(group)")
            for reason in gpu.reasons { lines.append("  - \(reason)") }
            for reset in gpu.reset { lines.append("  reset: \(reset)") }
            if let shareable = gpu.shareable { lines.append("  shareable: " + Self.describe(shareable)) }
            if let intel = gpu.intel { lines.append(contentsOf: Self.advice(intel).map { "  intel: " + $0 }) }
        }
        return lines.joined(separator: "\n")
    }

    func deviceDetail(_ device: PCIDevice) -> String {
        func yes(_ value: Bool) -> String { value ? "yes" : "no" }
        var rows: [(String, String)] = [
            ("address", device.address.description),
            ("vendor", "\(device.vendorID) \(device.vendorName ?? "(unknown)")"),
            ("device", "\(device.deviceID) \(device.deviceName ?? "(unknown)")"),
            (
                "subsystem",
                device.subsystemVendorID.map {
                    "\($0):\(device.subsystemDeviceID?.description ?? "?") \(device.subsystemName ?? "")"
                }
                    ?? "-"
            ),
            ("class", "\(device.class) \(device.className ?? "")"),
            ("revision", device.revision ?? "-"),
            ("driver", device.driver ?? "none"),
            ("driver_override", device.driverOverride ?? "none"),
            ("iommu group", device.iommuGroup.map(String.init) ?? "none"),
            ("header", device.isBridge ? "bridge (type \(device.headerType))" : "endpoint"),
            ("pcie type", device.pcieType ?? "conventional PCI"),
            ("multifunction", yes(device.isMultifunction)),
            ("boot_vga", yes(device.isBootVGA)),
            ("numa node", device.numaNode.map(String.init) ?? "-"),
            ("reset_method", device.resetMethods.isEmpty ? "-" : device.resetMethods.joined(separator: " ")),
            ("FLR", yes(device.supportsFLR) + (device.supportsAFFLR ? " (AF FLR: yes)" : "")),
            (
                "PM NoSoftRst",
                device.pmNoSoftReset.map { $0 ? "+ (no PM reset)" : "- (PM reset possible)" } ?? "no PM capability"
            ),
            ("ACS", device.hasACS ? "yes, control \(device.acsControl ?? "?")" : "no"),
            ("ROM", device.hasROM ? "yes (rom)" : "no"),
            ("vendor-reset", device.vendorResetFamily ?? "not in the table"),
        ]
        for bar in device.bars {
            var kind =
                bar.isIO ? "I/O" : (bar.is64Bit ? "64-bit" : "32-bit") + (bar.isPrefetchable ? " prefetchable" : "")
            if let resizable = bar.resizable {
                let sizes = resizable.supportedSizes
                kind += "; Resizable BAR: \(Self.size(resizable.currentSize)) now"
                if let first = sizes.first, let last = sizes.last {
                    kind += ", \(Self.size(first))–\(Self.size(last)) supported"
                }
            }
            rows.append(("BAR \(bar.index)", "\(Self.size(bar.size)) \(kind)"))
        }
        if !device.isConfigComplete {
            rows.append(("config space", "only the first 64 bytes were readable (run as root)"))
        }
        if let reset = device.reset {
            rows.append(("reset", reset.summary.first ?? "-"))
            for line in reset.summary.dropFirst() { rows.append(("", line)) }
            rows.append(
                ("bus reset", reset.busReset ? "possible (alone on its bus)" : "not alone (other functions on its bus)")
            )
            if let rule = reset.vendorResetRule { rows.append(("udev rule", rule)) }
        }
        let width = rows.map(\.0.count).max() ?? 0
        var lines = rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count + 2) + $0.1 }
        if let sharing = device.sharing {
            lines.append(contentsOf: sharingLines(sharing))
        }
        if let id = device.iommuGroup, let group = report.group(id) {
            lines.append("")
            lines.append(groupTable([group]))
        }
        if let gpu = report.gpus.first(where: { $0.functions.contains(device.address) }) {
            lines.append("")
            lines.append(gpuSection([gpu]))
        }
        return lines.joined(separator: "\n")
    }

    /// `2 VFs / 8 mdev instances`.
    static func describe(_ shareable: GPU.Shareable) -> String {
        var parts: [String] = []
        if shareable.virtualFunctions > 0 {
            parts.append("\(shareable.virtualFunctions) VF\(shareable.virtualFunctions == 1 ? "" : "s")")
        }
        if shareable.mdevInstances > 0 {
            parts.append(
                "\(shareable.mdevInstances) mdev instance\(shareable.mdevInstances == 1 ? "" : "s")")
        }
        if shareable.vgpuTypes > 0 {
            parts.append("\(shareable.vgpuTypes) vGPU type\(shareable.vgpuTypes == 1 ? "" : "s")")
        }
        return parts.joined(separator: " / ")
    }

    /// What an Intel iGPU needs on the host for each way of passing it, and whether it is in effect.
    static func advice(_ intel: IntelGraphics) -> [String] {
        var lines: [String] = []
        switch intel.driver {
        case .xe:
            lines.append("on xe: SR-IOV needs no module option (Linux 6.12+); create VFs with `vfioctl sriov`")
        case .i915:
            if intel.sriovReady {
                lines.append(
                    "i915 has enable_guc=\(intel.enableGuC ?? 0) max_vfs=\(intel.maxVFs ?? 0): SR-IOV is set up; "
                        + "create VFs with `vfioctl sriov`")
            } else {
                lines.append(
                    "SR-IOV (Gen 11+/Xe) needs i915.enable_guc=3 i915.max_vfs=N on the kernel command line (in "
                        + "effect: enable_guc=\(intel.enableGuC.map(String.init) ?? "unknown"), max_vfs="
                        + "\(intel.maxVFs.map(String.init) ?? "not supported by this i915")), or the xe driver")
            }
            if intel.enableGVT == true {
                lines.append(
                    "GVT-g is on (i915.enable_gvt=1)"
                        + (intel.kvmgtLoaded ? "" : "; load the kvmgt module to create mdevs"))
            } else {
                lines.append("GVT-g (5th–10th gen Core only) needs i915.enable_gvt=1 and the kvmgt module")
            }
        case .vfio, .none, .other:
            break
        }
        lines.append(
            "whole-GPU passthrough (GVT-d): `attach --gpu` puts it at guest 00:02.0; it needs x-igd-opregion=on and, "
                + "with OVMF, an IGD option ROM (i915ovmf.rom or the platform's IntelGopDriver)"
                + (intel.isAtIGDAddress ? "" : "; this GPU is not at host 00:02.0, so GVT-d does not apply"))
        return lines
    }

    /// The SR-IOV, mdev and vGPU rows of `show`.
    func sharingLines(_ sharing: Sharing) -> [String] {
        var lines: [String] = []
        if let sriov = sharing.sriov {
            lines.append(
                "sriov         \(sriov.numVFs) of \(sriov.totalVFs) VFs"
                    + (sriov.driversAutoprobe.map { ", drivers_autoprobe \($0 ? "on" : "off")" } ?? ""))
            for vf in sriov.virtualFunctions {
                lines.append(
                    "  VF \(vf.address)  group \(vf.iommuGroup.map(String.init) ?? "-")  \(vf.driver ?? "no driver")")
            }
        }
        if let pf = sharing.physicalFunction { lines.append("physical fn   \(pf) (this is an SR-IOV VF)") }
        for type in sharing.mdevTypes {
            lines.append(
                "mdev type     \(type.id)\(type.name.map { " (\($0))" } ?? "")  available "
                    + "\(type.availableInstances.map(String.init) ?? "?")  api \(type.deviceAPI ?? "?")"
                    + (type.description.map { "  \($0)" } ?? ""))
        }
        for mdev in sharing.mediatedDevices {
            lines.append(
                "mdev          \(mdev.uuid)  type \(mdev.type ?? "?")  "
                    + (mdev.guest.map { "used by guest \($0)" } ?? "not used by a running guest"))
        }
        if let vgpu = sharing.vgpu {
            lines.append(
                "vGPU          current \(vgpu.currentType.map(String.init) ?? "none"); creatable: "
                    + (vgpu.creatableTypes.isEmpty
                        ? "none" : vgpu.creatableTypes.map { "\($0.id) \($0.name)" }.joined(separator: ", ")))
        }
        return lines
    }

    static func name(of device: PCIDevice) -> String {
        switch (device.vendorName, device.deviceName) {
        case (let vendor?, let name?): "\(vendor) \(name)"
        case (let vendor?, nil): "\(vendor) device \(device.deviceID)"
        case (nil, let name?): name
        case (nil, nil): "device \(device.ids)"
        }
    }
}

/// A GPU's verdict as a word, coloured on a terminal.
func verdict(_ status: GPU.Status) -> String {
    switch status {
    case .ready: Console.paint("ready", .good)
    case .needsBinding: Console.paint("needs binding", .warning)
    case .blocked: Console.paint("blocked", .bad)
    case .bootGPU: Console.paint("boot GPU", .warning)
    }
}

extension ReportRenderer {
    /// A BAR size as people read it: `256 MiB`, `16 GiB`.
    static func size(_ bytes: UInt64) -> String {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")]
        where bytes >= 1 << UInt64(shift) && bytes % (1 << UInt64(shift)) == 0 {
            return "\(bytes >> UInt64(shift)) \(unit)"
        }
        return "\(bytes) bytes"
    }
}
