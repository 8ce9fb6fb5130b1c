import ArgumentParser
import Devices
import Glibc
import SystemPackage

extension VFIOCtl {
    struct Hooks: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hooks",
            abstract: "Per-guest libvirt hooks: single-GPU handover, hugepages and CPU isolation at start and stop.",
            subcommands: [Install.self, Run.self])
    }
}

extension VFIOCtl.Hooks {
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install (or --remove) a guest's hook.",
            discussion: """
                Writes /etc/vfioctl/hooks/GUEST.conf and puts vfioctl's block at the top of libvirt's \
                /etc/libvirt/hooks/qemu (created when missing; a shell script of your own keeps all it has, its \
                mode and owner; a script in another language is refused and left alone). The block runs \
                `vfioctl hooks run` only for guests with a configuration; nothing is put in qemu.d/, where \
                scripts run for every guest. At `prepare begin` the host is prepared; at `release end` exactly \
                that is undone, also after a crash. The hook never calls libvirt.

                libvirt runs the hook as root, so the vfioctl it calls must be one only root can change: the file \
                and every folder above it owned by root and writable by nobody else. A vfioctl in your home or a \
                build folder is refused; --copy-binary installs this one as /usr/local/sbin/vfioctl for the hook.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(
            help: ArgumentHelp("The guest's name in libvirt.", valueName: "guest"), completion: .custom(completeDomains)
        )
        var guest: String

        @Flag(
            name: .customLong("single-gpu"),
            help: "Stop the display manager, free and bind the guest's GPU; give it back.")
        var singleGPU = false

        @Flag(name: .long, help: "Reserve the guest's hugepages (compacting first) and return them.")
        var hugepages = false

        @Flag(name: .customLong("isolate-cpus"), help: "Keep host slices off the guest's pinned CPUs while it runs.")
        var isolateCPUs = false

        @Flag(
            name: .customLong("copy-binary"),
            help: "Install this vfioctl as /usr/local/sbin/vfioctl (root's, mode 755) and have the hook run that.")
        var copyBinary = false

        @Option(
            name: .long,
            help: ArgumentHelp("The installed vfioctl the hook runs (default: this one).", valueName: "path"),
            completion: .file())
        var binary: String?

        @Flag(name: .long, help: "Take the guest's hook out again.")
        var remove = false

        @Flag(name: .long, help: "Install even when the guards refuse the guest's devices (warnings still printed).")
        var force = false

        @Flag(name: .customLong("dry-run"), help: "Print the files; write nothing.")
        var dryRun = false

        func validate() throws {
            if copyBinary && binary != nil {
                throw ValidationError("--copy-binary installs this vfioctl; it does not go with --binary")
            }
        }

        func run() throws {
            try reportingFailures {
                let host = global.host
                let config = HookConfig(singleGPU: singleGPU, hugepages: hugepages, isolateCPUs: isolateCPUs)
                if singleGPU && !remove { try checkDevices(host) }
                if remove && host.isHookPrepared(guest: guest) && !force {
                    // Its release must still find the configuration's state: refusing keeps a running guest's host
                    // changes undoable.
                    printError(
                        "vfioctl: \(guest)'s hook has prepared the host and not released it: stop the guest first "
                            + "(or run `vfioctl recover` when it is not running), or --force")
                    throw ExitCode(75)
                }
                let program: HookBinary =
                    copyBinary ? .copy(of: executablePath()) : .installed(binary ?? executablePath())
                let plan: HookInstallPlan
                do {
                    plan = try host.planHookInstall(guest: guest, config: config, binary: program, remove: remove)
                } catch let error as DevicesError {
                    throw withWayOut(error)
                }
                if dryRun {
                    if let copy = plan.programCopy {
                        print("# \(copy.destination) (mode 755): a copy of \(copy.source)")
                    }
                    for file in plan.files {
                        print("# \(file.path) (mode \(String(file.mode, radix: 8)))")
                        print(file.content, terminator: file.content.hasSuffix("\n") ? "" : "\n")
                    }
                    for path in plan.removals { print("rm \(path)") }
                } else {
                    let done = try host.applyHookInstall(plan)
                    for path in done.written { printError("wrote \(path)") }
                    for path in done.removed { printError("removed \(path)") }
                    if done.written.isEmpty && done.removed.isEmpty { printError("\(guest): hook already in place") }
                }
                for note in plan.notes { Console.note("note: \(note)") }
            }
        }

        /// Checks the guest's PCI hostdevs with the guards a single-GPU hook applies at every start; when libvirt
        /// cannot be asked, says they are checked at the start instead.
        private func checkDevices(_ host: Host) throws {
            // A sysroot is a closed world: the host's libvirt is asked only when named.
            if !host.sysroot.isHostRoot && global.connect == nil { return }
            let xml: [UInt8]
            do {
                xml = try LibvirtConnection(uri: global.uri).inactiveXML(of: guest)
            } catch let error as DevicesError {
                Console.note("note: \(guest)'s devices are checked at every start (\(error.message))")
                return
            }
            let refusals = try host.singleGPURefusals(domainXML: xml, guest: guest)
            guard !refusals.isEmpty else { return }
            guard force else { throw GuardFailure(refusals: refusals) }
            GuardWords.print(refusals, forced: true)
        }

        /// The refusal with what the user can do about it, on the same line.
        private func withWayOut(_ error: DevicesError) -> DevicesError {
            let wayOut: String
            switch error.cause as? HookRefusal {
            case .untrustedBinaryPath?:
                let flags = [
                    singleGPU ? "--single-gpu" : nil, hugepages ? "--hugepages" : nil,
                    isolateCPUs ? "--isolate-cpus" : nil,
                ].compactMap { $0 }
                wayOut =
                    "let the hook run a copy only root can change: `vfioctl hooks install \(guest) "
                    + (flags + ["--copy-binary"]).joined(separator: " ") + "` installs this vfioctl as "
                    + "\(HostPaths.hookBinary)"
            case .notShellScript?:
                wayOut =
                    "move your script into \(HostPaths.libvirtQEMUHookDirectory)/ (libvirt runs those too) and "
                    + "install again, or call `vfioctl hooks run -- GUEST OPERATION PHASE SUB` from it yourself "
                    + "with the definition on stdin"
            case nil:
                return error
            }
            return DevicesError(code: error.code, message: error.message + "; " + wayOut, cause: error.cause)
        }

        /// The running binary's absolute path.
        private func executablePath() -> String {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
            guard count > 0 else { return CommandLine.arguments[0] }
            return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run a guest's hook as libvirt calls it: GUEST OPERATION PHASE, the definition on stdin.",
            discussion: """
                Called by libvirt's hooks/qemu script as `vfioctl hooks run -- GUEST OPERATION PHASE SUB`: after \
                `--` a guest named like an option (`-x`, `--help`) is still a name. Each step goes to the system \
                log (and stderr, which libvirt records); a host that cannot be prepared gives a one-line error and a \
                non-zero exit, so libvirt does not start the guest.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("The guest's name.", valueName: "guest"), completion: .custom(completeDomains))
        var guest: String

