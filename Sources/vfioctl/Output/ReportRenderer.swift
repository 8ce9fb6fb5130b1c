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

    func groupTable(_ groups: [IOMMUGroup]) -> String {
        var lines: [String] = []
        var table = Table("GROUP", "VIABLE", "DEVICES")
        for group in groups {
            table.add([String(group.id), group.viable ? "yes" : "no", group.devices.joined(separator: " ")])
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
            var title = "gpu:\(number)  \(gpu.address)  \(gpu.vendor)  \(gpu.status)"
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
                    "\($0):\(device.subsystemDeviceID ?? "?") \(device.subsystemName ?? "")"
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

    static func name(of device: PCIDevice) -> String {
        switch (device.vendorName, device.deviceName) {
        case (let vendor?, let name?): "\(vendor) \(name)"
        case (let vendor?, nil): "\(vendor) device \(device.deviceID)"
        case (nil, let name?): name
        case (nil, nil): "device \(device.ids)"
        }
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
