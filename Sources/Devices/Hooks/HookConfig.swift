import SystemPackage

/// What a guest's hook does, as `/etc/vfioctl/hooks/<guest>.conf` records it (`key=yes` lines).
public struct HookConfig: Sendable, Hashable, Codable {
    /// Free the host's only GPU for the guest and give it back.
    public var singleGPU = false
    /// Reserve the guest's hugepages at start and return them at stop.
    public var hugepages = false
    /// Keep host tasks off the guest's pinned CPUs while it runs.
    public var isolateCPUs = false

    /// Creates a configuration.
    public init(singleGPU: Bool = false, hugepages: Bool = false, isolateCPUs: Bool = false) {
        self.singleGPU = singleGPU
        self.hugepages = hugepages
        self.isolateCPUs = isolateCPUs
    }

    /// Whether nothing is asked for.
    public var isEmpty: Bool { !(singleGPU || hugepages || isolateCPUs) }

    /// The file's text.
    public var text: String {
        "# Written by vfioctl hooks install: what vfioctl does when libvirt starts and stops this guest.\n"
            + "single-gpu=\(singleGPU ? "yes" : "no")\nhugepages=\(hugepages ? "yes" : "no")\n"
            + "isolate-cpus=\(isolateCPUs ? "yes" : "no")\n"
    }

    /// Parses the file's text.
    /// - Throws: `DevicesError` naming the line that is not `key=yes|no` with a known key.
    public init(text: String, source: String) throws {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters()
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
            guard parts.count == 2, parts[1] == "yes" || parts[1] == "no" else {
                throw DevicesError(
                    code: .invalidData, message: "\(source):\(index + 1): expected key=yes or key=no, not '\(trimmed)'")
            }
            let on = parts[1] == "yes"
            switch parts[0] {
            case "single-gpu": singleGPU = on
            case "hugepages": hugepages = on
            case "isolate-cpus": isolateCPUs = on
            default:
                throw DevicesError(
                    code: .invalidData,
                    message:
                        "\(source):\(index + 1): unknown setting '\(parts[0])' (single-gpu, hugepages, isolate-cpus)")
            }
        }
    }

    /// Guest names become file names: letters, digits, `-`, `_`, `.`, not starting with a dot.
    static func checkName(_ name: String) throws {
        let allowed = name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
        guard !name.isEmpty, allowed, !name.hasPrefix(".") else {
            throw DevicesError(
                code: .invalidArgument,
                message: "'\(name)' cannot be a guest name here: use letters, digits, '-', '_' and '.'")
        }
    }

    /// The configuration file of a guest.
    static func path(for name: String) -> FilePath { HostPaths.hookConfigs.appending(name + ".conf") }
}

/// Runs helper programs (`systemctl`, `modprobe`), found under the sysroot like every other host path.
public protocol CommandRunner: Sendable {
    /// Runs a program by name with arguments.
    /// - Returns: its exit status and output.
    /// - Throws: `DevicesError` when it is not installed or cannot be started.
    func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String)
}

/// Runs programs installed under the sysroot, each for at most a minute.
public struct LiveCommandRunner: CommandRunner {
    let files: HostFiles

    /// Creates a runner for a host.
    public init(host: Host) {
        files = host.files
    }

    /// Runs `name` from the usual program directories of the sysroot.
    public func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        // The program's location is resolved inside the sysroot: a link in the tree never runs the host's own.
        guard let program = files.program(name), let resolved = files.realPath(files.path(program)) else {
            throw DevicesError(code: .unavailable, message: "\(name) is not installed")
        }
        switch try ChildProcess.run(resolved.string, arguments, timeout: .seconds(60)) {
        case .exited(let status, let output): return (status, output)
        case .timedOut:
            throw DevicesError(
                code: .timeout, message: "\(name) \(arguments.joined(separator: " ")) did not finish in 60 s")
        }
    }
}
