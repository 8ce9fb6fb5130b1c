import ArgumentParser
import Devices

extension VFIOCtl {
    struct SRIOVCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sriov",
            abstract: "Create or remove a physical function's SR-IOV virtual functions.",
            discussion: """
                --vfs N makes N virtual functions (an SR-IOV NIC, NVMe controller, Intel iGPU on i915 with \
                enable_guc=3 max_vfs=N or on xe, an NVIDIA or AMD data-centre GPU). sriov_drivers_autoprobe is \
                turned off first, so no host driver takes the new VFs and each can go to vfio-pci with `vfioctl bind` \
                (--autoprobe lets the host drivers probe them). Changing a non-zero count removes every VF first, as \
                the kernel requires; --vfs 0 removes them. Removing is refused while a VF is on vfio-pci or held by a \
                guest, or the host uses it (a disk, the default route, a display). Every write is recorded in \
                /run/vfioctl/journal.json before it is made and rolled back on failure; `vfioctl recover` undoes \
                a change a killed run left half-way. --persist writes a udev rule \
                (/etc/udev/rules.d/70-vfioctl-sriov.rules) that makes the same VFs when the function's driver binds \
                at boot; `vfioctl persist --remove` takes it out.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(
            help: ArgumentHelp("The physical function: an address, vendor:device or gpu:N.", valueName: "target"),
            completion: .custom(completeTargets))
        var address: String

        @Option(name: .long, help: ArgumentHelp("How many virtual functions (0 removes them).", valueName: "n"))
        var vfs: Int

        @Flag(name: .long, help: "Let host drivers probe the new VFs (off by default: they stay free for vfio-pci).")
        var autoprobe = false

        @Flag(name: .long, help: "Also make this count come back at every boot (a udev rule).")
        var persist = false

        @Flag(name: .customLong("dry-run"), help: "Print the exact sysfs writes, in order, and change nothing.")
        var dryRun = false

        @Option(name: .long, help: ArgumentHelp("Seconds to wait for another vfioctl's lock.", valueName: "seconds"))
        var wait: Int = 30

        func validate() throws {
            try global.requireLocal("sriov")
            _ = try target(address)
            guard vfs >= 0 else { throw ValidationError("--vfs takes a count (0 or more), not \(vfs)") }
        }

        func run() throws {
            try reportingFailures {
                let host = global.host
                let pf = try host.address(named: address)
                if dryRun {
                    let plan = try host.planSRIOV(pf, count: vfs, autoprobe: autoprobe)
                    try refuse(plan.refusals)
                    if global.json { return try printJSON(plan) }
                    if plan.steps.isEmpty { print("\(pf) already has \(vfs) virtual functions") }
                    for step in plan.steps { print(step.description) }
                    if persist { print("then write \(HostPaths.sriovRules) for \(pf)") }
                    return
                }
                Interruption.install()
                let outcome: SRIOVOutcome
                do {
                    outcome = try host.setVirtualFunctions(
                        pf, count: vfs, autoprobe: autoprobe, lockTimeout: .seconds(max(wait, 0)))
                } catch let failure as GuardFailure {
                    try refuse(failure.refusals)
                    return
                }
                var persisted: [PersistedVirtualFunctions]?
                if persist {
                    persisted = try host.persistVirtualFunctions(
                        pf, count: vfs, autoprobe: autoprobe, lockTimeout: .seconds(max(wait, 0))
                    ).persisted
                }
                if global.json { return try printJSON(outcome) }
                let sriov = outcome.sriov
                print(
                    (outcome.changed ? "" : "unchanged: ")
                        + "\(pf): \(sriov.numVFs) of \(sriov.totalVFs) virtual functions, drivers_autoprobe "
                        + (sriov.driversAutoprobe.map { $0 ? "on" : "off" } ?? "unknown"))
                for vf in sriov.virtualFunctions {
                    print(
                        "  \(vf.address)  group \(vf.iommuGroup.map(String.init) ?? "-")  \(vf.driver ?? "no driver")")
                }
                if let persisted {
                    print(
                        "wrote \(HostPaths.sriovRules): "
                            + (persisted.isEmpty
                                ? "no function left (removed)"
                                : persisted.map { "\($0.physicalFunction) \($0.count) VFs" }.joined(separator: ", ")))
                }
            }
        }

        /// Prints the refusals (no --force: a VF in use cannot be pulled from under its user) and fails.
        private func refuse(_ refusals: [GuardRefusal]) throws {
            guard !refusals.isEmpty else { return }
            for refusal in refusals { printError("vfioctl: refusing: \(GuardWords.describe(refusal))") }
            throw ExitCode(75)
        }
    }
}
