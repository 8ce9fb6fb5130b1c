import Glibc
import SystemPackage

/// The files `vfioctl hooks install` writes, before they are written.
public struct HookInstallPlan: Sendable, Hashable {
    /// Files with their new content and mode.
    public var files: [(path: String, content: String, mode: mode_t)]
    /// Files to delete.
    public var removals: [String]
    /// What the user should know or do.
    public var notes: [String]

    /// Compares paths, contents and modes.
    public static func == (lhs: HookInstallPlan, rhs: HookInstallPlan) -> Bool {
        lhs.files.map(\.path) == rhs.files.map(\.path) && lhs.files.map(\.content) == rhs.files.map(\.content)
            && lhs.files.map(\.mode) == rhs.files.map(\.mode) && lhs.removals == rhs.removals && lhs.notes == rhs.notes
    }

    /// Hashes the paths.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(files.map(\.path))
        hasher.combine(removals)
    }
}

/// vfioctl's block in libvirt's `hooks/qemu` script: it runs vfioctl only for guests that have a hook
/// configuration, passes the definition on stdin, and gives the rest of the script its stdin back.
enum HookDispatcher {
    static let begin = "# >>> vfioctl (managed block: `vfioctl hooks install GUEST --remove` takes it out)"
    static let end = "# <<< vfioctl"

    static func block(binary: String) -> [String] {
        [
            begin,
            "if [ -f \(HostPaths.hookConfigs.string)/\"$1\".conf ]; then",
            "    vfioctl_xml=$(cat)",
            "    printf '%s\\n' \"$vfioctl_xml\" | \(binary) hooks run \"$1\" \"$2\" \"$3\" \"$4\" || exit $?",
            "    exec <<VFIOCTL_XML",
            "$vfioctl_xml",
            "VFIOCTL_XML",
            "fi",
            end,
        ]
    }

    /// The script with vfioctl's block right after the `#!` line (before anything that could `exit`).
    static func apply(binary: String, to text: String?) -> String {
        guard let text, !text.isEmpty else {
            return (["#!/bin/sh"] + block(binary: binary)).joined(separator: "\n") + "\n"
        }
        var lines = remove(from: text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let at = lines.first?.hasPrefix("#!") == true ? 1 : 0
        lines.insert(contentsOf: block(binary: binary), at: at)
        return lines.joined(separator: "\n")
    }

    /// The script without vfioctl's block, as it was before.
    static func remove(from text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: begin), let stop = lines[start...].firstIndex(of: end) else {
            return text
        }
        lines.removeSubrange(start...stop)
        return lines.joined(separator: "\n")
    }

    /// Whether a script is nothing but a shebang and vfioctl's block.
    static func isOnlyOurs(_ text: String) -> Bool {
        remove(from: text).trimmingWhitespace() == "#!/bin/sh"
    }
}

extension Host {
    /// Works out the files for a guest's hook: its configuration under /etc/vfioctl/hooks and vfioctl's block
    /// in libvirt's `hooks/qemu` (created when missing; a script of the user's keeps everything it had).
    /// - Parameters:
    ///   - guest: the guest's name.
    ///   - config: what the hook does.
    ///   - binary: the vfioctl the hook runs (an absolute path).
    ///   - remove: take the guest's hook out (and vfioctl's block when no guest has one any more).
    /// - Returns: the files to write (with their modes), those to delete, and notes.
    /// - Throws: `DevicesError` for a bad name, nothing asked for, or unreadable files.
    public func planHookInstall(guest: String, config: HookConfig, binary: String, remove: Bool) throws
        -> HookInstallPlan
    {
        try HookConfig.checkName(guest)
        let files = self.files
        var plan = HookInstallPlan(files: [], removals: [], notes: [])
        let configPath = HookConfig.path(for: guest)
        let script = try files.read(files.path(HostPaths.libvirtQEMUHook)).map { String(decoding: $0, as: UTF8.self) }
        if remove {
            guard files.exists(files.path(configPath)) else {
                throw DevicesError(code: .notFound, message: "\(guest) has no vfioctl hook (\(configPath) is missing)")
            }
            plan.removals.append(configPath.string)
            let others = (try files.list(files.path(HostPaths.hookConfigs)) ?? []).filter {
                $0.hasSuffix(".conf") && $0 != guest + ".conf"
            }
            if others.isEmpty, let script {
                if HookDispatcher.isOnlyOurs(script) {
                    plan.removals.append(HostPaths.libvirtQEMUHook.string)
                } else {
                    plan.files.append((HostPaths.libvirtQEMUHook.string, HookDispatcher.remove(from: script), 0o755))
                }
            }
            return plan
        }
        guard !config.isEmpty else {
            throw DevicesError(
                code: .invalidArgument, message: "say what the hook does: --single-gpu, --hugepages, --isolate-cpus")
        }
        guard binary.hasPrefix("/") else {
            throw DevicesError(code: .invalidArgument, message: "the hook needs vfioctl's absolute path, not \(binary)")
        }
        plan.files.append((configPath.string, config.text, 0o644))
        plan.files.append((HostPaths.libvirtQEMUHook.string, HookDispatcher.apply(binary: binary, to: script), 0o755))
        if script == nil || !(script ?? "").contains(HookDispatcher.begin) {
            plan.notes.append(
                "libvirt reads \(HostPaths.libvirtQEMUHook) when its daemon starts: restart it once "
                    + "(`systemctl restart libvirtd`, or virtqemud on modular hosts)")
        }
        if config.singleGPU {
            plan.notes.append(
                "single GPU: the host's display goes away while \(guest) runs and comes back when it stops; keep ssh "
                    + "access to the host in case the guest hangs")
        }
        if config.isolateCPUs {
            plan.notes.append("isolating CPUs needs pinned vCPUs in \(guest) (`vfioctl attach --pin`)")
        }
        return plan
    }

    /// Writes a hook plan: every file atomically with a backup of what it replaces; removals keep nothing of
    /// vfioctl's behind.
    /// - Returns: the files written and removed.
    /// - Throws: `DevicesError` naming the file that could not be written.
    public func applyHookInstall(_ plan: HookInstallPlan) throws -> (written: [String], removed: [String]) {
        let files = self.files
        var written: [String] = []
        for file in plan.files {
            let outcome = try AtomicFile.write(
                Array(file.content.utf8), to: files.path(FilePath(file.path)), mode: file.mode,
                backup: FilePath(file.path) == HostPaths.libvirtQEMUHook, within: files.sysroot)
            if !outcome.unchanged { written.append(file.path) }
        }
        for path in plan.removals {
            let rooted = files.path(FilePath(path))
            guard files.unlink(rooted) == 0 || errno == ENOENT else {
                throw DevicesError.write(rooted, Errno(rawValue: errno))
            }
        }
        return (written, plan.removals)
    }
}
