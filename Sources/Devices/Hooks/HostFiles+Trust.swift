import Glibc
import SystemPackage

/// A file reached through every link on its way, and the folders its name and each link's target were looked up
/// in: whoever can write one of those folders can swap what the path leads to.
struct ResolvedPath: Sendable, Hashable {
    /// The file itself, with no link left in its path (a host path).
    var file: FilePath
    /// The folders consulted on the way, in lookup order, each once (host paths without links).
    var directories: [FilePath]
}

extension HostFiles {
    /// Links followed while resolving one path before it counts as a loop (the kernel's limit).
    static let maximumLinks = 40

    /// The `lstat` of a host path under the sysroot.
    /// - Throws: the `Errno` of `lstat`.
    func status(_ hostPath: FilePath) throws(Errno) -> stat {
        var info = stat()
        guard path(hostPath).withPlatformString({ lstat($0, &info) }) == 0 else { throw Errno(rawValue: errno) }
        return info
    }

    /// Resolves a host path as the host's kernel would (links, `.` and `..`), with absolute link targets taken
    /// inside the sysroot rather than on the machine running vfioctl.
    /// - Parameter hostPath: an absolute host path.
    /// - Returns: the file and the folders consulted on the way.
    /// - Throws: `DevicesError` naming the host path that does not resolve (missing, a loop, not a folder).
    func resolve(_ hostPath: FilePath) throws -> ResolvedPath {
        var resolved: [String] = []
        var pending = hostPath.components.map(\.string)
        var directories: [FilePath] = []
        var links = 0
        func current(_ names: [String]) -> FilePath {
            var path = FilePath("/")
            for name in names { path.append(name) }
            return path
        }
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name.isEmpty || name == "." { continue }
            if name == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let directory = current(resolved)
            if !directories.contains(directory) { directories.append(directory) }
            let candidate = current(resolved + [name])
            let info: stat
            do { info = try status(candidate) } catch {
                throw DevicesError(
                    code: DevicesError.code(for: error),
                    message: "cannot follow \(hostPath) at \(candidate): \(DevicesError.hint(for: error))", cause: error
                )
            }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                links += 1
                guard links <= Self.maximumLinks, let target = readLink(path(candidate)) else {
                    throw DevicesError(
                        code: .invalidData, message: "cannot follow \(hostPath): too many links at \(candidate)",
                        cause: Errno.tooManySymbolicLinkLevels)
                }
                let targetPath = FilePath(target)
                if targetPath.isAbsolute { resolved = [] }
                pending = targetPath.components.map(\.string) + pending
            case S_IFDIR:
                resolved.append(name)
            default:
                guard pending.allSatisfy({ $0.isEmpty || $0 == "." }) else {
                    throw DevicesError(
                        code: .notFound, message: "cannot follow \(hostPath): \(candidate) is not a folder",
                        cause: Errno.notDirectory)
                }
                resolved.append(name)
            }
        }
        return ResolvedPath(file: current(resolved), directories: directories)
    }
}
