/// A mediated device created for a guest that does not have it yet: recorded in the journal before the device is
/// created, and dropped once the guest's definition names it (or the device is removed again), so `recover`
/// removes what a killed run left.
public struct MdevRecord: Sendable, Hashable, Codable {
    /// Its UUID.
    public var uuid: String
    /// The parent function.
    public var parent: PCIAddress
    /// The type ID.
    public var type: String
}

extension Journal {
    /// Replaces or adds the record of a mediated device.
    mutating func set(_ record: MdevRecord) {
        var list = (mdevs ?? []).filter { $0.uuid != record.uuid }
        list.append(record)
        mdevs = list.sorted { $0.uuid < $1.uuid }
    }

    /// Drops the record of a mediated device.
    mutating func removeMdev(_ uuid: String) {
        let list = (mdevs ?? []).filter { $0.uuid != uuid }
        mdevs = list.isEmpty ? nil : list
    }
}

extension Host {
    /// The one parent that can make another mediated device of `type`.
    /// - Throws: `DevicesError` when no function offers the type, none has an instance left, or several have.
    public func mdevParent(forType type: String) throws -> PCIAddress {
        let report = try report()
        let offering = report.devices.compactMap { device -> (PCIAddress, MdevType)? in
            device.sharing?.mdevTypes.first { $0.id == type }.map { (device.address, $0) }
        }
        guard !offering.isEmpty else {
            let known = Set(report.devices.flatMap { $0.sharing?.mdevTypes.map(\.id) ?? [] }).sorted()
            throw DevicesError(
                code: .notFound,
                message: "no function of this host offers mdev type \(type) ("
                    + (known.isEmpty
                        ? "none offers any: is a GVT-g or vGPU driver loaded?"
                        : "the types offered are " + known.joined(separator: ", ")) + ")",
                object: .request(.mdevType))
        }
        let free = offering.filter { ($0.1.availableInstances ?? 1) > 0 }
        guard !free.isEmpty else {
            throw DevicesError(
                code: .conflict,
                message: "no \(type) instance is left (available_instances is 0 on "
                    + offering.map(\.0.description).joined(separator: ", ") + "): remove one first",
                object: .request(.mdevType))
        }
        guard free.count == 1 else {
            throw DevicesError(
                code: .conflict,
                message: "\(free.map(\.0.description).joined(separator: " and ")) all offer \(type): which parent "
                    + "is not clear", object: .request(.mdevAmbiguous))
        }
        return free[0].0
    }

    /// Creates a mediated device of each type for `body`, and removes them again when `body` fails.
    ///
    /// Each is made on the one parent that can make it, recorded in the journal before it is created and dropped
    /// after `body`, all under the host lock: a failure leaves the host as it was, a killed run leaves what
    /// `recover` removes.
    /// - Parameters:
    ///   - types: the type IDs.
    ///   - io: the kernel-attribute access.
    ///   - lockTimeout: how long to wait for another vfioctl.
    ///   - body: what uses the new devices (writing a guest's definition).
    /// - Returns: what `body` returns.
    /// - Throws: `DevicesError` for a type no parent (or several) can make, a write the kernel refuses, or the
    ///   error of `body` (saying whether the devices were removed again).
    public func withNewMdevs<T>(
        types: [String], io: (any HostIO)? = nil, lockTimeout: Duration = .seconds(30),
        _ body: ([MediatedDevice]) throws -> T
    ) throws -> T {
        let io = io ?? self.io
        let files = self.files
        return try HostLock.withLock(files, timeout: lockTimeout) {
            var journal = try Journal.load(files)
            var created: [MediatedDevice] = []
            let result: T
            do {
                for type in types {
                    let parent = try mdevParent(forType: type)
                    let uuid = MdevUUID.random()
                    journal.set(MdevRecord(uuid: uuid, parent: parent, type: type))
                    try journal.save(files)
                    do {
                        created.append(
                            try createMdev(parent: parent, type: type, uuid: uuid, io: io, lockTimeout: lockTimeout))
                    } catch let error as DevicesError {
                        journal.removeMdev(uuid)
                        try journal.save(files)
                        throw error
                    }
                }
                result = try body(created)
            } catch let error as DevicesError {
                var problems: [String] = []
                for mdev in created.reversed() {
                    let path = files.path(
                        HostPaths.pciDevices.appending(mdev.parent.description).appending(mdev.uuid).appending(
                            "remove"))
                    do {
                        try io.write("1", to: path)
                        journal.removeMdev(mdev.uuid)
                    } catch let failure as DevicesError {
                        problems.append("\(mdev.uuid): \(failure.message)")
                    }
                }
                try? journal.save(files)
                guard !created.isEmpty else { throw error }
                let names = created.map(\.uuid).joined(separator: ", ")
                throw DevicesError(
                    code: error.code,
                    message: error.message + "; "
                        + (problems.isEmpty
                            ? "the mediated device\(created.count > 1 ? "s" : "") created for it (\(names)) "
                                + "\(created.count > 1 ? "were" : "was") removed again"
                            : "removing the mediated devices created for it failed (\(problems.joined(separator: "; "))"
                                + "): recover them"),
                    cause: error.cause, object: error.object)
            }
            // The guest has them now: only their records go (a failure here is not the attach's).
            for mdev in created { journal.removeMdev(mdev.uuid) }
            try journal.save(files)
            return result
        }
    }

    /// Removes a mediated device an unfinished attach created, unless it is gone already; drops its record.
    /// - Returns: what went wrong, nil when it is gone.
    func removeRecordedMdev(_ record: MdevRecord, io: any HostIO, journal: inout Journal) -> String? {
        let dir = HostPaths.pciDevices.appending(record.parent.description).appending(record.uuid)
        do {
            if files.exists(files.path(dir)) { try io.write("1", to: files.path(dir.appending("remove"))) }
            journal.removeMdev(record.uuid)
            try journal.save(files)
            return nil
        } catch let error as DevicesError {
            return error.message
        } catch {
            return "\(error)"
        }
    }
}
