import ArgumentParser
import Devices

@main
struct VFIOCtl: ParsableCommand {
    static let version = "0.1.0"
    /// The date the manual page carries: the version's.
    static let versionDate = "December 3, 2026"

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
        subcommands: [
            List.self, Show.self, Doctor.self, Bind.self, Unbind.self, Persist.self, Input.self, VBIOSCommand.self,
            Attach.self, Detach.self, XML.self, Domains.self, Hooks.self, Recover.self, SRIOVCommand.self, Mdev.self,
        ],
        defaultSubcommand: List.self
    )

    /// Runs the command line: global options anywhere, a misspelt command refused with the nearest names,
    /// every failure as one line (or one JSON object under `--json`).
    static func main() {
        let typed = Array(CommandLine.arguments.dropFirst())
        Console.configure(typed)
        let arguments: [String]
        do {
            arguments = try Invocation(typed, root: Self.self).arguments
        } catch {
            Console.fail(code: "usage", message: String(describing: error), status: 64)
        }
        if arguments.first == "--version" || arguments.first == "-V" {
            VersionReport.print()
            return
        }
        if arguments == ["--generate-manual"] {
            do {
                print(try Manual.page(for: Self.self, version: version, date: versionDate), terminator: "")
            } catch {
                Console.fail(code: "internal", message: "the manual page: \(error)", status: 70)
            }
            return
        }
        // attach and detach validate against libvirt's schema; compiling it overlaps with everything before.
        if let command = arguments.first, command == "attach" || command == "detach" {
            DomainFile.preloadSchema(schemaPath())
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            Console.exit(for: error, command: Self.self)
        }
    }
}
