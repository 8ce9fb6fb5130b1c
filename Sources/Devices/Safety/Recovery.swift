import SystemPackage

/// Something vfioctl, or a vfioctl that was killed, left changed on the host.
public struct RecoveryItem: Sendable, Hashable, Codable {
    /// What was left changed.
    public enum Subject: Sendable, Hashable, Codable {
        /// A PCI function.
        case device(PCIAddress)
        /// A guest whose hook prepared the host.
        case guest(String)
        /// A physical function whose virtual function count was being changed.
        case physicalFunction(PCIAddress)
        /// A mediated device, by UUID.
        case mediatedDevice(String)
    }

    /// How it was found.
    public enum Cause: Sendable, Hashable, Codable {
        /// The journal records the device, in this phase, moved by this owner.
        case journal(phase: JournalRecord.Phase, owner: BindingOwner)
        /// The device's `driver_override` names another driver than the one it is on.
        case staleOverride(override: String)
        /// The guest's hook prepared the host and the guest is not running.
        case preparedGuest
        /// The journal records a change of the VF count from `from` to `to` that did not finish.
        case sriovChange(from: Int, to: Int)
        /// The journal records a mediated device of `type` on `parent` created for a guest whose definition was not
        /// written.
        case mdevCreated(parent: PCIAddress, type: String)
    }

    /// Why it is left alone for now.
    public enum Hold: Sendable, Hashable, Codable {
        /// The guest runs (libvirt's pid file names a live process); its own release undoes it.
        case guestRunning(guest: String, pid: Int)
        /// A process has the device's `/dev/vfio` group open (a running QEMU).
        case inUse([GuardRefusal.Holder])
    }

    /// What.
    public var subject: Subject
    /// How it was found.
    public var cause: Cause
    /// The driver a device is on now.
    public var driver: String?
    /// The driver it goes back to (nil: whatever the kernel probes).
    public var originalDriver: String?
    /// Set when it must not be undone now.
    public var hold: Hold?
}

/// What `recover` did with one item.
public struct RecoveryOutcome: Sendable, Hashable, Codable {
    /// How it ended.
    public enum Result: String, Sendable, Hashable, Codable {
        /// Back as it was.
        case restored
        /// Left alone (see the item's hold).
        case held
        /// Could not be undone; the record stays.
        case failed
    }

    /// The item.
    public var item: RecoveryItem
    /// How it ended.
    public var result: Result
    /// The driver a device is on afterwards.
    public var driver: String?
    /// What went wrong.
    public var problem: String?
}

extension Host {
    /// Everything vfioctl left changed, without changing anything.
    ///
    /// Devices in its journal, every `driver_override` that disagrees with the bound driver, and guests whose hook
    /// prepared the host but which are not running.
    /// - Throws: `DevicesError` when the journal or a hook state is corrupt (naming it) or sysfs cannot be read.
    public func planRecovery() throws -> [RecoveryItem] {
        let files = self.files
        let journal = try Journal.load(files)
        let report = try report()
        var items: [RecoveryItem] = []
        var guestsReleased: Set<String> = []
        let hookStates = try files.list(files.path(HostPaths.hookState)) ?? []
        for name in hookStates where name.hasSuffix(".json") {
            let guest = String(name.dropLast(".json".count))
            var item = RecoveryItem(subject: .guest(guest), cause: .preparedGuest)
            if let pid = runningGuestPID(guest) {
                item.hold = .guestRunning(guest: guest, pid: pid)
            } else {
                guestsReleased.insert(guest)
            }
            items.append(item)
        }
        let processes = ProcessTable(files: files)
        for record in journal.records {
            if case .guest(let guest) = record.owner, guestsReleased.contains(guest) { continue }
            let device = report.device(at: record.address)
            var item = RecoveryItem(
                subject: .device(record.address), cause: .journal(phase: record.phase, owner: record.owner),
                driver: device?.driver, originalDriver: record.originalDriver)
            if case .guest(let guest) = record.owner, let pid = runningGuestPID(guest) {
                item.hold = .guestRunning(guest: guest, pid: pid)
            } else if let group = device?.iommuGroup {
                let holders = try processes.holders(of: [HostPaths.vfioDevices.appending(String(group)).string])
                if !holders.isEmpty { item.hold = .inUse(holders) }
            }
            items.append(item)
        }
        for record in journal.sriov ?? [] {
            items.append(
                RecoveryItem(
                    subject: .physicalFunction(record.physicalFunction),
                    cause: .sriovChange(from: record.originalVFs, to: record.targetVFs),
                    driver: report.device(at: record.physicalFunction)?.driver,
                    originalDriver: report.device(at: record.physicalFunction)?.driver))
        }
        // A device created for an attach that did not finish goes, unless a running guest has it after all.
        let mediated = report.devices.flatMap { $0.sharing?.mediatedDevices ?? [] }
        for record in journal.mdevs ?? [] {
            var item = RecoveryItem(
                subject: .mediatedDevice(record.uuid), cause: .mdevCreated(parent: record.parent, type: record.type))
            if let guest = mediated.first(where: { $0.uuid == record.uuid })?.guest, let pid = runningGuestPID(guest) {
                item.hold = .guestRunning(guest: guest, pid: pid)
            }
            items.append(item)
        }
        let recorded = Set(journal.records.map(\.address))
        for device in report.devices where !recorded.contains(device.address) {
            guard let override = device.driverOverride, !override.isEmpty, override != "(null)",
                override != device.driver
            else { continue }
            items.append(
                RecoveryItem(
                    subject: .device(device.address), cause: .staleOverride(override: override),
                    driver: device.driver, originalDriver: nil))
        }
        return items
    }

