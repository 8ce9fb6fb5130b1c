import SystemPackage

/// What happened to one function.
public struct FunctionOutcome: Sendable, Hashable, Codable {
    /// The function.
    public var address: PCIAddress
    /// The driver it had before.
    public var originalDriver: String?
    /// The driver it has now.
    public var driver: String?
    /// What happened to it.
    public var result: Result

    /// What happened to a function.
    public enum Result: String, Sendable, Hashable, Codable, CaseIterable {
        /// Now on vfio-pci.
        case bound
        /// It was on vfio-pci already.
        case alreadyBound = "already bound"
        /// Given back to its driver.
        case unbound
        /// Returned to its driver after a failure (rolled back).
        case restored
        /// It could not be returned to its driver.
        case notRestored = "not restored"
    }
    /// Details, when something went wrong.
    public var detail: String?
}

/// A bind or unbind that failed: the first error and what happened to every function.
public struct BindFailure: Error, Sendable, CustomStringConvertible {
    /// The error that stopped it.
    public var error: DevicesError
    /// Every function, after the rollback.
    public var outcomes: [FunctionOutcome]

    /// One line: the error, then where each function ended up.
    public var description: String {
        let states = outcomes.map { "\($0.address) \($0.result)\($0.driver.map { " on \($0)" } ?? "")" }
        return error.message + (states.isEmpty ? "" : "; " + states.joined(separator: ", "))
    }
}

/// The drivers functions had before vfioctl bound them, as the journal under /run remembers them.
struct BindingState {
    struct Entry {
        var originalDriver: String?
    }

    var functions: [PCIAddress: Entry] = [:]

    /// The journal's records; empty when there is none or it cannot be read (the callers only plan with it).
    static func load(_ files: HostFiles) -> BindingState {
        var state = BindingState()
        for record in (try? Journal.load(files))?.records ?? [] {
            state.functions[record.address] = Entry(originalDriver: record.originalDriver)
        }
        return state
    }
}

extension Host {
    /// Carries out a bind plan under the host lock, recording every write in the journal before it is made and
    /// rolling back in reverse order on any failure or signal.
    ///
    /// Per function: `driver_override`, the old driver's `unbind` (with a time limit), `drivers_probe`, then
    /// checks of `driver` and `/dev/vfio/<group>`. On a failure every function touched is returned to its original
    /// driver; a function that cannot be returned keeps its journal record for `recover`.
    /// - Parameters:
    ///   - plan: the checked plan from `planBind`.
    ///   - options: the time limits and the owner recorded.
    ///   - io: the kernel-attribute access.
    /// - Returns: what happened to each function.
    /// - Throws: `BindFailure` with the first error and where every function ended up.
    public func bind(_ plan: BindPlan, options: BindOptions, io: (any HostIO)? = nil) throws -> [FunctionOutcome] {
        let io = io ?? self.io
        do {
            return try HostLock.withLock(files, timeout: options.lockTimeout) {
                try bindHoldingLock(plan, options: options, io: io)
            }
        } catch let error as DevicesError {
            throw BindFailure(error: error, outcomes: [])
        }
    }

    private func bindHoldingLock(_ plan: BindPlan, options: BindOptions, io: any HostIO) throws -> [FunctionOutcome] {
        let files = self.files
        var journal = try Journal.load(files)
        var done: [PCIAddress] = []
        var outcomes = plan.alreadyBound.map {
            FunctionOutcome(address: $0, originalDriver: "vfio-pci", driver: "vfio-pci", result: .alreadyBound)
        }
        do {
            try Interruption.check()
            // The host may have changed between the plan and the lock (another vfioctl, a user's shell).
            for address in plan.functions {
                let now = files.linkName(
                    files.path(HostPaths.pciDevices.appending(address.description).appending("driver")))
                guard now == plan.originalDrivers[address] else {
                    throw DevicesError(
                        code: .conflict,
                        message: "\(address) changed while vfioctl waited for the lock (its driver is now "
                            + "\(now ?? "none")); nothing was done")
                }
            }
            if plan.loadsModule { try io.loadModule("vfio-pci") }
            for address in plan.functions {
                try Interruption.check()
                done.append(address)
                let original = plan.originalDrivers[address]
                try moveToVFIO(
                    address, from: original, group: plan.groups[address], options: options, io: io,
                    journal: &journal)
                outcomes.append(
                    FunctionOutcome(address: address, originalDriver: original, driver: "vfio-pci", result: .bound))
            }
        } catch let error as DevicesError {
            var restored: [FunctionOutcome] = []
            for address in done.reversed() {
                restored.append(
                    returnDevice(address, to: plan.originalDrivers[address], io: io, journal: &journal))
            }
            throw BindFailure(error: error, outcomes: restored.reversed())
        }
        return outcomes.sorted { $0.address < $1.address }
    }

