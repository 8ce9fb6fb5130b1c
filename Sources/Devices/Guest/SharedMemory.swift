/// The IVSHMEM devices vfioctl writes: Looking Glass's frame buffer and Scream's audio ring.
public enum SharedMemory {
    /// The Looking Glass size formula.
    public enum Formula: String, Sendable, CaseIterable {
        /// Current Looking Glass (the IDD era): `ceil(W × 4 / 256) × 256 × H × 3 + 4 MiB`; HDR uses the same
        /// 32-bit transport.
        case current
        /// Release B7: `W × H × BPP × 2 + 10 MiB`, BPP 4 (SDR) or 8 (HDR).
        case b7
    }

    /// Scream's recommended ring size in MiB.
    public static let screamMiB = 2

    /// The size in MiB of the Looking Glass device for a resolution: the formula's bytes, rounded up to a power
    /// of two (IVSHMEM sizes must be powers of two of at least 1 MiB).
    public static func lookingGlassMiB(width: Int, height: Int, hdr: Bool, formula: Formula = .current) -> Int {
        let mebibyte = 1024 * 1024
        let bytes: Int
        switch formula {
        case .current:
            let stride = (width * 4 + 255) / 256 * 256
            bytes = stride * height * 3 + 4 * mebibyte
        case .b7:
            bytes = width * height * (hdr ? 8 : 4) * 2 + 10 * mebibyte
        }
        let mib = (bytes + mebibyte - 1) / mebibyte
        return nextPowerOfTwo(max(mib, 1))
    }

    /// The smallest power of two at least `value`.
    public static func nextPowerOfTwo(_ value: Int) -> Int {
        var result = 1
        while result < value { result <<= 1 }
        return result
    }

    /// Parses `WxH` (`1920x1080`).
    /// - Throws: `DevicesError` naming the text and the expected form.
    public static func resolution(_ text: String) throws -> (width: Int, height: Int) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), (64...16384).contains(width),
            (64...16384).contains(height)
        else {
            throw DevicesError(
                code: .invalidArgument,
                message: "'\(text)' is not a resolution: give WIDTHxHEIGHT, for example 2560x1440")
        }
        return (width, height)
    }
}