    /// Undoes every item that is not held, under the host lock; what cannot be undone stays recorded.
    /// - Parameters:
    ///   - io: the kernel-attribute access.
    ///   - commands: `systemctl` and `modprobe`, for a guest's release.
    ///   - lockTimeout: how long to wait for another vfioctl.
    ///   - log: one line per step of a guest's release.
    /// - Returns: what happened to each item.
    /// - Throws: `DevicesError` when the journal is corrupt or the lock is not free in time.
    public func recover(
        io: (any HostIO)? = nil, commands: any CommandRunner, lockTimeout: Duration = .seconds(30),
        log: @escaping (String) -> Void
    ) throws -> [RecoveryOutcome] {
        let io = io ?? self.io
        let files = self.files
        return try HostLock.withLock(files, timeout: lockTimeout) {
            var outcomes: [RecoveryOutcome] = []
            for item in try planRecovery() {
                if item.hold != nil {
                    outcomes.append(RecoveryOutcome(item: item, result: .held, driver: item.driver))
                    continue
                }
                switch item.subject {
                case .guest(let guest):
                    var steps = HookSteps(
                        host: self, guest: guest, io: io, commands: commands,
                        statePath: files.path(HostPaths.hookState.appending(guest + ".json")), log: log)
                    do {
                        try steps.release()
                        outcomes.append(RecoveryOutcome(item: item, result: .restored))
                    } catch let error as DevicesError {
                        outcomes.append(RecoveryOutcome(item: item, result: .failed, problem: error.message))
                    }
                case .physicalFunction(let address):
                    var journal = try Journal.load(files)
                    guard let record = journal.sriovRecord(address) else { continue }
                    let problem = restoreSRIOV(record, io: io, journal: &journal)
                    outcomes.append(
                        RecoveryOutcome(
                            item: item, result: problem == nil ? .restored : .failed, driver: item.driver,
                            problem: problem))
                case .mediatedDevice(let uuid):
                    var journal = try Journal.load(files)
                    guard let record = journal.mdevs?.first(where: { $0.uuid == uuid }) else { continue }
                    let problem = removeRecordedMdev(record, io: io, journal: &journal)
                    outcomes.append(
                        RecoveryOutcome(item: item, result: problem == nil ? .restored : .failed, problem: problem))
                case .device(let address):
                    if case .staleOverride = item.cause {
                        outcomes.append(clearStaleOverride(item, address: address, io: io))
                        continue
                    }
                    var journal = try Journal.load(files)
                    let outcome = returnDevice(address, to: item.originalDriver, io: io, journal: &journal)
                    outcomes.append(
                        RecoveryOutcome(
                            item: item, result: outcome.result == .restored ? .restored : .failed,
                            driver: outcome.driver, problem: outcome.detail))
                }
            }
            return outcomes
        }
    }

    private func clearStaleOverride(_ item: RecoveryItem, address: PCIAddress, io: any HostIO) -> RecoveryOutcome {
        let device = HostPaths.pciDevices.appending(address.description)
        do {
            try io.write("\n", to: files.path(device.appending("driver_override")))
            if files.linkName(files.path(device.appending("driver"))) == nil {
                try io.write(address.description, to: files.path(HostPaths.pciDriversProbe))
            }
            return RecoveryOutcome(
                item: item, result: .restored, driver: files.linkName(files.path(device.appending("driver"))))
        } catch let error as DevicesError {
            return RecoveryOutcome(item: item, result: .failed, driver: item.driver, problem: error.message)
        } catch {
            return RecoveryOutcome(item: item, result: .failed, driver: item.driver, problem: "\(error)")
        }
    }

    /// The process ID of a running libvirt guest, from `/run/libvirt/qemu/<guest>.pid` when that process lives.
    func runningGuestPID(_ guest: String) -> Int? {
        let pidFile = files.path(HostPaths.libvirtQEMURun.appending(guest + ".pid"))
        guard let text = try? files.readText(pidFile), let pid = Int(text), pid > 0 else { return nil }
        return files.exists(files.path(HostPaths.processes.appending(String(pid)))) ? pid : nil
    }
}
