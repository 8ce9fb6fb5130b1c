import ArgumentParser
import Devices

@main
struct VFIOCtl: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "vfioctl",
        abstract: "Inspect and prepare a Linux host for VFIO passthrough into libvirt/QEMU guests.",
        discussion: """
            vfioctl reads the host's IOMMU groups, PCI devices and GPUs and tells which can be passed through to a \
            guest, and why not; binds them to vfio-pci safely (and at every boot); checks, patches and installs \
            VBIOS ROMs; finds the keyboard and mouse to share through evdev; and writes the passthrough parts of \
            libvirt guests (files or live definitions) with per-guest start and stop hooks.

            Every host path (/sys, /dev, /proc, /etc, /run) is read under --sysroot (default /, or the \
            VFIOCTL_SYSROOT environment variable), so a saved or fake host tree can be inspected too.

            Exit status: 0 success; 64 bad usage; 65 malformed data; 66 a file, device or sysroot that does not \
            exist; 69 a facility the host lacks; 70 an internal error; 74 an I/O error; 75 a timeout or a \
            conflict with the host's state; 77 permission denied (run as root).
            """,
        version: version,
        subcommands: [
            List.self, Show.self, Doctor.self, Bind.self, Unbind.self, Persist.self, Input.self, VBIOSCommand.self,
            Attach.self, Detach.self, XML.self, Domains.self, Hooks.self, Recover.self, SRIOVCommand.self, Mdev.self,
        ],
        defaultSubcommand: List.self
    )

    /// Runs the command line, letting `--looking-glass` stand without a size.
    static func main() {
        let arguments = Self.normalized(Array(CommandLine.arguments.dropFirst()))
        // attach and detach validate against libvirt's schema; compiling it overlaps with everything before.
        if let command = arguments.first, command == "attach" || command == "detach" {
            DomainFile.preloadSchema(schemaPath())
        }
        main(arguments)
    }

    /// `--looking-glass` not followed by a size means the default 1920x1080; every other argument is kept.
    static func normalized(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                result += arguments[index...]
                break
            }
            if argument == "--looking-glass" {
                let next = index + 1 < arguments.count ? arguments[index + 1] : ""
                // A value starting with a digit is meant as the size (and is checked as one).
                let isSize = next.first?.isNumber == true
                if !isSize {
                    result.append("--looking-glass=1920x1080")
                    index += 1
                    continue
                }
            }
            result.append(argument)
            index += 1
        }
        return result
    }
}
