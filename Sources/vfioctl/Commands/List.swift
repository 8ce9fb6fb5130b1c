import ArgumentParser
import Devices

extension VFIOCtl {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List IOMMU groups, PCI devices and GPUs, with a passthrough verdict.",
            discussion: """
                The default command. With --gpus only GPUs (PCI class 0x03) and their functions are shown; \
                with --group N only one IOMMU group. --json prints the same report for scripts.
                """)

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Show only GPUs and their companion functions.")
        var gpus = false

        @Option(name: .long, help: ArgumentHelp("Show only this IOMMU group.", valueName: "n"))
        var group: Int?

        func validate() throws {
            if gpus && group != nil {
                throw ValidationError("--gpus and --group cannot be combined")
            }
            if let group, group < 0 {
                throw ValidationError("--group takes a group number (0 or more), not \(group)")
            }
        }

        func run() throws {
            try reportingFailures {
                var report = try global.host.report()
                printWarnings(report.warnings)
                if gpus {
                    let addresses = Set(report.gpus.flatMap(\.functions))
                    let groupIDs = Set(report.gpus.compactMap(\.iommuGroup))
                    report.devices = report.devices.filter { addresses.contains($0.address) }
                    report.groups = report.groups.filter { groupIDs.contains($0.id) }
                } else if let group {
                    guard let found = report.group(group) else {
                        throw DevicesError(
                            code: .notFound,
                            message: report.iommu.enabled
                                ? "no IOMMU group \(group): this host has groups "
                                    + "\(report.groups.first?.id ?? 0)-\(report.groups.last?.id ?? 0)"
                                : "no IOMMU group \(group): the IOMMU is off (`vfioctl list` says how to turn it on)")
                    }
                    report.devices = report.devices.filter { $0.iommuGroup == group }
                    report.groups = [found]
                    report.gpus = report.gpus.filter { $0.iommuGroup == group }
                }
                if global.json {
                    try printReportJSON(report)
                    return
                }
                let renderer = ReportRenderer(report: report)
                var sections = [renderer.iommuSection()]
                if gpus {
                    sections.append(renderer.gpuSection(report.gpus))
                } else {
                    sections.append(renderer.deviceTable(report.devices))
                    if let sharing = renderer.sharingSection(report.devices) { sections.append(sharing) }
                    if report.iommu.enabled { sections.append(renderer.groupTable(report.groups)) }
                    if !report.gpus.isEmpty { sections.append("GPUs:\n" + renderer.gpuSection(report.gpus)) }
                }
                print(sections.joined(separator: "\n\n"))
            }
        }
    }
}
