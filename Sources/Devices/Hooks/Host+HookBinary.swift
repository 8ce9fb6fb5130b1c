import Glibc
import SystemPackage

extension Host {
    /// Who must own vfioctl and the folders above it: root on the host; under a sysroot, the owner of the sysroot's
    /// top folder (root for a host image, the user who made it for a test tree).
    public var trustedOwner: TrustedOwner {
        guard !sysroot.isHostRoot else { return .root }
        var info = stat()
        guard sysroot.root.withPlatformString({ stat($0, &info) }) == 0 else { return .root }
        return TrustedOwner(user: info.st_uid, group: info.st_gid)
    }

    /// Checks that only `owner` can change the program at `program` or what its path leads to: the file (links
    /// resolved) and every folder consulted on the way must belong to `owner` and be writable by nobody else
    /// (a sticky folder such as /tmp is fine: others cannot rename what is not theirs).
    /// - Parameters:
    ///   - program: an absolute host path.
    ///   - owner: the only user who may change it.
    /// - Returns: the program's resolved host path.
    /// - Throws: `DevicesError` (`.permissionDenied`, cause `HookRefusal.untrustedBinaryPath`) naming the first file
    ///   or folder someone else could change, with its owner and mode; or one naming a path that does not resolve
    ///   or is not an executable file.
    @discardableResult
    func checkTrusted(program: FilePath, owner: uid_t) throws -> FilePath {
        let files = self.files
        let resolved = try files.resolve(program)
        let info = try statusForTrust(resolved.file)
        guard info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o111 != 0 else {
            throw DevicesError(
                code: .invalidArgument,
                message: "\(program) is not an executable file (mode \(octal(info.st_mode & 0o7777)))")
        }
        try checkTrusted(resolved.file, info, owner: owner)
        for directory in resolved.directories.reversed() {
            try checkTrusted(directory, try statusForTrust(directory), owner: owner)
        }
        return resolved.file
    }

    /// Checks the folders a new file at `path` would be reached through: the nearest existing one and every folder
    /// consulted on the way to it (missing ones are created by `owner`).
    /// - Throws: as `checkTrusted(program:owner:)`.
    func checkTrusted(folderOf path: FilePath, owner: uid_t) throws {
        let files = self.files
        var folder = path.removingLastComponent()
        while folder != FilePath("/"), !files.entryExists(files.path(folder)) { folder.removeLastComponent() }
        let resolved = try files.resolve(folder)
        for directory in ([resolved.file] + resolved.directories.reversed()) {
            try checkTrusted(directory, try statusForTrust(directory), owner: owner)
        }
    }

    private func statusForTrust(_ hostPath: FilePath) throws -> stat {
        do { return try files.status(hostPath) } catch { throw DevicesError.read(hostPath, error) }
    }

    private func checkTrusted(_ hostPath: FilePath, _ info: stat, owner: uid_t) throws {
        let mode = info.st_mode & 0o7777
        let writableByOthers = info.st_mode & (S_IWGRP | S_IWOTH) != 0
        let isSticky = info.st_mode & S_IFMT == S_IFDIR && info.st_mode & S_ISVTX != 0
        guard info.st_uid != owner || (writableByOthers && !isSticky) else { return }
        let kind = info.st_mode & S_IFMT == S_IFDIR ? "folder" : "file"
        let problem =
            info.st_uid != owner
            ? "belongs to uid \(info.st_uid), not \(owner == 0 ? "root" : "uid \(owner)")"
            : "can be changed by its group or others"
        throw DevicesError(
            code: .permissionDenied,
            message: "libvirt's hook would run vfioctl as root through the \(kind) \(hostPath), which \(problem) "
                + "(owner uid \(info.st_uid), mode \(octal(mode)))",
            cause: HookRefusal.untrustedBinaryPath(path: hostPath, owner: info.st_uid, mode: mode))
    }

    /// Installs the program at `source` (a path on the running system, outside any sysroot) at the host path
    /// `destination`: a temporary file in the same folder, owned by `owner`, mode 0755, synced, then renamed over
    /// whatever was there, so the hook never sees a torn or foreign file.
    /// - Throws: `DevicesError` naming the file that could not be read or written.
    func installProgram(from source: FilePath, to destination: FilePath, owner: TrustedOwner) throws {
        let target = files.path(destination)
        let directory = target.removingLastComponent()
        let input: FileDescriptor
        do { input = try FileDescriptor.open(source, .readOnly, options: .closeOnExec) } catch let error as Errno {
            throw DevicesError.read(source, error)
        }
        try input.closeAfter {
            try AtomicFile.makeDirectories(directory)
            var template = Array(directory.appending(".vfioctl.XXXXXX").string.utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
                guard let base = buffer.baseAddress else { return -1 }
                return mkstemp(base)
            }
            guard fd >= 0 else { throw DevicesError.write(directory, Errno(rawValue: errno)) }
            let temporary = FilePath(platformString: template)
            var committed = false
            defer {
                if !committed { _ = temporary.withPlatformString { unlink($0) } }
            }
            let output = FileDescriptor(rawValue: fd)
            try output.closeAfter {
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                while true {
                    let count: Int
                    do { count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) } } catch let error
                        as Errno
                    {
                        throw DevicesError.read(source, error)
                    }
                    guard count > 0 else { break }
                    do { _ = try output.writeAll(buffer[0..<count]) } catch let error as Errno {
                        throw DevicesError.write(temporary, error)
                    }
                }
                guard fchown(fd, owner.user, owner.group) == 0, fchmod(fd, 0o755) == 0, fsync(fd) == 0 else {
                    throw DevicesError.write(temporary, Errno(rawValue: errno))
                }
            }
            let renamed = temporary.withPlatformString { from in target.withPlatformString { rename(from, $0) } }
            guard renamed == 0 else { throw DevicesError.write(target, Errno(rawValue: errno)) }
            committed = true
            let dirfd = directory.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            if dirfd >= 0 {
                fsync(dirfd)
                close(dirfd)
            }
        }
    }
}

/// A mode in octal with a leading zero, as `ls` users read it: `0755`.
func octal(_ mode: mode_t) -> String {
    "0" + String(mode, radix: 8)
}
