import ArgumentParser
import Devices
import Glibc

/// Runs a command body, turning a `DevicesError` into one line on stderr and a sysexits status.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as DevicesError {
        printError("vfioctl: \(error.message)")
        throw ExitCode(exitStatus(for: error.code))
    } catch let failure as BindFailure {
        printError("vfioctl: \(failure)")
        throw ExitCode(exitStatus(for: failure.error.code))
    } catch let failure as GuardFailure {
        GuardWords.print(failure.refusals, forced: false)
        throw ExitCode(75)
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
    for warning in warnings { printError("warning: \(warning)") }
}
