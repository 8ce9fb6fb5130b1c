import Glibc
import SystemPackage

/// The files `vfioctl hooks install` writes, before they are written.
public struct HookInstallPlan: Sendable, Hashable {
    /// A file to write.
    public struct File: Sendable, Hashable {
        /// Its host path.
        public var path: String
        /// Its new content.
        public var content: String
        /// Its permissions: those of the file it replaces, else 0644 for a configuration and 0755 for a script.
        public var mode: mode_t

        /// Creates a file to write.
        public init(path: String, content: String, mode: mode_t) {
            self.path = path
            self.content = content
            self.mode = mode
        }
    }

    /// The vfioctl to install for the hook to run, before the files are written.
    public struct ProgramCopy: Sendable, Hashable {
        /// The program on the running system (outside any sysroot).
        public var source: String
        /// Its host path once installed.
        public var destination: String
        /// Who owns the copy.
        public var owner: TrustedOwner
    }

    /// The vfioctl the hook runs (a host path).
    public var binary: String
    /// The copy of vfioctl to install first, if one was asked for.
    public var programCopy: ProgramCopy?
    /// Files with their new content and mode.
    public var files: [File]
    /// Files to delete.
    public var removals: [String]
    /// What the user should know or do.
    public var notes: [String]
}

extension Host {
    /// Works out the files for a guest's hook: its configuration under /etc/vfioctl/hooks and vfioctl's block
    /// in libvirt's `hooks/qemu` (created when missing; a shell script of the user's keeps everything it had,
    /// and its mode and owner).
    ///
    /// The block runs vfioctl as root, so vfioctl must be a file only root can change: it (links resolved) and
    /// every folder on the way to it must belong to the trusted owner and be writable by nobody else.
    /// - Parameters:
    ///   - guest: the guest's name.
    ///   - config: what the hook does.
    ///   - binary: the vfioctl the hook runs, or the one to install for it.
    ///   - remove: take the guest's hook out (and vfioctl's block when no guest has one any more).
    ///   - trustedOwner: who must own vfioctl and its folders; nil for `trustedOwner` (root on the host).
    /// - Returns: the files to write (with their modes), those to delete, and notes.
    /// - Throws: `DevicesError` for a bad name, nothing asked for, a vfioctl others could change
    ///   (`HookRefusal.untrustedBinaryPath`), a hook script that is not a shell script
    ///   (`HookRefusal.notShellScript`), or unreadable files.
    public func planHookInstall(
        guest: String, config: HookConfig, binary: HookBinary, remove: Bool, trustedOwner: TrustedOwner? = nil
    ) throws -> HookInstallPlan {
        try HookConfig.checkName(guest)
        let files = self.files
        let scriptPath = HostPaths.libvirtQEMUHook
        var plan = HookInstallPlan(binary: "", programCopy: nil, files: [], removals: [], notes: [])
        let configPath = HookConfig.path(for: guest)
        if remove {
            let existing = try? existingScript()
            guard files.exists(files.path(configPath)) else {
                throw DevicesError(code: .notFound, message: "\(guest) has no vfioctl hook (\(configPath) is missing)")
            }
            plan.removals.append(configPath.string)
            let others = (try files.list(files.path(HostPaths.hookConfigs)) ?? []).filter {
                $0.hasSuffix(".conf") && $0 != guest + ".conf"
            }
            if others.isEmpty, let existing = existing ?? nil,
                let script = String(validating: existing.bytes, as: UTF8.self),
                HookDispatcher.marks.isPresent(in: script)
            {
                if HookDispatcher.isOnlyOurs(script) {
                    plan.removals.append(scriptPath.string)
                } else {
                    plan.files.append(
                        .init(
                            path: scriptPath.string, content: HookDispatcher.remove(from: script),
                            mode: existing.mode))
                }
            }
            return plan
        }
        guard !config.isEmpty else {
            throw DevicesError(
                code: .invalidArgument, message: "the hook has nothing to do: name at least one of its tasks",
                object: .request(.hook))
        }
        let existing = try existingScript()
        let owner = trustedOwner ?? self.trustedOwner
        switch binary {
        case .installed(let path):
            guard path.hasPrefix("/") else {
                throw DevicesError(
                    code: .invalidArgument, message: "the hook needs vfioctl's absolute path, not \(path)")
            }
            try checkTrusted(program: FilePath(path), owner: owner.user)
            plan.binary = path
        case .copy(let source):
            try checkTrusted(folderOf: HostPaths.hookBinary, owner: owner.user)
            plan.binary = HostPaths.hookBinary.string
            plan.programCopy = .init(source: source, destination: HostPaths.hookBinary.string, owner: owner)
        }
        // Checked before anything is written: a script the block cannot go into stays byte for byte.
        let script = try existing.flatMap { try HookDispatcher.shellText($0.bytes, path: scriptPath) }
        plan.files.append(.init(path: configPath.string, content: config.text, mode: 0o644))
        plan.files.append(
            .init(
                path: scriptPath.string, content: HookDispatcher.apply(binary: plan.binary, to: script),
                mode: existing?.mode ?? 0o755))
        if let mode = existing?.mode, mode & 0o100 == 0 {
            plan.notes.append("\(scriptPath) is not executable (mode \(octal(mode))): libvirt does not run it")
        }
        if !HookDispatcher.marks.isPresent(in: script ?? "") {
            plan.notes.append(
                "libvirt reads \(scriptPath) when its daemon starts: restart it once "
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

    /// libvirt's hook script as it is: its bytes and mode; nil when there is none (its owner is kept by the write).
    private func existingScript() throws -> (bytes: [UInt8], mode: mode_t)? {
        let files = self.files
        let path = HostPaths.libvirtQEMUHook
        let info: stat
        do { info = try files.status(path) } catch {
            if error == .noSuchFileOrDirectory { return nil }
            throw DevicesError.read(path, error)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            // A link is replaced by a file when written: refused, like any other entry that is not a file.
            throw DevicesError(
                code: .conflict,
                message: "\(path) is not a regular file (a link or other entry): vfioctl leaves it as it is")
        }
        let bytes = try files.read(files.path(path)) ?? []
        return (bytes, info.st_mode & 0o7777)
    }

    /// Writes a hook plan: the copy of vfioctl first (checked again once in place), then every file atomically
    /// with a backup of what it replaces, keeping its owner; removals keep nothing of vfioctl's behind.
    /// - Parameter plan: what `planHookInstall` worked out.
    /// - Returns: the files written and removed.
    /// - Throws: `DevicesError` naming the file that could not be written.
    public func applyHookInstall(_ plan: HookInstallPlan) throws -> (written: [String], removed: [String]) {
        try HostLock.withLock(files, timeout: .seconds(30)) { try applyHookInstallHoldingLock(plan) }
    }

    private func applyHookInstallHoldingLock(_ plan: HookInstallPlan) throws -> (written: [String], removed: [String]) {
        let files = self.files
        var written: [String] = []
        if let copy = plan.programCopy {
            try installProgram(from: FilePath(copy.source), to: FilePath(copy.destination), owner: copy.owner)
            try checkTrusted(program: FilePath(copy.destination), owner: copy.owner.user)
            written.append(copy.destination)
        }
        for file in plan.files {
            let rooted = files.path(FilePath(file.path))
            let outcome = try AtomicFile.write(
                Array(file.content.utf8), to: rooted, mode: file.mode,
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
