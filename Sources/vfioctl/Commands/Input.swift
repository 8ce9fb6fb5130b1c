import ArgumentParser
import Devices

extension VFIOCtl {
    struct Input: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "input",
            abstract: "Keyboards and mice a guest can take through evdev.",
            subcommands: [List.self],
            defaultSubcommand: List.self)
    }
}

extension VFIOCtl.Input {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List evdev input devices, classified by their capabilities, with the paths a guest should use.",
            discussion: """
                Keyboards and mice are recognised by what they report (udev's input_id rules), not by their \
                names. Each event node shows its stable /dev/input/by-id link (or by-path when there is none), \
                the physical device it belongs to, and whether `--evdev auto` would take it. On the real host \
                libudev and libevdev are asked; under --sysroot the same answers come from sysfs.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Check input-group membership of this user.", valueName: "name"))
        var user: String?

        func run() throws {
            try reportingFailures {
                let report = try global.host.inputDevices(user: user ?? invokingUser())
                printWarnings(report.warnings)
                if global.json {
                    try printJSON(report)
                    return
                }
                print(InputRenderer(report: report).render())
            }
        }
    }
}
