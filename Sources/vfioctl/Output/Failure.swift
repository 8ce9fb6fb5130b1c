import ArgumentParser
import Devices
import Glibc

/// Runs a command body, turning a failure into one line on stderr (or `{"error": …}` under `--json`) and a
/// sysexits status.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as DevicesError {
        Console.fail(code: jsonCode(error.code), message: error.message, status: exitStatus(for: error.code))
    } catch let failure as BindFailure {
        Console.fail(
            code: jsonCode(failure.error.code), message: failure.description,
            status: exitStatus(for: failure.error.code))
    } catch let failure as GuardFailure {
        guard Console.json else {
            GuardWords.print(failure.refusals, forced: false)
            throw ExitCode(75)
        }
        let refusals = failure.refusals.map {
            ErrorDocument.Refusal(
                device: $0.device?.description ?? "host", guardName: $0.kind.rawValue,
                reason: GuardWords.describe($0))
        }
        Console.fail(
            code: "refused", message: refusals.map(\.reason).joined(separator: "; "), status: 75,
            details: .init(refusals: refusals))
    }
}

/// The JSON name of an error code.
func jsonCode(_ code: DevicesError.Code) -> String {
    switch code {
    case .notFound: "not-found"
    case .permissionDenied: "permission-denied"
    case .invalidData: "invalid-data"
    case .invalidArgument: "invalid-argument"
    case .unavailable: "unavailable"
    case .io: "io"
    case .conflict: "conflict"
    case .timeout: "timeout"
    case .interrupted: "interrupted"
    default: "internal"
    }
}

/// The sysexits status of an error code.
func exitStatus(for code: DevicesError.Code) -> Int32 {
    switch code {
    case .invalidArgument: 64
    case .invalidData: 65
    case .notFound: 66
    case .unavailable: 69
    case .internalError: 70
    case .io: 74
    case .timeout: 75
    case .conflict: 75
    case .permissionDenied: 77
    case .interrupted: 128 + (Interruption.signal ?? 2)
    default: 70
    }
}

/// Writes one line to stderr.
func printError(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

/// Prints each warning to stderr.
func printWarnings(_ warnings: [String]) {
    guard !Console.quiet else { return }
    for warning in warnings { printError("warning: \(warning)") }
}
