import ArgumentParser
import Devices
import Glibc

/// How this run speaks: JSON or text, how much, and whether in colour.
///
/// Set once from the command line before the command runs; every writer of the CLI asks it.
enum Console {
    /// `--json`: every result and every error is one JSON object on stdout.
    nonisolated(unsafe) static var json = false
    /// `--quiet`: no warnings or notes, only results and errors.
    nonisolated(unsafe) static var quiet = false
    /// `--verbose`: details of what passed and of each step.
    nonisolated(unsafe) static var verbose = false
    /// Colour for OK/WARN/FAIL and verdicts: stdout is a terminal and `NO_COLOR` is unset.
    nonisolated(unsafe) static var colour = false

    /// Reads the global flags from the arranged command line (up to `--`).
    static func configure(_ arguments: [String]) {
        let options = arguments.prefix { $0 != "--" }
        json = options.contains("--json")
        quiet = options.contains("--quiet") || options.contains("-q")
        verbose = options.contains("--verbose") || options.contains("-v")
        let noColor = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
        let dumb = getenv("TERM").map { String(cString: $0) == "dumb" } ?? false
        colour = !json && !noColor && !dumb && isatty(STDOUT_FILENO) == 1
    }

    /// Writes an error and ends the process with `status`: one line on stderr, or `{"error": …}` on stdout.
    static func fail(code: String, message: String, status: Int32, details: ErrorDocument.Details? = nil) -> Never {
        if json {
            try? printJSON(
                ErrorDocument(error: .init(code: code, message: message, status: status, details: details)))
        } else {
            printError("vfioctl: \(message)")
        }
        exit(status)
    }

    /// Ends the process for an error the parser or a command threw.
    static func exit(for error: any Error, command: any ParsableCommand.Type) -> Never {
        if let exitCode = error as? ExitCode {
            exit(exitCode.rawValue)
        }
        let status = command.exitCode(for: error).rawValue
        if status == 0 || !json {
            command.exit(withError: error)
        }
        let message = command.message(for: error)
        fail(code: "usage", message: message.split(separator: "\n").first.map(String.init) ?? message, status: status)
    }

    /// Writes a note to stderr unless `--quiet`.
    static func note(_ line: String) {
        guard !quiet else { return }
        printError(line)
    }

    /// Colours a verdict word for a terminal.
    static func paint(_ text: String, _ tone: Tone) -> String {
        guard colour else { return text }
        return "\u{1B}[\(tone.rawValue)m\(text)\u{1B}[0m"
    }

    /// The colours of verdicts.
    enum Tone: String {
        case good = "32"
        case warning = "33"
        case bad = "1;31"
        case dim = "2"
    }

    private static func exit(_ status: Int32) -> Never {
        Glibc.exit(status)
    }
}

/// The JSON of a failed command: `{"error": {"code", "message", "status", …}}`.
struct ErrorDocument: Encodable {
    /// What failed.
    struct Failure: Encodable {
        /// A stable name of the kind of failure (`not-found`, `usage`, `refused`, …).
        var code: String
        /// The one line the text form prints.
        var message: String
        /// The exit status the process ends with.
        var status: Int32
        /// What a refusal or a failed step concerns.
        var details: Details?
    }

    /// The object of a failure, when there is one.
    struct Details: Encodable {
        /// The device, file, group or guest the error concerns.
        var object: String?
        /// Each guard's refusal: the device and why.
        var refusals: [Refusal]?
    }

    /// One refusal of a guard.
    struct Refusal: Encodable {
        var device: String
        var guardName: String
        var reason: String
    }

    var error: Failure
}
