import ArgumentParser
import Devices

extension VFIOCtl {
    struct Mdev: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mdev",
            abstract: "Create or remove mediated devices (GVT-g, NVIDIA vGPU types).",
            discussion: """
                `vfioctl show ADDR` lists a parent's types (mdev_supported_types) with how many instances are \
                left, and the mediated devices that exist. A device made here through sysfs lasts until the next \
                boot. With --connect URI it is defined in that libvirt instead (its node-device API, mdevctl \
                behind it; libvirt 7.3 or newer) and started, and --persist starts it at every boot (libvirt 7.8).
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

            @Flag(name: .long, help: "Start it at every boot (libvirt's autostart; needs --connect).")
            var persist = false

            func validate() throws {
                if let uuid, !MdevUUID.isValid(uuid) {
                    throw ValidationError(
                        "'\(uuid)' is not a UUID: use 8-4-4-4-12 hex digits (4b20d080-1b54-4048-85b3-a6a62d165c01)")
                }
                guard global.connect != nil else {
                    if persist {
                        throw ValidationError(
                            "--persist needs --connect URI: a mediated device outlives a reboot only as libvirt's "
                                + "(mdevctl's) definition; without --connect it lasts until the next boot")
                    }
                    _ = try target(address)
                    return
                }
                try global.requireNoHostTree("mdev create --connect")
                guard PCIAddress(address) != nil else {
                    throw ValidationError(
                        "with --connect name the parent by its PCI address (0000:00:02.0), not '\(address)': the host "
                            + "behind the URI is not read here")
                }
            }

            func run() throws {
                try reportingFailures {
                    if let uri = global.connect, let parent = PCIAddress(address) {
                        let device = try MdevNodeDevice(parent: parent, type: type, uuid: uuid ?? MdevUUID.random())
                        let name = try LibvirtConnection(uri: uri).defineMdev(device, persistent: persist)
                        if global.json {
                            return try printJSON(
                                MdevNodeDeviceDocument(
                                    uri: uri, name: name, uuid: device.uuid, parent: parent, type: type,
                                    autostart: persist))
                        }
                        print(
                            "defined and started \(device.uuid) (\(type)) on \(parent) in libvirt at \(uri) as \(name)"
                                + (persist ? "; it starts at every boot" : ""))
                        return
                    }
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
                commandName: "remove",
                abstract: "Remove a mediated device (with --connect: stop it and remove libvirt's definition).")

            @OptionGroup var global: GlobalOptions

            @Argument(help: ArgumentHelp("The device's UUID.", valueName: "uuid"))
            var uuid: String

            func validate() throws {
                guard MdevUUID.isValid(uuid) else {
                    throw ValidationError("'\(uuid)' is not a UUID: use 8-4-4-4-12 hex digits")
                }
                if global.connect != nil { try global.requireNoHostTree("mdev remove --connect") }
            }

            func run() throws {
                try reportingFailures {
                    if let uri = global.connect {
                        let name = try LibvirtConnection(uri: uri).removeMdev(uuid: uuid)
                        if global.json {
                            return try printJSON(
                                MdevNodeDeviceDocument(uri: uri, name: name, uuid: uuid.lowercased()))
                        }
                        print("stopped and undefined \(name) in libvirt at \(uri)")
                        return
                    }
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