    private func moveToVFIO(
        _ address: PCIAddress, from driver: String?, group: Int?, options: BindOptions, io: any HostIO,
        journal: inout Journal
    ) throws {
        let device = HostPaths.pciDevices.appending(address.description)
        var actions: [JournalStep.Action] = [.setOverride]
        if driver != nil { actions.append(.unbindDriver) }
        actions.append(.probe)
        var record = JournalRecord(
            address: address, originalDriver: driver, owner: options.owner, phase: .binding,
            steps: actions.map { JournalStep(action: $0, done: false) }, problem: nil)
        journal.set(record)
        try journal.save(files)
        for (index, action) in actions.enumerated() {
            if index > 0 { try Interruption.check() }
            switch action {
            case .setOverride:
                try io.write("vfio-pci", to: files.path(device.appending("driver_override")))
            case .unbindDriver:
                if let driver {
                    try io.write(
                        address.description, to: files.path(HostPaths.pciDrivers.appending(driver).appending("unbind")),
                        timeout: options.unbindTimeout)
                }
            default:
                try io.write(address.description, to: files.path(HostPaths.pciDriversProbe))
            }
            record.steps[index].done = true
            journal.set(record)
            try journal.save(files)
        }
        let now = files.linkName(files.path(device.appending("driver")))
        guard now == "vfio-pci" else {
            throw DevicesError(
                code: .io,
                message:
                    "\(address) did not bind to vfio-pci (its driver is \(now ?? "none")): see `dmesg` for vfio-pci's reason"
            )
        }
        if let group, !files.entryExists(files.path(HostPaths.vfioDevices.appending(String(group)))) {
            throw DevicesError(
                code: .io, message: "\(address) is on vfio-pci but /dev/vfio/\(group) did not appear")
        }
        record.phase = .bound
        record.steps = []
        journal.set(record)
        try journal.save(files)
    }

    /// Returns a function to `driver` with its journal record marked on the way: the record goes when the device is
    /// back, and stays (with the problem) when it is not.
    func returnDevice(_ address: PCIAddress, to driver: String?, io: any HostIO, journal: inout Journal)
        -> FunctionOutcome
    {
        var record =
            journal.record(address)
            ?? JournalRecord(address: address, originalDriver: driver, owner: .user, phase: .unbinding, steps: [])
        record.phase = .unbinding
        record.originalDriver = driver
        record.steps = [.unbindVFIO, .clearOverride, .rebind].map { JournalStep(action: $0, done: false) }
        journal.set(record)
        var problems: [String] = []
        do { try journal.save(files) } catch { problems.append("\(error)") }
        var outcome = restore(address, to: driver, io: io)
        if outcome.result == .restored {
            journal.remove(address)
        } else {
            record.problem = outcome.detail ?? outcome.result.rawValue
            journal.set(record)
        }
        do { try journal.save(files) } catch {
            problems.append("\(error)")
            outcome.detail = ([outcome.detail].compactMap { $0 } + problems).joined(separator: "; ")
        }
        return outcome
    }

