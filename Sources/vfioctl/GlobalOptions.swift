import ArgumentParser
import Devices
import Glibc
import SystemPackage

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Read the host under this directory instead of / (env: VFIOCTL_SYSROOT).", valueName: "dir"),
        completion: .directory)
    var sysroot: String?

    @Option(
        name: .customLong("pci-ids"), help: ArgumentHelp("Read device names from this pci.ids file.", valueName: "file")
    )
    var pciIDs: String?

    /// The host the options name.
    var host: Host {
        let root = sysroot ?? environment("VFIOCTL_SYSROOT") ?? "/"
        return Host(sysroot: Sysroot(FilePath(root)), pciIDsPath: pciIDs)
    }

    private func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}

/// Options for commands that print a report.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON (sorted keys) instead of a table.")
    var json = false
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
