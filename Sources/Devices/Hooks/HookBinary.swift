/// Which vfioctl libvirt's hook runs (as root, at every start and stop of a guest with a hook).
public enum HookBinary: Sendable, Hashable {
    /// A vfioctl already installed at this absolute host path.
    case installed(String)
    /// A copy of the vfioctl at this path of the running system, installed at `/usr/local/sbin/vfioctl`.
    case copy(of: String)
}
