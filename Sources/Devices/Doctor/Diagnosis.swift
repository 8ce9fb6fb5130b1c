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
    }

    /// Every check, in the order they are shown.
    public var checks: [Check] {
        didSet { tally() }
    }
    /// Things that went wrong while reading the host, each naming a path.
    public var warnings: [String]
    /// The worst status of all checks (`ok` when there are none).
    public private(set) var worst: Status = .ok
    /// How many checks came out `ok`.
    public private(set) var okCount = 0
    /// How many checks came out `warn`.
    public private(set) var warnCount = 0
    /// How many checks came out `fail`.
    public private(set) var failCount = 0

    /// The check with `id`, if any.
    public func check(_ id: String) -> Check? { checks.first { $0.id == id } }

    /// How many checks came out `status`.
    public func count(_ status: Status) -> Int {
        switch status {
        case .ok: okCount
        case .warn: warnCount
        case .fail: failCount
        }
    }

    /// Creates a diagnosis.
    public init(checks: [Check], warnings: [String]) {
        self.checks = checks
        self.warnings = warnings
        tally()
    }

    // Stored rather than computed so the synthesized encoding carries them to scripts.
    private mutating func tally() {
        worst = checks.map(\.status).max() ?? .ok
        okCount = checks.filter { $0.status == .ok }.count
        warnCount = checks.filter { $0.status == .warn }.count
        failCount = checks.filter { $0.status == .fail }.count
    }
}
