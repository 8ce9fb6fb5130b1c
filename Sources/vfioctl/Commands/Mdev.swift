import ArgumentParser
import Devices

extension VFIOCtl {
    struct Mdev: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mdev",
            abstract: "Create or remove mediated devices (GVT-g, NVIDIA vGPU types).",
            discussion: """
                `vfioctl show ADDR` lists a parent's types (mdev_supported_types) with how many instances are \
                left, and the mediated devices that exist. A device made here lasts until the next boot.
                """,
            subcommands: [Create.self, Remove.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "create",
                abstract: "Create a mediated device of TYPE on the parent function ADDR.")

            @OptionGroup var global: GlobalOptions

            @Argument(
                help: ArgumentHelp("The parent: an address, vendor:device or gpu:N.", valueName: "target"),
                completion: .custom(completeTargets))
            var address: String

            @Argument(help: ArgumentHelp("The type ID, as `vfioctl show` lists it.", valueName: "type"))
            var type: String

            @Option(name: .long, help: ArgumentHelp("Its UUID (default: a random one).", valueName: "uuid"))
            var uuid: String?

            func validate() throws {
                try global.requireLocal("mdev create")
                _ = try target(address)
                if let uuid, !MdevUUID.isValid(uuid) {
                    throw ValidationError(
                        "'\(uuid)' is not a UUID: use 8-4-4-4-12 hex digits (4b20d080-1b54-4048-85b3-a6a62d165c01)")
                }
            }

            func run() throws {
                try reportingFailures {
                    let parent = try global.host.address(named: address)
                    let mdev = try global.host.createMdev(parent: parent, type: type, uuid: uuid)
                    if global.json { return try printJSON(mdev) }
                    print(
                        "created \(mdev.uuid) (\(mdev.type ?? type)) on \(parent)"
                            + (mdev.iommuGroup.map { ", IOMMU group \($0)" } ?? ""))
                }
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "remove", abstract: "Remove a mediated device.")

            @OptionGroup var global: GlobalOptions

            @Argument(help: ArgumentHelp("The device's UUID.", valueName: "uuid"))
            var uuid: String

            func validate() throws {
                guard MdevUUID.isValid(uuid) else {
                    throw ValidationError("'\(uuid)' is not a UUID: use 8-4-4-4-12 hex digits")
                }
            }

            func run() throws {
                try reportingFailures {
                    do {
                        let mdev = try global.host.removeMdev(uuid)
                        if global.json { return try printJSON(mdev) }
                        print("removed \(mdev.uuid) from \(mdev.parent)")
                    } catch let failure as GuardFailure {
                        for refusal in failure.refusals {
                            printError("vfioctl: refusing: \(GuardWords.describe(refusal))")
                        }
                        throw ExitCode(75)
                    }
                }
            }
        }
    }
}
