import Devices

/// The doctor's screen: a count line, then one line per check with its details and fix indented below.
struct DiagnosisRenderer {
    let diagnosis: Diagnosis
    let verbose: Bool

    func render() -> String {
        let width = diagnosis.checks.map(\.title.count).max() ?? 0
        var lines = [
            "vfioctl doctor: \(diagnosis.count(.ok)) OK, \(diagnosis.count(.warn)) WARN, "
                + "\(diagnosis.count(.fail)) FAIL", "",
        ]
        for check in diagnosis.checks {
            let label = check.status.rawValue.uppercased()
            let tone: Console.Tone =
                switch check.status {
                case .ok: .good
                case .warn: .warning
                case .fail: .bad
                }
            lines.append(
                Console.paint(label, tone) + String(repeating: " ", count: 6 - label.count) + check.title
                    + String(repeating: " ", count: width - check.title.count + 2) + check.summary)
            if verbose || check.status != .ok {
                for detail in check.details { lines.append("      · " + detail) }
            }
            if let fix = check.fix, check.status != .ok { lines.append("      fix: " + fix) }
        }
        return lines.joined(separator: "\n")
    }
}
