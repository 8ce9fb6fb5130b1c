import SystemPackage

/// What setting a physical function's virtual function count would do, checked before anything is touched.
public struct SRIOVPlan: Sendable, Hashable, Codable {
    /// The physical function.
    public var physicalFunction: PCIAddress
    /// Its driver (the kernel asks it to make the VFs).
    public var driver: String?
    /// `sriov_totalvfs`.
    public var totalVFs: Int
    /// The count it has now.
    public var originalVFs: Int
    /// The count asked for.
    public var targetVFs: Int
    /// `sriov_drivers_autoprobe` now; nil when the file is missing.
    public var originalAutoprobe: Bool?
    /// The value `sriov_drivers_autoprobe` gets before the VFs are made.
    public var autoprobe: Bool
    /// The virtual functions that go away (all of them whenever the count changes from a non-zero one).
    public var removed: [PCIAddress]
    /// The writes, in order; empty when the count is already the one asked for.
    public var steps: [SysfsStep]
    /// Why removing `removed` would hurt the host or a guest; nothing is done while there is any.
    public var refusals: [GuardRefusal]
}

/// Where a physical function ended up.
public struct SRIOVOutcome: Sendable, Hashable, Codable {
    /// The physical function.
    public var physicalFunction: PCIAddress
    /// Whether anything was written.
    public var changed: Bool
    /// Its SR-IOV state afterwards.
    public var sriov: SRIOV
}

extension Host {
    /// Works out how to give `address` `count` virtual functions, without writing anything.
    /// - Parameters:
    ///   - address: the physical function.
    ///   - count: the number of VFs wanted (0 removes them).
    ///   - autoprobe: whether host drivers may probe the new VFs (off keeps them free for vfio-pci).
    ///   - io: the kernel (asked whether block devices are claimed).
    /// - Returns: the writes in order, the VFs that go away, and the guards' refusals.
    /// - Throws: `DevicesError` when the device does not exist, has no SR-IOV capability, or offers fewer VFs.
    public func planSRIOV(_ address: PCIAddress, count: Int, autoprobe: Bool, io: (any HostIO)? = nil) throws
        -> SRIOVPlan
    {
        let io = io ?? self.io
        let report = try report()
        guard let device = report.device(at: address) else {
            throw DevicesError(
                code: .notFound, message: "no PCI device \(address) on this host", object: .target(address.description))
        }
        guard let sriov = device.sharing?.sriov else {
            if let pf = device.sharing?.physicalFunction {
                throw DevicesError(
                    code: .invalidArgument,
                    message: "\(address) is a virtual function of \(pf): set the count on \(pf) instead")
            }
            throw DevicesError(
                code: .invalidArgument,
                message: "\(address) has no SR-IOV capability (no sriov_totalvfs): it cannot make virtual functions")
        }
        guard count >= 0, count <= sriov.totalVFs else {
            throw DevicesError(
                code: .invalidArgument,
                message: "\(address) offers 0 to \(sriov.totalVFs) virtual functions, not \(count)")
        }
        let dir = HostPaths.pciDevices.appending(address.description)
        var steps: [SysfsStep] = []
        var removed: [PCIAddress] = []
        if count != sriov.numVFs {
            if sriov.numVFs > 0 {
                removed = sriov.virtualFunctions.map(\.address)
                steps.append(SysfsStep(kind: .write, target: dir.appending("sriov_numvfs").string, value: "0"))
            }
            if count > 0 {
                if let current = sriov.driversAutoprobe, current != autoprobe {
                    steps.append(
                        SysfsStep(
                            kind: .write, target: dir.appending("sriov_drivers_autoprobe").string,
                            value: autoprobe ? "1" : "0"))
                }
                steps.append(
                    SysfsStep(kind: .write, target: dir.appending("sriov_numvfs").string, value: String(count)))
            }
        }
        let refusals = try PassthroughGuards(files: files, io: io).removalRefusals(for: removed, report: report)
        return SRIOVPlan(
            physicalFunction: address, driver: device.driver, totalVFs: sriov.totalVFs, originalVFs: sriov.numVFs,
            targetVFs: count, originalAutoprobe: sriov.driversAutoprobe, autoprobe: autoprobe, removed: removed,
            steps: steps, refusals: refusals)
    }

