import Devices
import Foundation

/// Plays `systemctl` and `modprobe` for hook tests: records every call, answers from a table, and loads or
/// unloads modules in the fake tree (vfio-pci's driver folder with its module, as the kernel does).
public final class FakeCommands: CommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [String] = []
    private var unloadedDrivers: Set<String> = []
    private let root: String
    /// Every call as `run <command line>`, in one order with a `FakeKernel`'s writes when both share it.
    public let events: EventLog
    /// Answers by command line (`modprobe -r nvidia`); everything else succeeds with no output.
    public var answers: [String: (Int32, String)] = [:]

    /// Creates the commands of a fake host.
    public init(host: FakeHost, events: EventLog = EventLog()) {
        root = host.root
        self.events = events
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
        events.append("run \(line)")
        guard answer.0 == 0, name == "modprobe" else { return answer }
        if arguments.first == "-r", arguments.count == 2 {
            let module = arguments[1].replacingOccurrences(of: "-", with: "_")
            try? FileManager.default.removeItem(atPath: root + "/sys/module/" + module)
            // The module's PCI driver goes with it: a bind to it fails until it is loaded again.
            let driver = module == "vfio_pci" ? "vfio-pci" : arguments[1]
            if (try? FileManager.default.removeItem(atPath: root + "/sys/bus/pci/drivers/" + driver)) != nil {
                lock.withLock { _ = unloadedDrivers.insert(driver) }
            }
        } else if let name = arguments.first {
            let module = name.replacingOccurrences(of: "-", with: "_")
            try FileManager.default.createDirectory(
                atPath: root + "/sys/module/" + module, withIntermediateDirectories: true)
            let driver = module == "vfio_pci" ? "vfio-pci" : name
            if driver == "vfio-pci" || lock.withLock({ unloadedDrivers.remove(driver) }) != nil {
                try FileManager.default.createDirectory(
                    atPath: root + "/sys/bus/pci/drivers/" + driver, withIntermediateDirectories: true)
            }
        }
        return answer
    }
}
