import Foundation
import TestSupport
import Testing

@testable import Devices

/// A workstation with an SR-IOV NVMe controller at 0000:05:00.0 (up to 4 VFs at 05:00.1 onwards), bound to nvme.
func nvmeSRIOVHost() throws -> FakeHost {
    let fake = try FakeHost.workstation()
    try fake.add(
        FakePCIDevice("0000:05:00.0", vendor: 0x1b36, device: 0x0010, classCode: 0x010802, driver: "nvme", group: 30))
    try fake.addSRIOV("0000:05:00.0", totalVFs: 4, vfDevice: 0x0010)
    return fake
}

@Suite struct SRIOVTests {
    let pf = PCIAddress(bus: 5, device: 0, function: 0)

    private func journal(_ fake: FakeHost) throws -> Journal? {
        let path = fake.path("/run/vfioctl/journal.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try JSONDecoder().decode(Journal.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private func sriov(_ fake: FakeHost) throws -> SRIOV {
        try #require(try fake.report().device("0000:05:00.0").sharing?.sriov)
    }

    @Test("creating VFs turns autoprobe off first, so no host driver takes them; each VF has its own group")
    func create() throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        let outcome = try fake.host.setVirtualFunctions(pf, count: 2, autoprobe: false, io: kernel)
        #expect(kernel.writes == ["0000:05:00.0/sriov_drivers_autoprobe <- 0", "0000:05:00.0/sriov_numvfs <- 2"])
        #expect(outcome.changed)
        #expect(outcome.sriov.numVFs == 2)
        #expect(outcome.sriov.virtualFunctions.map(\.address.description) == ["0000:05:00.1", "0000:05:00.2"])
        #expect(outcome.sriov.virtualFunctions.allSatisfy { $0.driver == nil })
        #expect(Set(outcome.sriov.virtualFunctions.compactMap(\.iommuGroup)).count == 2)
        #expect(try journal(fake) == nil, "a finished change leaves no record")
        let report = try fake.report()
        #expect(try report.device("0000:05:00.2").sharing?.physicalFunction == pf)
        // The same count again writes nothing.
        let again = try fake.host.setVirtualFunctions(pf, count: 2, autoprobe: false, io: kernel)
        #expect(!again.changed)
        #expect(kernel.writes.count == 2)
    }

