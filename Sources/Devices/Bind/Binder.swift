import SystemPackage

/// What happened to one function.
public struct FunctionOutcome: Sendable, Hashable, Codable {
    /// The function.
    public var address: PCIAddress
    /// The driver it had before.
    public var originalDriver: String?
    /// The driver it has now.
    public var driver: String?
    /// `bound`, `already bound`, `unbound`, `restored` (rolled back), `not restored`.
    public var result: String
    /// Details, when something went wrong.
    public var detail: String?

    /// Encodes every field, nil as `null`, keys in ascending order.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address)
        try c.encode(detail, forKey: .detail)
        try c.encode(driver, forKey: .driver)
        try c.encode(originalDriver, forKey: .originalDriver)
        try c.encode(result, forKey: .result)
    }
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

/// The drivers functions had before vfioctl bound them, kept under /run until reboot.
struct BindingState: Codable {
    struct Entry: Codable {
        var originalDriver: String?
    }

    var functions: [String: Entry] = [:]

    static func load(_ files: HostFiles) -> BindingState {
        guard let bytes = try? files.read(files.path(HostPaths.bindingState)),
            let state = try? JSONCoding.decode(BindingState.self, from: bytes)
        else { return BindingState() }
        return state
    }

    func save(_ files: HostFiles) throws {
        try AtomicFile.write(
            JSONCoding.encode(self), to: files.path(HostPaths.bindingState), mode: 0o644, backup: false,
            within: files.sysroot)
    }
}

extension Host {
    /// Carries out a bind plan, rolling back in reverse order on any failure.
    ///
    /// Per function: `driver_override`, the old driver's `unbind` (with a time limit), `drivers_probe`, then
    /// checks of `driver` and `/dev/vfio/<group>`. On a failure every function touched is returned to its original
    /// driver.
    /// - Parameters:
    ///   - plan: the checked plan from `planBind`.
    ///   - options: the unbind time limit.
    ///   - io: the kernel-attribute access.
    /// - Returns: what happened to each function.
    /// - Throws: `BindFailure` with the first error and where every function ended up.
    public func bind(_ plan: BindPlan, options: BindOptions, io: any HostIO = LiveHostIO()) throws -> [FunctionOutcome]
    {
        let files = self.files
        var done: [PCIAddress] = []
        var outcomes = plan.alreadyBound.map {
            FunctionOutcome(address: $0, originalDriver: "vfio-pci", driver: "vfio-pci", result: "already bound")
        }
        do {
            if plan.loadsModule { try io.loadModule("vfio-pci") }
            for address in plan.functions {
                done.append(address)
                let original = plan.originalDrivers[address.description]
                try moveToVFIO(
                    address, from: original, group: plan.groups[address.description], options: options, io: io)
                outcomes.append(
                    FunctionOutcome(address: address, originalDriver: original, driver: "vfio-pci", result: "bound"))
            }
        } catch let error as DevicesError {
            var restored: [FunctionOutcome] = []
            for address in done.reversed() {
                restored.append(restore(address, to: plan.originalDrivers[address.description], io: io))
            }
            throw BindFailure(error: error, outcomes: restored.reversed())
        }
        var state = BindingState.load(files)
        for address in plan.functions {
            state.functions[address.description] = .init(originalDriver: plan.originalDrivers[address.description])
        }
        try state.save(files)
        return outcomes.sorted { $0.address < $1.address }
    }

    private func moveToVFIO(
        _ address: PCIAddress, from driver: String?, group: Int?, options: BindOptions, io: any HostIO
    ) throws {
        let device = HostPaths.pciDevices.appending(address.description)
        try io.write("vfio-pci", to: files.path(device.appending("driver_override")))
        if let driver {
            try io.write(
                address.description, to: files.path(HostPaths.pciDrivers.appending(driver).appending("unbind")),
                timeout: options.unbindTimeout)
        }
        try io.write(address.description, to: files.path(HostPaths.pciDriversProbe))
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
            address: address, originalDriver: driver, driver: now, result: ok ? "restored" : "not restored",
            detail: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    /// The steps that return functions to their remembered drivers (or to the kernel's choice).
    /// - Throws: `DevicesError` when a target names nothing.
    public func planUnbind(_ targets: [BindTarget]) throws -> (functions: [PCIAddress], steps: [SysfsStep]) {
        let report = try report()
        var chosen: Set<PCIAddress> = []
        for target in targets {
            switch target {
            case .device(let selector):
                for device in try report.devices(matching: selector) { chosen.insert(device.address) }
            case .gpu(let index):
                guard index <= report.gpus.count else {
                    throw DevicesError(code: .notFound, message: "there is no gpu:\(index) (`vfioctl list --gpus`)")
                }
                for address in report.gpus[index - 1].functions { chosen.insert(address) }
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
                        kind: "write", target: HostPaths.pciDrivers.appending(driver).appending("unbind").string,
                        value: address.description))
            }
            steps.append(SysfsStep(kind: "write", target: device.appending("driver_override").string, value: ""))
            if let original = state.functions[address.description]?.originalDriver {
                steps.append(
                    SysfsStep(
                        kind: "write", target: HostPaths.pciDrivers.appending(original).appending("bind").string,
                        value: address.description))
            } else {
                steps.append(
                    SysfsStep(kind: "write", target: HostPaths.pciDriversProbe.string, value: address.description))
            }
        }
        return (chosen.sorted(), steps)
    }

    /// Returns functions to the driver they had before vfioctl bound them (remembered under /run), or to whatever
    /// the kernel probes when nothing was remembered.
    /// - Returns: where each function ended up.
    public func unbind(_ functions: [PCIAddress], io: any HostIO = LiveHostIO()) throws -> [FunctionOutcome] {
        var state = BindingState.load(files)
        var outcomes: [FunctionOutcome] = []
        for address in functions {
            let original = state.functions[address.description]?.originalDriver
            var outcome = restore(address, to: original, io: io)
            if outcome.result == "restored" {
                outcome.result = "unbound"
                state.functions[address.description] = nil
            }
            outcomes.append(outcome)
        }
        try state.save(files)
        return outcomes
    }
}
