import ArgumentParser
import Devices

/// Prints what happened to each function.
private func printOutcomes(_ outcomes: [FunctionOutcome]) {
    var table = Table("FUNCTION", "BEFORE", "NOW", "RESULT")
    for outcome in outcomes {
        table.add([
            outcome.address.description, outcome.originalDriver ?? "none", outcome.driver ?? "none",
            outcome.result.rawValue + (outcome.detail.map { " (\($0))" } ?? ""),
        ])
    }
    print(table.render())
}

extension VFIOCtl {
    struct Bind: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bind",
            abstract: "Hand devices to vfio-pci: whole GPUs, checked first, rolled back on failure.",
            discussion: """
                TARGET is an address (0000:01:00.0, 01:00.0), vendor:device, or gpu:N (the Nth GPU of \
                `vfioctl list --gpus`). A GPU brings its companion functions (audio, USB, UCSI) unless --only. \
                Everything is checked before anything is touched, by the same guards as persist, attach and the \
                hooks: the IOMMU must be on and the group viable afterwards; the boot GPU, the GPU the console or a \
                compositor is on, a controller whose disks are in use (mounted, swap, LVM, RAID, LUKS, ZFS, btrfs) \
                and a NIC carrying a default route (also through a bridge, bond or VLAN) are refused unless --force. \
                Under one lock (/run/vfioctl) and with every write recorded first in /run/vfioctl/journal.json, per \
                function vfioctl writes driver_override, unbinds the old driver (with a time limit), reprobes and \
                verifies; on any failure, or SIGINT/SIGTERM/SIGHUP, every function is returned to its driver before \
                it exits. `vfioctl recover` undoes what a killed run left. It never uses new_id.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Devices to bind.", valueName: "target"), completion: .custom(completeTargets))
        var target: [String]

        @Flag(name: .long, help: "Also bind every other endpoint of each IOMMU group.")
        var group = false

        @Flag(name: .long, help: "Bind only the named functions, not a GPU's companions.")
        var only = false

        @Flag(name: .long, help: "Bind even the boot GPU or a device the host is using.")
        var force = false

        @Flag(name: .customLong("dry-run"), help: "Print the exact sysfs writes, in order, and change nothing.")
        var dryRun = false

        @Option(name: .long, help: ArgumentHelp("Seconds one driver unbind may take.", valueName: "seconds"))
        var timeout: Int = 10

        @Option(name: .long, help: ArgumentHelp("Seconds to wait for another vfioctl's lock.", valueName: "seconds"))
        var wait: Int = 30

        func validate() throws {
            guard !target.isEmpty else { throw ValidationError("name at least one device to bind") }
            _ = try targets(target)
            guard timeout > 0 else { throw ValidationError("--timeout takes a number of seconds above 0") }
        }

        func run() throws {
            try reportingFailures {
                let options = BindOptions(
                    group: group, only: only, force: force, unbindTimeout: .seconds(timeout),
                    lockTimeout: .seconds(wait))
                let host = global.host
                Interruption.install()
                let plan = try host.planBind(try targets(target), options: options)
                GuardWords.print(plan.forced, forced: true)
                for note in plan.notes { Console.note("note: \(note)") }
                let forced = plan.forced.map(GuardWords.describe)
                if dryRun {
                    if global.json {
                        return try printJSON(
                            BindDocument(dryRun: true, steps: plan.steps, notes: plan.notes, forced: forced))
                    }
                    if plan.steps.isEmpty { print("# nothing to do: already on vfio-pci") }
                    for step in plan.steps { print(step.description) }
                    return
                }
                let outcomes = try host.bind(plan, options: options, io: host.io)
                if global.json {
                    return try printJSON(
                        BindDocument(
                            dryRun: false, steps: plan.steps, functions: outcomes, notes: plan.notes, forced: forced))
                }
                printOutcomes(outcomes)
            }
        }
    }

    struct Unbind: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "unbind",
            abstract: "Give devices back: clear the override and return each to the driver it had before.",
            discussion: """
                The driver each function had is remembered under /run/vfioctl when vfioctl binds it; without \
                that, the kernel probes whatever driver matches.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(
            help: ArgumentHelp("Devices to give back.", valueName: "target"), completion: .custom(completeTargets))
        var target: [String]

        @Flag(name: .customLong("dry-run"), help: "Print the exact sysfs writes, in order, and change nothing.")
        var dryRun = false

        @Option(name: .long, help: ArgumentHelp("Seconds to wait for another vfioctl's lock.", valueName: "seconds"))
        var wait: Int = 30

        func validate() throws {
            guard !target.isEmpty else { throw ValidationError("name at least one device to unbind") }
            _ = try targets(target)
        }

        func run() throws {
            try reportingFailures {
                let host = global.host
                Interruption.install()
                let plan = try host.planUnbind(try targets(target))
                if dryRun {
                    if global.json {
                        return try printJSON(BindDocument(dryRun: true, steps: plan.steps, notes: [], forced: []))
                    }
                    for step in plan.steps { print(step.description) }
                    return
                }
                let outcomes = try host.unbind(plan.functions, io: host.io, lockTimeout: .seconds(max(wait, 0)))
                if global.json {
                    try printJSON(
                        BindDocument(dryRun: false, steps: plan.steps, functions: outcomes, notes: [], forced: []))
                } else {
                    printOutcomes(outcomes)
                }
                if outcomes.contains(where: { $0.result != .unbound }) { throw ExitCode(74) }
            }
        }
    }
}
