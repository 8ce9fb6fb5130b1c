import ArgumentParser
import Devices

extension VFIOCtl {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show everything about one device: IDs, driver, group, reset and ROM facts, GPU verdict.")

        @OptionGroup var global: GlobalOptions

        @Argument(
            help: ArgumentHelp("The device: 0000:01:00.0, 01:00.0, vendor:device or gpu:N.", valueName: "device"),
            completion: .custom(completeTargets))
        var device: String

        func validate() throws {
            try global.requireLocal("show")
            _ = try target(device)
        }

        func run() throws {
            try reportingFailures {
                let report = try global.host.report()
                printWarnings(report.warnings)
                let devices = try report.devices(named: target(device))
                if global.json {
                    let addresses = Set(devices.map(\.address))
                    let groups = Set(devices.compactMap(\.iommuGroup))
                    try printJSON(
                        ShowDocument(
                            devices: devices, gpus: report.gpus.filter { !addresses.isDisjoint(with: $0.functions) },
                            groups: report.groups.filter { groups.contains($0.id) }))
                    return
                }
                let renderer = ReportRenderer(report: report)
                print(devices.map(renderer.deviceDetail).joined(separator: "\n\n"))
            }
        }
    }
}
