/// A Linux kernel release, as in `/proc/sys/kernel/osrelease` (`6.1.0-26-amd64`).
public struct KernelVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Major version.
    public let major: Int
    /// Minor version.
    public let minor: Int
    /// Patch level (0 when absent).
    public let patch: Int

    /// Creates a version from its numbers.
    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses the leading `X.Y[.Z]` of a release string; nil when there is none.
    public init?(release: String) {
        let numeric = release.prefix { $0.isNumber || $0 == "." }
        let parts = numeric.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return nil }
        self.init(parts[0], parts[1], parts.count > 2 ? parts[2] : 0)
    }

    /// `6.1.0`.
    public var description: String { "\(major).\(minor).\(patch)" }

    /// Orders by major, minor, patch.
    public static func < (lhs: KernelVersion, rhs: KernelVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// Linux 5.19: vfio group viability became DMA ownership (`driver_managed_dma`).
    public static let dmaOwnership = KernelVersion(5, 19)
    /// Linux 5.15: `reset_method` appeared.
    public static let resetMethodAttribute = KernelVersion(5, 15)
}