    @Test("with autoprobe asked for, the host driver probes the VFs")
    func autoprobe() throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        let outcome = try fake.host.setVirtualFunctions(pf, count: 1, autoprobe: true, io: kernel)
        #expect(kernel.writes == ["0000:05:00.0/sriov_numvfs <- 1"])
        #expect(outcome.sriov.virtualFunctions.map(\.driver) == ["nvme"])
    }

    @Test("a new non-zero count removes every VF first, as the kernel requires")
    func change() throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        _ = try fake.host.setVirtualFunctions(pf, count: 2, autoprobe: false, io: kernel)
        let plan = try fake.host.planSRIOV(pf, count: 3, autoprobe: false, io: kernel)
        #expect(plan.removed.map(\.description) == ["0000:05:00.1", "0000:05:00.2"])
        #expect(plan.steps.map(\.value) == ["0", "3"])
        _ = try fake.host.setVirtualFunctions(pf, count: 3, autoprobe: false, io: kernel)
        #expect(kernel.writes.suffix(2) == ["0000:05:00.0/sriov_numvfs <- 0", "0000:05:00.0/sriov_numvfs <- 3"])
        #expect(try sriov(fake).numVFs == 3)
    }

    @Test("--vfs 0 is refused while a VF is on vfio-pci or its group is held, and accepted once it is free")
    func removeRefused() throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        _ = try host.setVirtualFunctions(pf, count: 2, autoprobe: false, io: kernel)
        try fake.write("/sys/module/vfio_pci/refcnt", "0\n")
        try FileManager.default.createDirectory(
            atPath: fake.path("/sys/bus/pci/drivers/vfio-pci"), withIntermediateDirectories: true)
        let plan = try host.planBind([try #require(BindTarget("0000:05:00.2"))], options: BindOptions())
        _ = try host.bind(plan, options: BindOptions(), io: kernel)
        let before = kernel.writes.count
        #expect {
            _ = try host.setVirtualFunctions(pf, count: 0, autoprobe: false, io: kernel)
        } throws: { error in
            guard let failure = error as? GuardFailure else { return false }
            return failure.refusals
                == [
                    GuardRefusal(
                        device: PCIAddress("0000:05:00.2"),
                        reason: .virtualFunctionInUse(driver: "vfio-pci", holders: []))
                ]
        }
        #expect(kernel.writes.count == before, "a refusal writes nothing")
        #expect(try sriov(fake).numVFs == 2)
        // A process holding the other VF's group (a guest) is refused too, with its name.
        let group = try #require(try sriov(fake).virtualFunctions.first?.iommuGroup)
        try fake.write("/dev/vfio/\(group)", "")
        try fake.write("/proc/4242/comm", "qemu-system-x86\n")
        try FileManager.default.createDirectory(atPath: fake.path("/proc/4242/fd"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: fake.path("/proc/4242/fd/9"), withDestinationPath: "/dev/vfio/\(group)")
        let refusals = try host.planSRIOV(pf, count: 0, autoprobe: false, io: kernel).refusals
        #expect(refusals.map(\.device?.description) == ["0000:05:00.1", "0000:05:00.2"])
        #expect(
            refusals.first?.reason
                == .virtualFunctionInUse(driver: nil, holders: [.init(name: "qemu-system-x86", pid: 4242)]))
        try FileManager.default.removeItem(atPath: fake.path("/proc/4242"))
        _ = try host.unbind([try #require(PCIAddress("0000:05:00.2"))], io: kernel)
        let outcome = try host.setVirtualFunctions(pf, count: 0, autoprobe: false, io: kernel)
        #expect(outcome.sriov.numVFs == 0)
        #expect(outcome.sriov.virtualFunctions.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fake.path("/sys/bus/pci/devices/0000:05:00.1")))
    }

    @Test("bad input names the thing and writes nothing")
    func badInput() throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        #expect(throws: DevicesError.self) {
            _ = try host.setVirtualFunctions(pf, count: 5, autoprobe: false, io: kernel)
        }
        do {
            _ = try host.setVirtualFunctions(pf, count: 5, autoprobe: false, io: kernel)
        } catch let error as DevicesError {
            #expect(error.message == "0000:05:00.0 offers 0 to 4 virtual functions, not 5")
            #expect(error.code == .invalidArgument)
        }
        do {
            _ = try host.setVirtualFunctions(
                try #require(PCIAddress("01:00.0")), count: 1, autoprobe: false, io: kernel)
            Issue.record("a function without SR-IOV was accepted")
        } catch let error as DevicesError {
            #expect(error.message.contains("has no SR-IOV capability"))
        }
        _ = try host.setVirtualFunctions(pf, count: 1, autoprobe: false, io: kernel)
        let written = kernel.writes.count
        do {
            _ = try host.setVirtualFunctions(
                try #require(PCIAddress("05:00.1")), count: 1, autoprobe: false, io: kernel)
            Issue.record("a VF was accepted")
        } catch let error as DevicesError {
            #expect(
                error.message
                    == "0000:05:00.1 is a virtual function of 0000:05:00.0: set the count on 0000:05:00.0 instead")
        }
        #expect(kernel.writes.count == written)
    }

    @Test("a driver that fails to make the VFs: the autoprobe setting comes back and the journal is clean")
    func rollback() throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        kernel.refuseSRIOV = ["0000:05:00.0"]
        do {
            _ = try fake.host.setVirtualFunctions(pf, count: 2, autoprobe: false, io: kernel)
            Issue.record("the failure was not reported")
        } catch let error as DevicesError {
            #expect(error.code == .io)
            #expect(error.message.hasSuffix("; 0000:05:00.0 is back to 0 VFs"), "\(error.message)")
        }
        #expect(
            kernel.writes == [
                "0000:05:00.0/sriov_drivers_autoprobe <- 0", "0000:05:00.0/sriov_numvfs <- 2",
                "0000:05:00.0/sriov_drivers_autoprobe <- 1",
            ])
        #expect(try sriov(fake).driversAutoprobe == true)
        #expect(try journal(fake) == nil)
    }

    @Test("when putting the old count back fails too, the record stays and recover finishes it later")
    func rollbackFails() throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        _ = try host.setVirtualFunctions(pf, count: 2, autoprobe: true, io: kernel)
        kernel.refuseSRIOV = ["0000:05:00.0"]
        do {
            _ = try host.setVirtualFunctions(pf, count: 3, autoprobe: false, io: kernel)
            Issue.record("the failure was not reported")
        } catch let error as DevicesError {
            #expect(error.message.contains("; putting back 2 VFs failed too ("), "\(error.message)")
            #expect(error.message.hasSuffix("): recover it"))
        }
        #expect(try sriov(fake).numVFs == 0)
        #expect(try journal(fake)?.sriov?.first?.originalVFs == 2)
        kernel.refuseSRIOV = []
        let outcomes = try host.recover(io: kernel, commands: FakeCommands(host: fake)) { _ in }
        #expect(outcomes.map(\.result) == [.restored])
        #expect(try sriov(fake).numVFs == 2)
        #expect(try sriov(fake).driversAutoprobe == true)
        #expect(try journal(fake) == nil)
    }

    @Test(
        "a change killed after any write leaves a record from which recover puts the old count back", arguments: 0..<3)
    func killed(after writes: Int) throws {
        let fake = try nvmeSRIOVHost()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        _ = try host.setVirtualFunctions(pf, count: 2, autoprobe: true, io: kernel)
        kernel.killAfterWrites = writes
        #expect(throws: Killed.self) { _ = try host.setVirtualFunctions(pf, count: 4, autoprobe: false, io: kernel) }
        kernel.killAfterWrites = nil
        let record = try #require(try journal(fake)?.sriov?.first, "the record is written before the first write")
        #expect(record.originalVFs == 2 && record.targetVFs == 4 && record.originalAutoprobe == true)
        #expect(record.steps.filter(\.done).count == writes)
        let items = try host.planRecovery()
        #expect(items.map(\.subject) == [.physicalFunction(pf)])
        #expect(items.first?.cause == .sriovChange(from: 2, to: 4))
        // Another change waits for the recovery.
        #expect(throws: DevicesError.self) {
            _ = try host.setVirtualFunctions(pf, count: 1, autoprobe: false, io: kernel)
        }
        let outcomes = try host.recover(io: kernel, commands: FakeCommands(host: fake)) { _ in }
        #expect(outcomes.map(\.result) == [.restored], "\(outcomes)")
        #expect(try sriov(fake).numVFs == 2)
        #expect(try sriov(fake).driversAutoprobe == true)
        #expect(try journal(fake) == nil)
        #expect(try host.planRecovery().isEmpty)
    }

    @Test("--persist writes one udev rule per PF on its bind event; 0 and persist --remove take it out")
    func persist() throws {
        let fake = try nvmeSRIOVHost()
        let host = fake.host
        let rules = fake.path("/etc/udev/rules.d/70-vfioctl-sriov.rules")
        var result = try host.persistVirtualFunctions(pf, count: 2, autoprobe: false)
        #expect(result.changed)
        #expect(
            try String(contentsOfFile: rules, encoding: .utf8)
                == """
                # Written by vfioctl persist (SR-IOV virtual functions; `vfioctl persist --remove` takes them out)
                ACTION=="bind", SUBSYSTEM=="pci", KERNEL=="0000:05:00.0", ATTR{sriov_drivers_autoprobe}="0", \
                ATTR{sriov_numvfs}="2"

                """)
        let other = try #require(PCIAddress("0000:06:00.0"))
        result = try host.persistVirtualFunctions(other, count: 1, autoprobe: true)
        #expect(result.persisted.map(\.physicalFunction) == [pf, other])
        #expect(try host.persistedVirtualFunctions().map(\.autoprobe) == [false, true])
        result = try host.persistVirtualFunctions(pf, count: 2, autoprobe: false)
        #expect(!result.changed)
        result = try host.persistVirtualFunctions(pf, count: 0, autoprobe: false)
        #expect(result.persisted.map(\.physicalFunction) == [other])
        #expect(try host.removeVirtualFunctionPersistence([]) == [other])
        #expect(!FileManager.default.fileExists(atPath: rules))
        #expect(try host.removeVirtualFunctionPersistence([]) == [])
        // A file of the user's at that path is never overwritten.
        try fake.write("/etc/udev/rules.d/70-vfioctl-sriov.rules", "# mine\n")
        #expect(throws: DevicesError.self) { _ = try host.persistVirtualFunctions(pf, count: 2, autoprobe: false) }
        #expect(try String(contentsOfFile: rules, encoding: .utf8) == "# mine\n")
    }
}
