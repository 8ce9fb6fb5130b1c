/// The outcome of `Host.diagnose()`: one check per line, each OK, WARN or FAIL with the exact fix.
public struct Diagnosis: Sendable, Codable, Hashable {
    /// How a check came out.
    public enum Status: String, Sendable, Codable, Comparable {
        /// Nothing to do.
        case ok
        /// Works, but something is risky, slow or missing for a common setup.
        case warn
        /// Passthrough will not work until this is fixed.
        case fail

        private var rank: Int {
            switch self {
            case .ok: 0
            case .warn: 1
            case .fail: 2
            }
        }

        /// Orders by severity: ok < warn < fail.
        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rank < rhs.rank }
    }

    /// One line of the diagnosis.
    public struct Check: Sendable, Codable, Hashable {
        /// A stable identifier for scripts: `iommu`, `interrupt-remapping`, `gpu-group:0000:01:00.0`, ….
        public var id: String
        /// What was checked, in a few words.
        public var title: String
        /// How it came out.
        public var status: Status
        /// What was found, in one line.
        public var summary: String
        /// More facts, one line each.
        public var details: [String]
        /// The exact fix, when the status is not `ok`.
        public var fix: String?

        /// Creates a check.
        public init(
            id: String, title: String, status: Status, summary: String, details: [String] = [], fix: String? = nil
        ) {
            self.id = id
            self.title = title
            self.status = status
            self.summary = summary
            self.details = details
            self.fix = fix
        }

        /// Encodes every field, nil as `null`, keys in ascending order.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(details, forKey: .details)
            try c.encode(fix, forKey: .fix)
            try c.encode(id, forKey: .id)
            try c.encode(status, forKey: .status)
            try c.encode(summary, forKey: .summary)
            try c.encode(title, forKey: .title)
        }
    }

    /// Every check, in the order they are shown.
    public var checks: [Check]
    /// Things that went wrong while reading the host, each naming a path.
    public var warnings: [String]

    /// The worst status of all checks (`ok` when there are none).
    public var worst: Status { checks.map(\.status).max() ?? .ok }

    /// The check with `id`, if any.
    public func check(_ id: String) -> Check? { checks.first { $0.id == id } }

    /// How many checks came out `status`.
    public func count(_ status: Status) -> Int { checks.filter { $0.status == status }.count }

    /// Encodes the checks, the counts and the warnings, keys in ascending order.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checks, forKey: .checks)
        try c.encode(count(.fail), forKey: .failCount)
        try c.encode(count(.ok), forKey: .okCount)
        try c.encode(count(.warn), forKey: .warnCount)
        try c.encode(warnings, forKey: .warnings)
        try c.encode(worst, forKey: .worst)
    }

    /// Decodes what `encode(to:)` wrote.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        checks = try c.decode([Check].self, forKey: .checks)
        warnings = try c.decode([String].self, forKey: .warnings)
    }

    /// Creates a diagnosis.
    public init(checks: [Check], warnings: [String]) {
        self.checks = checks
        self.warnings = warnings
    }

    private enum CodingKeys: String, CodingKey {
        case checks, failCount, okCount, warnCount, warnings, worst
    }
}
