import ArgumentParser
import Devices
import Glibc

/// Words for what `recover` found and did, shared with `doctor`.
enum RecoveryWords {
    /// `0000:03:00.0 (journal: bound by user; vfio-pci → virtio-pci)`.
    static func describe(_ item: RecoveryItem) -> String {
        switch item.subject {
        case .guest(let guest):
            return "guest \(guest): its hook prepared the host and it is not running"
        case .physicalFunction(let address):
            guard case .sriovChange(let from, let to) = item.cause else { return "\(address)" }
            return "\(address): a change from \(from) to \(to) virtual functions did not finish; goes back to \(from)"
        case .device(let address):
            let back = item.originalDriver ?? "the kernel's choice"
            switch item.cause {
            case .journal(let phase, let owner):
                let state =
                    switch phase {
                    case .binding: "left half-way to vfio-pci"
                    case .bound: "on vfio-pci"
                    case .unbinding: "left half-way back"
                    }
                return "\(address) \(state) (moved by \(owner), now on \(item.driver ?? "no driver")); goes back to "
                    + back
            case .staleOverride(let override):
                return "\(address) has driver_override \(override) but is on \(item.driver ?? "no driver")"
            case .preparedGuest, .sriovChange, .mdevCreated:
                return "\(address)"
            }
        case .mediatedDevice(let uuid):
            guard case .mdevCreated(let parent, let type) = item.cause else { return "mediated device \(uuid)" }
            return "mediated device \(uuid) (\(type) on \(parent)): created for an attach that did not finish; "
                + "goes away"
        }
    }

    /// Why an item is left alone.
    static func describe(_ hold: RecoveryItem.Hold) -> String {
        switch hold {
        case .guestRunning(let guest, let pid): "guest \(guest) is running (pid \(pid)): its stop undoes it"
        case .inUse(let holders):
            "in use by \(holders.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", "))"
        }
    }
}

extension VFIOCtl {
    struct Recover: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "recover",
            abstract: "Undo what vfioctl, or a vfioctl that was killed, left changed on the host.",
            discussion: """
                Finds every device in /run/vfioctl/journal.json (bound, or left half-way by a killed bind or \
                unbind), every driver_override that disagrees with the driver a device is on, and every guest \
                whose hook prepared the host but which is not running, and returns each to its original state: \
                devices to the driver they had, hooks released step by step. A device a running guest uses is \
                left alone and named. Exit status 0 when everything is back, 74 when something could not be undone \
                (it stays recorded for the next run).
                """)

        @OptionGroup var global: GlobalOptions

        @Flag(name: .customLong("dry-run"), help: "Print what would be undone, and change nothing.")
        var dryRun = false

        func run() throws {
            try reportingFailures {
                let host = global.host
                if dryRun {
                    let items = try host.planRecovery()
                    if global.json { return try printJSON(["findings": items]) }
                    if items.isEmpty { print("nothing to recover") }
                    for item in items {
                        let hold = item.hold.map { " — left alone: " + RecoveryWords.describe($0) } ?? ""
                        print("would undo: \(RecoveryWords.describe(item))\(hold)")
                    }
                    return
                }
                Interruption.install()
                let outcomes = try host.recover(commands: LiveCommandRunner(host: host)) { line in
                    printError("vfioctl: \(line)")
                }
                if global.json {
                    try printJSON(["outcomes": outcomes])
                } else {
                    if outcomes.isEmpty { print("nothing to recover") }
                    for outcome in outcomes {
                        let what = RecoveryWords.describe(outcome.item)
                        switch outcome.result {
                        case .restored: print("restored: \(what)\(outcome.driver.map { " (now on \($0))" } ?? "")")
                        case .held: print("left alone: \(what): \(outcome.item.hold.map(RecoveryWords.describe) ?? "")")
                        case .failed: print("FAILED: \(what): \(outcome.problem ?? "unknown")")
                        }
                    }
                }
                if outcomes.contains(where: { $0.result == .failed }) { throw ExitCode(74) }
            }
        }
    }
}
