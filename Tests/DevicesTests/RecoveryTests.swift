import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct RecoveryTests {
    private func driver(_ fake: FakeHost, _ address: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: fake.path("/sys/bus/pci/devices/\(address)/driver")))
            .map { ($0 as NSString).lastPathComponent }
    }

    private func override(_ fake: FakeHost, _ address: String) -> String {
        ((try? String(contentsOfFile: fake.path("/sys/bus/pci/devices/\(address)/driver_override"), encoding: .utf8))
            ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func journal(_ fake: FakeHost) throws -> Journal? {
        let path = fake.path("/run/vfioctl/journal.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try JSONDecoder().decode(Journal.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private static let turing = ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"]
    private static let drivers = ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"]

    @Test("a bind killed after any write leaves a journal from which recover returns every function", arguments: 0..<12)
    func killedBind(after writes: Int) throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        let plan = try host.planBind([try #require(BindTarget("gpu:2"))], options: BindOptions())
        kernel.killAfterWrites = writes
        #expect(throws: Killed.self) { _ = try host.bind(plan, options: BindOptions(), io: kernel) }
        let left = try #require(try journal(fake), "the journal is written before the first write")
        #expect(!left.records.isEmpty)
        #expect(left.records.allSatisfy { $0.originalDriver != nil })
        kernel.killAfterWrites = nil
        let outcomes = try host.recover(io: kernel, commands: FakeCommands(host: fake)) { _ in }
        #expect(outcomes.allSatisfy { $0.result == .restored }, "\(outcomes)")
        #expect(Self.turing.map { driver(fake, $0) ?? "none" } == Self.drivers)
        #expect(Self.turing.allSatisfy { override(fake, $0) == "(null)" || override(fake, $0).isEmpty })
        #expect(try journal(fake) == nil)
        #expect(try host.planRecovery().isEmpty)
    }

    @Test("a bound device is in the journal with its driver, and recover gives it back")
    func recoverBound() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        let plan = try host.planBind([try #require(BindTarget("gpu:2"))], options: BindOptions())
        _ = try host.bind(plan, options: BindOptions(), io: kernel)
        let items = try host.planRecovery()
        #expect(items.map(\.subject) == Self.turing.compactMap(PCIAddress.init).map { .device($0) })
        #expect(items.allSatisfy { $0.cause == .journal(phase: .bound, owner: .user) && $0.driver == "vfio-pci" })
        _ = try host.recover(io: kernel, commands: FakeCommands(host: fake)) { _ in }
        #expect(Self.turing.map { driver(fake, $0) ?? "none" } == Self.drivers)
    }

    @Test("a driver_override that disagrees with the driver is found and cleared; one that agrees is left")
    func staleOverride() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/sys/bus/pci/devices/0000:01:00.1/driver_override", "vfio-pci\n")
        try fake.write("/sys/bus/pci/devices/0000:02:00.0/driver_override", "vfio-pci\n")
        let kernel = try FakeKernel(host: fake)
        let items = try fake.host.planRecovery()
        #expect(
            items == [
                RecoveryItem(
                    subject: .device(try #require(PCIAddress("0000:01:00.1"))),
                    cause: .staleOverride(override: "vfio-pci"),
                    driver: "snd_hda_intel")
            ])
        let diagnosis = try fake.host.diagnose()
        let check = try #require(diagnosis.checks.first { $0.id == "recover" })
        #expect(check.status == .warn && check.fix == "vfioctl recover")
        _ = try fake.host.recover(io: kernel, commands: FakeCommands(host: fake)) { _ in }
        #expect(override(fake, "0000:01:00.1") == "(null)")
        #expect(driver(fake, "0000:01:00.1") == "snd_hda_intel")
        #expect(override(fake, "0000:02:00.0") == "vfio-pci")
        #expect(try fake.host.planRecovery().isEmpty)
        #expect(try fake.host.diagnose().checks.first { $0.id == "recover" }?.status == .ok)
    }

    @Test("a corrupt journal is an error naming it; bind, unbind and recover refuse and leave it as it is")
    func corruptJournal() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/run/vfioctl/journal.json", "{ not json")
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        let plan = try host.planBind([try #require(BindTarget("gpu:2"))], options: BindOptions())
        let failure = #expect(throws: BindFailure.self) { _ = try host.bind(plan, options: BindOptions(), io: kernel) }
        #expect(failure?.error.code == .invalidData)
        #expect(failure?.error.message.contains("/run/vfioctl/journal.json is not a vfioctl journal") == true)
        #expect(throws: DevicesError.self) {
            _ = try host.unbind([try #require(PCIAddress("0000:02:00.0"))], io: kernel)
        }
        #expect(throws: DevicesError.self) { _ = try host.planRecovery() }
        #expect(kernel.writes.isEmpty)
        #expect(try String(contentsOfFile: fake.path("/run/vfioctl/journal.json"), encoding: .utf8) == "{ not json")
        #expect(try fake.host.diagnose().checks.first { $0.id == "recover" }?.status == .fail)
    }

    @Test("a bind and an unbind forced to overlap wait for each other and keep both records")
    func concurrentBindAndUnbind() async throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        // 02:00.0 was bound by an earlier run: its journal names amdgpu.
        let earlier = Journal(records: [
            JournalRecord(
                address: try #require(PCIAddress("0000:02:00.0")), originalDriver: "amdgpu", owner: .user,
                phase: .bound, steps: [])
        ])
        try fake.write("/run/vfioctl/journal.json", String(decoding: try JSONEncoder().encode(earlier), as: UTF8.self))
        try fake.write("/sys/bus/pci/drivers/amdgpu/bind", "")
        let plan = try host.planBind([try #require(BindTarget("gpu:2"))], options: BindOptions())
        let before = HostLock.contended
        let started = Flag()
        kernel.beforeWrite = { _ in
            // Inside the first bind's lock: start the unbind and hold on until it is waiting for the lock.
            guard started.set() else { return }
            Thread.detachNewThread {
                _ = try? host.unbind([PCIAddress("0000:02:00.0")].compactMap { $0 }, io: kernel)
                started.finish()
            }
            let deadline = Date().addingTimeInterval(20)
            while HostLock.contended == before && Date() < deadline { usleep(1000) }
        }
        _ = try host.bind(plan, options: BindOptions(), io: kernel)
        let deadline = Date().addingTimeInterval(20)
        while !started.finished && Date() < deadline { usleep(1000) }
        #expect(HostLock.contended > before, "the unbind waited for the lock")
        let records = try #require(try journal(fake)).records
        #expect(records.map(\.address.description) == Self.turing)
        #expect(driver(fake, "0000:02:00.0") == "amdgpu")
    }

    @Test("a prepared guest that is not running is released by recover; a running one is left to its own stop")
    func preparedGuests() throws {
        let fake = try FakeHost.guestHost()
        try fake.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4096\n")
        var prepared = HookState()
        prepared.hugepagesFile = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
        prepared.hugepagesBefore = 0
        let state = String(decoding: try JSONEncoder().encode(prepared), as: UTF8.self)
        try fake.write("/run/vfioctl/hooks/stopped.json", state)
        try fake.write("/run/vfioctl/hooks/running.json", state)
        try fake.write("/run/libvirt/qemu/running.pid", "4321\n")
        try fake.write("/proc/4321/comm", "qemu-system-x86\n")
        let kernel = try FakeKernel(host: fake)
        let outcomes = try fake.host.recover(io: kernel, commands: FakeCommands(host: fake)) { _ in }
        #expect(outcomes.map(\.result) == [.held, .restored])
        #expect(outcomes.first?.item.hold == .guestRunning(guest: "running", pid: 4321))
        #expect(kernel.writes == ["hugepages-2048kB/nr_hugepages <- 0"])
        #expect(!FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/hooks/stopped.json")))
        #expect(FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/hooks/running.json")))
    }
}

/// A one-shot flag shared between threads.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var isSet = false
    private var isFinished = false

    /// Sets the flag; true for the first caller only.
    func set() -> Bool {
        lock.withLock {
            defer { isSet = true }
            return !isSet
        }
    }

    /// Marks the other thread's work done.
    func finish() { lock.withLock { isFinished = true } }

    /// Whether the other thread's work is done.
    var finished: Bool { lock.withLock { isFinished } }
}
