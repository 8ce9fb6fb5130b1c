import Glibc

/// Who owns the files only root may change: root on a real host.
public struct TrustedOwner: Sendable, Hashable {
    /// The owner's user ID.
    public var user: uid_t
    /// The group new files get.
    public var group: gid_t

    /// Creates an owner.
    public init(user: uid_t, group: gid_t) {
        self.user = user
        self.group = group
    }

    /// root (uid and gid 0).
    public static let root = TrustedOwner(user: 0, group: 0)
}
