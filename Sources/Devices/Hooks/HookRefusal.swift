import Glibc
import SystemPackage

/// Why `hooks install` leaves the host alone: the cause a refusing `DevicesError` carries, for the caller to
/// word the way out.
public enum HookRefusal: Error, Sendable, Hashable {
    /// Someone other than the trusted owner could change the vfioctl that libvirt's hook runs as root:
    /// the file or folder at `path` (as the host names it) has this owner and mode.
    case untrustedBinaryPath(path: FilePath, owner: uid_t, mode: mode_t)
    /// libvirt's hook script at `path` is not a sh, bash or dash script (`interpreter` is what its `#!` line
    /// runs, nil for a file without one), so vfioctl's block cannot go into it.
    case notShellScript(path: FilePath, interpreter: String?)
}
