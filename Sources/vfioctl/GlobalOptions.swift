import ArgumentParser
import Devices
import Glibc
import SystemPackage

/// Options every command takes, before or after its name (`vfioctl -c URI domains`, `vfioctl domains -c URI`).
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Read the host under this directory instead of / (env: VFIOCTL_SYSROOT).", valueName: "dir"),
        completion: .directory)
    var sysroot: String?

    @Option(
        name: .customLong("pci-ids"),
        help: ArgumentHelp("Read device names from this pci.ids file.", valueName: "file"),
        completion: .file())
    var pciIDs: String?

    @Option(
        name: [.customShort("c"), .long],
        help: ArgumentHelp(
            "libvirt URI: qemu:///system (default), qemu+ssh://host/system, … (env: LIBVIRT_DEFAULT_URI).",
            valueName: "uri"),
        completion: .list(["qemu:///system", "qemu:///session", "qemu+ssh://", "qemu+tcp://", "test:///default"]))
    var connect: String?

    @Flag(name: .long, help: "Print one JSON object (sorted keys); errors too, as {\"error\": …}.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only results and errors: no warnings or notes.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Also print the details of what passed and of each step.")
    var verbose = false

    func validate() throws {
        if quiet && verbose {
            throw ValidationError("--quiet and --verbose cannot be combined")
        }
    }

    /// The host the options name.
    var host: Host {
        let root = sysroot ?? environment("VFIOCTL_SYSROOT") ?? "/"
        return Host(sysroot: Sysroot(FilePath(root)), pciIDsPath: pciIDs)
    }

    /// The libvirt URI: `--connect`, else `LIBVIRT_DEFAULT_URI`, else qemu:///system.
    var uri: String {
        connect ?? environment("LIBVIRT_DEFAULT_URI") ?? "qemu:///system"
    }

    /// Refuses `--connect` for a command that reads this host's own sysfs.
    func requireLocal(_ command: String) throws {
        if connect != nil {
            throw ValidationError(
                "\(command) reads this host's sysfs and does not go through libvirt: drop --connect (run it on the "
                    + "host behind the URI)")
        }
    }

    /// Refuses `--sysroot` and `--pci-ids` for a command that only talks to libvirt.
    func requireNoHostTree(_ command: String) throws {
        if sysroot != nil || pciIDs != nil {
            throw ValidationError("\(command) talks to libvirt only: --sysroot and --pci-ids do not apply")
        }
    }

    private func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}

/// The user behind sudo, else the current user; nil for root.
func invokingUser() -> String? {
    for name in ["SUDO_USER", "USER"] {
        if let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty, value != "root" {
            return value
        }
    }
    return nil
}