    /// Gives a physical function `count` virtual functions, under the host lock, each write recorded in the journal
    /// before it is made; on a failure or a signal the old count (and autoprobe setting) is put back.
    /// - Parameters:
    ///   - address: the physical function.
    ///   - count: the number wanted; 0 removes them.
    ///   - autoprobe: whether host drivers may probe the new VFs.
    ///   - io: the kernel-attribute access.
    ///   - lockTimeout: how long to wait for another vfioctl.
    /// - Returns: the physical function's state afterwards.
    /// - Throws: `GuardFailure` when a VF that would go is in use (nothing changed); `DevicesError` for bad input,
    ///   or when the kernel refuses (after the rollback, which the message describes).
    public func setVirtualFunctions(
        _ address: PCIAddress, count: Int, autoprobe: Bool, io: (any HostIO)? = nil,
        lockTimeout: Duration = .seconds(30)
    ) throws -> SRIOVOutcome {
        let io = io ?? self.io
        return try HostLock.withLock(files, timeout: lockTimeout) {
            let plan = try planSRIOV(address, count: count, autoprobe: autoprobe, io: io)
            guard plan.refusals.isEmpty else { throw GuardFailure(refusals: plan.refusals) }
            guard !plan.steps.isEmpty else {
                return SRIOVOutcome(physicalFunction: address, changed: false, sriov: try currentSRIOV(address))
            }
            var journal = try Journal.load(files)
            if let pending = journal.sriovRecord(address) {
                throw DevicesError(
                    code: .conflict,
                    message: "an earlier change of \(address)'s virtual functions (\(pending.originalVFs) → "
                        + "\(pending.targetVFs)) did not finish; recover it first")
            }
            try applySRIOV(plan, io: io, journal: &journal)
            return SRIOVOutcome(physicalFunction: address, changed: true, sriov: try currentSRIOV(address))
        }
    }

    private func currentSRIOV(_ address: PCIAddress) throws -> SRIOV {
        var warnings: [String] = []
        let dir = files.path(HostPaths.pciDevices.appending(address.description))
        guard let sriov = try SharingReader(files: files).read(dir, warnings: &warnings)?.sriov else {
            throw DevicesError(code: .notFound, message: "\(address) disappeared: its sriov_totalvfs is gone")
        }
        return sriov
    }

    private func applySRIOV(_ plan: SRIOVPlan, io: any HostIO, journal: inout Journal) throws {
        let dir = HostPaths.pciDevices.appending(plan.physicalFunction.description)
        var actions: [SRIOVRecord.Action] = []
        for step in plan.steps {
            if step.target.hasSuffix("sriov_drivers_autoprobe") {
                actions.append(.setAutoprobe)
            } else {
                actions.append(step.value == "0" ? .removeVFs : .createVFs)
            }
        }
        var record = SRIOVRecord(
            physicalFunction: plan.physicalFunction, originalVFs: plan.originalVFs,
            originalAutoprobe: plan.originalAutoprobe, targetVFs: plan.targetVFs,
            steps: actions.map { SRIOVRecord.Step(action: $0, done: false) })
        journal.set(record)
        try journal.save(files)
        do {
            for (index, step) in plan.steps.enumerated() {
                try Interruption.check()
                try io.write(step.value, to: files.path(FilePath(step.target)), timeout: .seconds(60))
                record.steps[index].done = true
                journal.set(record)
                try journal.save(files)
            }
            let now = try files.readText(files.path(dir.appending("sriov_numvfs"))).flatMap { Int($0) }
            guard now == plan.targetVFs else {
                throw DevicesError(
                    code: .io,
                    message: "\(plan.physicalFunction) has \(now.map(String.init) ?? "an unreadable number of") "
                        + "virtual functions after writing \(plan.targetVFs) to sriov_numvfs: see `dmesg`")
            }
        } catch let error as DevicesError {
            let problem = restoreSRIOV(record, io: io, journal: &journal)
            throw DevicesError(
                code: error.code,
                message: error.message + "; "
                    + (problem.map { "putting back \(plan.originalVFs) VFs failed too (\($0)): recover it" }
                        ?? "\(plan.physicalFunction) is back to \(plan.originalVFs) VFs"))
        }
        journal.removeSRIOV(plan.physicalFunction)
        try journal.save(files)
    }

    /// Puts a physical function back to the count (and autoprobe setting) its record remembers.
    ///
    /// The record goes when that worked. Returns what went wrong, nil when it is back.
    func restoreSRIOV(_ record: SRIOVRecord, io: any HostIO, journal: inout Journal) -> String? {
        let dir = HostPaths.pciDevices.appending(record.physicalFunction.description)
        let numvfs = files.path(dir.appending("sriov_numvfs"))
        do {
            let now = try files.readText(numvfs).flatMap { Int($0) }
            if now != record.originalVFs {
                if now != 0 { try io.write("0", to: numvfs, timeout: .seconds(60)) }
                if let original = record.originalAutoprobe {
                    try io.write(original ? "1" : "0", to: files.path(dir.appending("sriov_drivers_autoprobe")))
                }
                if record.originalVFs > 0 {
                    try io.write(String(record.originalVFs), to: numvfs, timeout: .seconds(60))
                }
            } else if let original = record.originalAutoprobe {
                try io.write(original ? "1" : "0", to: files.path(dir.appending("sriov_drivers_autoprobe")))
            }
            let after = try files.readText(numvfs).flatMap { Int($0) }
            guard after == record.originalVFs else {
                return "it has \(after.map(String.init) ?? "an unknown number of") VFs"
            }
            journal.removeSRIOV(record.physicalFunction)
            try journal.save(files)
            return nil
        } catch let error as DevicesError {
            return error.message
        } catch {
            return "\(error)"
        }
    }
}
