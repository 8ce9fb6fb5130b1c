import CLinux
import Glibc
import SystemPackage

extension Sysroot {
    /// Opens a location under this root (one `path(_:)` made) as `open(2)` does, except that under a root other
    /// than `/` every component, symbolic links included, is resolved inside the root: an absolute link or `..`
    /// never leaves it (`openat2` with `RESOLVE_IN_ROOT`).
    /// - Returns: the descriptor, or -1 with `errno` set (`EXDEV` for a location outside the root).
    func open(_ rooted: FilePath, _ flags: Int32, mode: mode_t = 0) -> CInt {
        guard !isHostRoot else {
            return rooted.withPlatformString { Glibc.open($0, flags | O_CLOEXEC, mode) }
        }
        guard let relative = relativePath(rooted) else {
            Glibc.errno = EXDEV
            return -1
        }
        // The root itself is the caller's to name.
        if relative == FilePath(".") { return root.withPlatformString { Glibc.open($0, flags | O_CLOEXEC, mode) } }
        let rootFD = root.withPlatformString { Glibc.open($0, CLINUX_O_PATH | O_DIRECTORY | O_CLOEXEC) }
        guard rootFD >= 0 else { return -1 }
        let fd = relative.withPlatformString { clinux_openat2(rootFD, $0, flags, mode, 1) }
        let saved = Glibc.errno
        close(rootFD)
        Glibc.errno = saved
        return fd
    }

    /// The part of a rooted location below the root (`.` for the root itself), or nil when it is not under it.
    func relativePath(_ rooted: FilePath) -> FilePath? {
        // On strings: this runs for every file read. A `..` left in the rest is resolved by the kernel, and
        // stops at the root.
        let path = rooted.string
        let base = root.string
        guard path.hasPrefix(base) else { return nil }
        let rest = path.dropFirst(base.count)
        if rest.isEmpty || rest == "/" { return FilePath(".") }
        guard rest.first == "/" else { return nil }
        return FilePath(String(rest.drop { $0 == "/" }))
    }

    /// The canonical location of a rooted path, every link resolved inside the root, in the root's own spelling;
    /// nil when it does not resolve.
    func resolved(_ rooted: FilePath) -> FilePath? {
        guard !isHostRoot else {
            guard let resolved = rooted.withPlatformString({ realpath($0, nil) }) else { return nil }
            defer { free(resolved) }
            return FilePath(platformString: resolved)
        }
        let fd = open(rooted, CLINUX_O_PATH)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let target = Self.linkTarget(FilePath("/proc/self/fd/\(fd)")),
            let canonicalRoot = root.withPlatformString({ realpath($0, nil) })
        else { return nil }
        defer { free(canonicalRoot) }
        var inside = FilePath(target)
        guard inside.removePrefix(FilePath(platformString: canonicalRoot)) else { return nil }
        return root.pushing(inside)
    }

    /// The target of a symbolic link, read without following it (`name` relative to `directory`); nil when it
    /// is not a link.
    static func linkTarget(_ name: FilePath, in directory: CInt = AT_FDCWD) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return -1 }
            return name.withPlatformString {
                readlinkat(directory, $0, base.assumingMemoryBound(to: CChar.self), raw.count)
            }
        }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// The target of the symbolic link at a rooted location (the link itself is found inside the root); nil when
    /// it is not a link.
    func linkTarget(_ rooted: FilePath) -> String? {
        guard !isHostRoot else { return Self.linkTarget(rooted) }
        guard let name = rooted.lastComponent else { return nil }
        let parent = open(rooted.removingLastComponent(), CLINUX_O_PATH | O_DIRECTORY)
        guard parent >= 0 else { return nil }
        defer { close(parent) }
        return Self.linkTarget(FilePath(name.string), in: parent)
    }

    /// `fstatat` on a rooted location: through a final link when `following`, else the entry itself.
    func status(_ rooted: FilePath, following: Bool) -> stat? {
        var info = stat()
        if isHostRoot {
            let rc = rooted.withPlatformString { following ? stat($0, &info) : lstat($0, &info) }
            return rc == 0 ? info : nil
        }
        if following {
            let fd = open(rooted, CLINUX_O_PATH)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            return fstat(fd, &info) == 0 ? info : nil
        }
        guard let name = rooted.lastComponent else { return status(rooted, following: true) }
        let parent = open(rooted.removingLastComponent(), CLINUX_O_PATH | O_DIRECTORY)
        guard parent >= 0 else { return nil }
        defer { close(parent) }
        let rc = name.string.withCString { fstatat(parent, $0, &info, AT_SYMLINK_NOFOLLOW) }
        return rc == 0 ? info : nil
    }
}
