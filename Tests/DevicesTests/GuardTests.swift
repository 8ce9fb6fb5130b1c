import Foundation
import TestSupport
import Testing

@testable import Devices

@Suite struct GuardTests {
    private func target(_ text: String) throws -> BindTarget { try #require(BindTarget(text)) }

    @Test(
        "every guard refuses bind, persist and a guest's hostdevs alike, and writes nothing",
        arguments: GuardScenario.all)
    func refusesEverywhere(scenario: GuardScenario) throws {
        let fake = try FakeHost.server()
        try scenario.build(fake)
        let kernel = try FakeKernel(host: fake)
        let before = try fake.snapshot()
        let targets = [try target(scenario.target)]
        let bind = #expect(throws: GuardFailure.self) {
            try fake.host.planBind(targets, options: BindOptions(only: true), io: kernel)
        }
        #expect(bind?.refusals.map(\.kind.rawValue).contains(scenario.kind) == true)
        let persist = #expect(throws: GuardFailure.self) {
            try fake.host.planPersist(targets, options: BindOptions(only: true), method: nil, remove: false, io: kernel)
        }
        #expect(persist?.refusals == bind?.refusals)
        let guest = try fake.host.passthroughRefusals(
            gpus: scenario.isGPU ? targets : [], hostdevs: scenario.isGPU ? [] : targets, io: kernel)
        #expect(guest.map(\.kind.rawValue).contains(scenario.kind))
        #expect(kernel.writes.isEmpty)
        #expect(try fake.snapshot() == before)
    }

    @Test("forced, the plan keeps every refusal as a warning")
    func forced() throws {
        let fake = try FakeHost.server()
        try GuardScenario.all[0].build(fake)
        let plan = try fake.host.planBind([try target("04:00.0")], options: BindOptions(force: true))
        #expect(plan.functions.map(\.description) == ["0000:04:00.0"])
        #expect(plan.forced.map(\.kind) == [.storageInUse])
    }

    @Test("a disk the kernel has claimed, with nothing else to tell, is refused through O_EXCL's answer")
    func claimedThroughExclusiveOpen() throws {
        let fake = try FakeHost.server()
        try fake.addDisk("sda1", number: "8:1")
        try fake.write("/run/udev/data/b8:1", "E:ID_FS_TYPE=btrfs\nE:ID_FS_UUID=1234\n")
        let kernel = try FakeKernel(host: fake)
        // Without the claim (and no mounted btrfs in /sys/fs/btrfs), the disk is free.
        #expect(
            try fake.host.planBind([try target("04:00.0")], options: BindOptions(), io: kernel).functions.count == 1)
        kernel.claimedBlockDevices = ["sda1"]
        let failure = #expect(throws: GuardFailure.self) {
            try fake.host.planBind([try target("04:00.0")], options: BindOptions(), io: kernel)
        }
        #expect(
            failure?.refusals.map(\.reason) == [
                .storageInUse([.init(chain: [.init(name: "sda1", stack: nil, label: nil)], use: .claimed("btrfs"))])
            ])
    }

    @Test("an unmounted disk, a route on another NIC and a rejected IPv6 default are not refusals")
    func quietHost() throws {
        let fake = try FakeHost.server()
        try fake.addDisk("sda1", number: "8:1")
        try fake.addInterface("enp5s0")
        try fake.writeRoute4("wlan0")
        let zero = String(repeating: "0", count: 32)
        try fake.write(
            "/proc/net/ipv6_route", "\(zero) 00 \(zero) 00 \(zero) ffffffff 00000001 00000000 00200200   enp5s0\n")
        let kernel = try FakeKernel(host: fake)
        let plan = try fake.host.planBind(
            [try target("04:00.0"), try target("05:00.0")], options: BindOptions(), io: kernel)
        #expect(plan.forced.isEmpty)
        #expect(plan.functions.count == 2)
    }

    @Test("the single-GPU hook waives the display guards but not the others")
    func singleGPUWaiver() throws {
        let fake = try FakeHost.server()
        try GuardScenario.all[0].build(fake)
        let domain = """
            <domain type='kvm'><name>g</name><devices>
            <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x00' slot='0x02' function='0x0'/></source></hostdev>
            <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></source></hostdev>
            </devices></domain>
            """
        let refusals = try fake.host.singleGPURefusals(domainXML: Array(domain.utf8), guest: "g")
        #expect(refusals.map(\.kind) == [.storageInUse])
    }
}