    /// Returns a function to `driver`, or to whatever the kernel probes when nil.
    ///
    /// Off its current driver, the override cleared, then bound. Never throws: the outcome says what happened.
    func restore(_ address: PCIAddress, to driver: String?, io: any HostIO) -> FunctionOutcome {
        let device = HostPaths.pciDevices.appending(address.description)
        var problems: [String] = []
        let current = files.linkName(files.path(device.appending("driver")))
        if let current, current != driver {
            do {
                try io.write(
                    address.description, to: files.path(HostPaths.pciDrivers.appending(current).appending("unbind")),
                    timeout: .seconds(10))
            } catch let error as DevicesError { problems.append(error.message) } catch { problems.append("\(error)") }
        }
        do {
            try io.write("\n", to: files.path(device.appending("driver_override")))
        } catch let error as DevicesError { problems.append(error.message) } catch { problems.append("\(error)") }
        if files.linkName(files.path(device.appending("driver"))) == nil {
            do {
                if let driver {
                    try io.write(
                        address.description, to: files.path(HostPaths.pciDrivers.appending(driver).appending("bind")))
                } else {
                    try io.write(address.description, to: files.path(HostPaths.pciDriversProbe))
                }
            } catch let error as DevicesError { problems.append(error.message) } catch { problems.append("\(error)") }
        }
        let now = files.linkName(files.path(device.appending("driver")))
        let ok = driver == nil || now == driver
        return FunctionOutcome(
            address: address, originalDriver: driver, driver: now, result: ok ? .restored : .notRestored,
            detail: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    /// The steps that return functions to their remembered drivers (or to the kernel's choice).
    /// - Throws: `DevicesError` when a target names nothing.
    public func planUnbind(_ targets: [BindTarget]) throws -> (functions: [PCIAddress], steps: [SysfsStep]) {
        let report = try report()
        var chosen: Set<PCIAddress> = []
        for target in targets {
            let named = try report.devices(named: target)
            if case .gpu(let index) = target {
                for address in report.gpus[index - 1].functions { chosen.insert(address) }
            } else {
                for device in named { chosen.insert(device.address) }
            }
        }
        let state = BindingState.load(files)
        var steps: [SysfsStep] = []
        for address in chosen.sorted() {
            let device = HostPaths.pciDevices.appending(address.description)
            let driver = report.device(at: address)?.driver
            if let driver {
                steps.append(
                    SysfsStep(
                        kind: .write, target: HostPaths.pciDrivers.appending(driver).appending("unbind").string,
                        value: address.description))
            }
            steps.append(SysfsStep(kind: .write, target: device.appending("driver_override").string, value: ""))
            if let original = state.functions[address]?.originalDriver {
                steps.append(
                    SysfsStep(
                        kind: .write, target: HostPaths.pciDrivers.appending(original).appending("bind").string,
                        value: address.description))
            } else {
                steps.append(
                    SysfsStep(kind: .write, target: HostPaths.pciDriversProbe.string, value: address.description))
            }
        }
        return (chosen.sorted(), steps)
    }

    /// Returns functions to the driver they had before vfioctl bound them (remembered in the journal), or to
    /// whatever the kernel probes when nothing was remembered; under the host lock, each move recorded first.
    /// - Parameters:
    ///   - functions: the functions.
    ///   - io: the kernel-attribute access.
    ///   - lockTimeout: how long to wait for another vfioctl.
    /// - Returns: where each function ended up.
    /// - Throws: `DevicesError` when the journal cannot be read or written, or the lock is not free in time.
    public func unbind(
        _ functions: [PCIAddress], io: (any HostIO)? = nil, lockTimeout: Duration = .seconds(30)
    ) throws -> [FunctionOutcome] {
        let io = io ?? self.io
        return try HostLock.withLock(files, timeout: lockTimeout) {
            var journal = try Journal.load(files)
            var outcomes: [FunctionOutcome] = []
            for address in functions {
                let original = journal.record(address)?.originalDriver
                var outcome = returnDevice(address, to: original, io: io, journal: &journal)
                if outcome.result == .restored { outcome.result = .unbound }
                outcomes.append(outcome)
            }
            return outcomes
        }
    }
}
