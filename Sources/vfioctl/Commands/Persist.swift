import ArgumentParser
import Devices

extension PersistMethod: ExpressibleByArgument {}

extension VFIOCtl {
    struct Persist: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "persist",
            abstract: "Make vfio-pci take devices at every boot: modprobe.d, the initramfs, the kernel command line.",
            discussion: """
                Writes /etc/modprobe.d/vfioctl.conf (options vfio-pci ids=…, softdep lines so GPU drivers wait \
                for vfio-pci), the initramfs configuration of the tool the host uses (initramfs-tools, dracut, \
                mkinitcpio; vfio_virqfd only before Linux 6.2) and a GRUB drop-in with the IOMMU options, never \
                rewriting the user's own settings, then prints the commands that regenerate the initramfs and the \
                bootloader configuration. When another device shares a vendor:device ID, the devices are bound by \
                address instead (a udev rule setting driver_override, as driverctl does).

                Each persist adds to the earlier ones: /etc/vfioctl/persist.json lists every persisted function \
                with its method, and every file is rewritten from that whole list (persisting a device again \
                replaces its method). --remove TARGET… takes out only those devices (a GPU's companions with it \
                unless --only) and keeps the rest; --remove alone takes out everything: vfioctl's own files are \
                deleted (never restored from a .bak), a file of the user's that was at their place before is put \
                back, vfioctl's block leaves the user's files (such as /etc/initramfs-tools/modules), which are \
                then byte for byte what they were, and the state file and the folders vfioctl created go too; the \
                virtual function counts `vfioctl sriov --persist` recorded (70-vfioctl-sriov.rules) go with it, or \
                only those of the physical functions named. \
                Every file is written atomically; --dry-run writes nothing. The devices go through the same guards \
                as bind (the boot GPU, a disk or NIC the host uses, a group left not viable, the IOMMU off are \
                refused unless --force), since what would hurt the host now hurts it at every boot.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(
            help: ArgumentHelp(
                "Devices to bind at boot; with --remove, the persisted devices to take out (none: all).",
                valueName: "target"), completion: .custom(completeTargets))
        var target: [String] = []

        @Option(
            name: .long,
            help: ArgumentHelp("ids (modprobe.d) or override (udev rule per address).", valueName: "method"),
            completion: .list(["ids", "override"]))
        var method: PersistMethod?

        @Flag(name: .long, help: "Also take every other endpoint of each IOMMU group.")
        var group = false

        @Flag(name: .long, help: "Only the named functions, not a GPU's companions.")
        var only = false

        @Flag(name: .long, help: "Persist even what the guards refuse (the boot GPU, a disk in use, the route's NIC).")
        var force = false

        @Flag(name: .long, help: "Take the named devices out again (none named: all of vfioctl's persistence).")
        var remove = false

        @Flag(name: .customLong("dry-run"), help: "Print the files and their content, and change nothing.")
        var dryRun = false

        func validate() throws {
            if !remove && target.isEmpty { throw ValidationError("name the devices to persist (or --remove)") }
            if remove && method != nil { throw ValidationError("--method applies to persisting, not to --remove") }
            _ = try targets(target)
        }

        func run() throws {
            try reportingFailures {
                let host = global.host
                var targets = target
                if remove && !dryRun {
                    // Physical functions whose VFs `sriov --persist` brings back leave vfioctl's udev rule file.
                    let named = target.compactMap { PCIAddress($0) }
                    let gone = try host.removeVirtualFunctionPersistence(named)
                    for address in gone { print("no longer persisted: the virtual functions of \(address)") }
                    let persistedBinds = try host.persistedFunctionAddresses()
                    targets = target.filter { text in
                        guard let address = PCIAddress(text), gone.contains(address) else { return true }
                        return persistedBinds.contains(address)
                    }
                    if !target.isEmpty && targets.isEmpty { return }
                }
                let plan = try host.planPersist(
                    targets.compactMap(BindTarget.init), options: BindOptions(group: group, only: only, force: force),
                    method: method, remove: remove)
                GuardWords.print(plan.forced, forced: true)
                for note in plan.notes { Console.note("note: \(note)") }
                if dryRun {
                    if global.json { return try printJSON(plan) }
                    for file in plan.files { print("--- \(file.path)\n\(file.content)", terminator: "") }
                    for path in plan.removals { print("--- remove \(path)") }
                    for path in plan.directories { print("--- remove \(path)/ (when empty)") }
                    for command in plan.commands { print("then run: \(command)") }
                    return
                }
                let result = try host.applyPersist(plan)
                if global.json {
                    return try printJSON(PersistDocument(plan: plan, written: result.written, removed: result.removed))
                }
                for path in result.written { print("wrote \(path)") }
                for path in result.removed { print("removed \(path)") }
                if result.written.isEmpty && result.removed.isEmpty {
                    print("nothing changed")
                } else {
                    for command in plan.commands { print("then run: \(command)") }
                }
                print(
                    plan.persisted.isEmpty
                        ? "persisted: nothing"
                        : "persisted: " + plan.persisted.map { "\($0.address) (\($0.method))" }.joined(separator: ", "))
            }
        }
    }
}
