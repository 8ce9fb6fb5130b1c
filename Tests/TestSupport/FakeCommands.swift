import Devices
import Foundation

/// Plays `systemctl` and `modprobe` for hook tests: records every call, answers from a table, and loads or
/// unloads modules in the fake tree.
public final class FakeCommands: CommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [String] = []
    private let root: String
    /// Answers by command line (`modprobe -r nvidia`); everything else succeeds with no output.
    public var answers: [String: (Int32, String)] = [:]

    /// Creates the commands of a fake host.
    public init(host: FakeHost) {
        root = host.root
    }

    /// Every call, as a command line.
    public var log: [String] { lock.withLock { calls } }

    /// Records the call and applies `modprobe`'s effect on `/sys/module`.
    public func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let line = ([name] + arguments).joined(separator: " ")
        let answer = lock.withLock { () -> (Int32, String) in
            calls.append(line)
            return answers[line] ?? (0, "")
        }
        guard answer.0 == 0, name == "modprobe" else { return answer }
        if arguments.first == "-r", arguments.count == 2 {
            try? FileManager.default.removeItem(atPath: root + "/sys/module/" + arguments[1])
        } else if let module = arguments.first {
            try FileManager.default.createDirectory(
                atPath: root + "/sys/module/" + module, withIntermediateDirectories: true)
        }
        return answer
    }
}
