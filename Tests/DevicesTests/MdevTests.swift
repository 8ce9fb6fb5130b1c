import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct MdevTests {
    let igpu = PCIAddress(bus: 0, device: 2, function: 0)
    let uuid = "0b7e9a5e-9c3a-4f57-8d0c-5a1f3b2e4d61"

    private func host() throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.addMdevTypes("0000:00:02.0", FakeMdevType.gvtg)
        try fake.addMdevTypes("0000:01:00.0", FakeMdevType.nvidia)
        return fake
    }

    @Test("create writes the UUID to the type's create; the new device shows with its type and group; remove undoes it")
    func createAndRemove() throws {
        let fake = try host()
        let kernel = try FakeKernel(host: fake)
        let mdev = try fake.host.createMdev(parent: igpu, type: "i915-GVTg_V5_8", uuid: uuid.uppercased(), io: kernel)
        #expect(kernel.writes == ["i915-GVTg_V5_8/create <- \(uuid)"])
        #expect(mdev.uuid == uuid)
        #expect(mdev.type == "i915-GVTg_V5_8")
        #expect(mdev.iommuGroup != nil)
        let report = try fake.report()
        let sharing = try #require(try report.device("0000:00:02.0").sharing)
        #expect(sharing.mediatedDevices.map(\.uuid) == [uuid])
        #expect(sharing.mdevTypes.first { $0.id == "i915-GVTg_V5_8" }?.availableInstances == 1)
        #expect(sharing.mdevTypes.first { $0.id == "i915-GVTg_V5_8" }?.instances == [uuid])
        let removed = try fake.host.removeMdev(uuid, io: kernel)
        #expect(removed.parent == igpu)
        #expect(kernel.writes.last == "\(uuid)/remove <- 1")
        #expect(try fake.report().device("0000:00:02.0").sharing?.mediatedDevices.isEmpty == true)
    }

    @Test("a random UUID is a valid version 4 UUID, different each time")
    func randomUUID() throws {
        let fake = try host()
        let kernel = try FakeKernel(host: fake)
        let first = try fake.host.createMdev(parent: igpu, type: "i915-GVTg_V5_8", io: kernel)
        let second = try fake.host.createMdev(parent: igpu, type: "i915-GVTg_V5_8", io: kernel)
        #expect(MdevUUID.isValid(first.uuid) && MdevUUID.isValid(second.uuid))
        #expect(first.uuid != second.uuid)
        #expect(Array(first.uuid)[14] == "4")
    }

    @Test("bad input names the thing and writes nothing")
    func badInput() throws {
        let fake = try host()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        func message(_ body: () throws -> Void) -> String? {
            do {
                try body()
                return nil
            } catch let error as DevicesError { return error.message } catch { return "\(error)" }
        }
        #expect(
            message { _ = try host.createMdev(parent: igpu, type: "i915-GVTg_V5_1", uuid: uuid, io: kernel) }
                == "0000:00:02.0 offers no mdev type i915-GVTg_V5_1; it offers i915-GVTg_V5_4, i915-GVTg_V5_8")
        #expect(
            message {
                _ = try host.createMdev(
                    parent: PCIAddress(bus: 2, device: 0, function: 0), type: "x", uuid: uuid, io: kernel)
            }?.hasPrefix("0000:02:00.0 offers no mediated device types") == true)
        #expect(
            message {
                _ = try host.createMdev(
                    parent: PCIAddress(bus: 1, device: 0, function: 0), type: "nvidia-222", uuid: uuid, io: kernel)
            } == "0000:01:00.0 has no nvidia-222 instance left (available_instances is 0): remove one first")
        #expect(
            message { _ = try host.createMdev(parent: igpu, type: "i915-GVTg_V5_4", uuid: "nope", io: kernel) }?
                .hasPrefix("'nope' is not a UUID") == true)
        #expect(message { _ = try host.removeMdev(uuid, io: kernel) }?.hasPrefix("no mediated device \(uuid)") == true)
        #expect(kernel.writes.isEmpty)
        _ = try host.createMdev(parent: igpu, type: "i915-GVTg_V5_8", uuid: uuid, io: kernel)
        #expect(
            message { _ = try host.createMdev(parent: igpu, type: "i915-GVTg_V5_4", uuid: uuid, io: kernel) }
                == "mediated device \(uuid) already exists on 0000:00:02.0")
        #expect(kernel.writes.count == 1)
    }

    @Test("removing an mdev a running guest uses is refused, naming the guest; nothing is written")
    func removeInUse() throws {
        let fake = try host()
        let kernel = try FakeKernel(host: fake)
        _ = try fake.host.createMdev(parent: igpu, type: "i915-GVTg_V5_8", uuid: uuid, io: kernel)
        try fake.addRunningGuest("win", pid: 5151, xml: "<domain><address uuid='\(uuid)'/></domain>")
        #expect {
            _ = try fake.host.removeMdev(uuid, io: kernel)
        } throws: { error in
            (error as? GuardFailure)?.refusals.first?.reason
                == .mediatedDeviceInUse(uuid: uuid, guest: "win", holders: [])
        }
        #expect(kernel.writes.count == 1)
        #expect(try fake.report().device("0000:00:02.0").sharing?.mediatedDevices.count == 1)
    }
}