        @Argument(
            help: ArgumentHelp(
                "libvirt's operation: prepare, start, started, stopped, release, ….", valueName: "operation"),
            completion: .list([
                "prepare", "start", "started", "stopped", "release", "migrate", "restore", "reconnect", "attach",
            ]))
        var operation: String

        @Argument(help: ArgumentHelp("begin or end.", valueName: "phase"), completion: .list(["begin", "end"]))
        var phase: String

        @Argument(help: ArgumentHelp("libvirt's extra argument (ignored).", valueName: "extra"))
        var extra: [String] = []

        func run() throws {
            try reportingFailures {
                let host = global.host
                let relevant =
                    (operation == "prepare" && phase == "begin") || (operation == "release" && phase == "end")
                let xml = relevant ? readStandardInput() : []
                Interruption.install()
                openlog("vfioctl-hook", LOG_PID, LOG_DAEMON)
                defer { closelog() }
                try host.runHook(
                    guest: guest, operation: operation, phase: phase, domainXML: xml, io: host.io,
                    commands: LiveCommandRunner(host: host)
                ) { line in
                    logLine(line)
                }
            }
        }

        private func readStandardInput() -> [UInt8] {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count =
                    (try? chunk.withUnsafeMutableBytes {
                        try FileDescriptor.standardInput.read(into: $0, retryOnInterrupt: true)
                    }) ?? 0
                guard count > 0 else { break }
                bytes.append(contentsOf: chunk[0..<count])
            }
            return bytes
        }
    }
}

/// Writes a hook step to the system log and to stderr.
private func logLine(_ line: String) {
    line.withCString { text in withVaList([text]) { vsyslog(LOG_INFO, "%s", $0) } }
    printError("vfioctl hook: " + line)
}
