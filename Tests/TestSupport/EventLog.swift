import Foundation

/// One ordered record of what a test's fakes were asked to do: `FakeKernel` and `FakeCommands` share it when a
/// test must see commands and sysfs writes in the order they happened (a module reloaded before a rebind).
public final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []

    /// Creates an empty log.
    public init() {}

    /// Every event in order: `run <command line>` for a command, `write <owner>/<attribute> <- <text>` for a
    /// sysfs write, `modprobe <name>` for a module `HostIO` loads.
    public var events: [String] { lock.withLock { entries } }

    /// Adds one event.
    public func append(_ event: String) { lock.withLock { entries.append(event) } }

    /// The position of the first event equal to `event`, or nil.
    public func index(of event: String) -> Int? { lock.withLock { entries.firstIndex(of: event) } }
}
