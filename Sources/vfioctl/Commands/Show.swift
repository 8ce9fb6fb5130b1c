import ArgumentParser
import Devices

extension VFIOCtl {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show everything about one device: IDs, driver, group, reset and ROM facts, GPU verdict.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The device: 0000:01:00.0, 01:00.0 or vendor:device.", valueName: "device"))
        var device: String

        func validate() throws {
            guard DeviceSelector(device) != nil else {
                throw ValidationError(
                    "'\(device)' is not a device: use an address (0000:01:00.0 or 01:00.0) or vendor:device (10de:2484)"
                )
            }
        }

        func run() throws {
            try reportingFailures {
                guard let selector = DeviceSelector(device) else { return }
                let report = try global.host.report()
                printWarnings(report.warnings)
                let devices = try report.devices(matching: selector)
                if global.json {
                    try printJSON(devices)
                    return
                }
                let renderer = ReportRenderer(report: report)
                print(devices.map(renderer.deviceDetail).joined(separator: "\n\n"))
            }
        }
    }
}
