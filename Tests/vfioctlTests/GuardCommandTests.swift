import Foundation
import TestSupport
import Testing

@Suite struct GuardCommandTests {
    private static let domain = """
        <domain type='kvm'>
          <name>win11</name>
          <memory unit='KiB'>8388608</memory>
          <os>
            <type arch='x86_64' machine='q35'>hvm</type>
          </os>
          <devices>
          </devices>
        </domain>

        """

    @Test(
        "bind, persist, attach and xml refuse in one line with exit 75 and leave every file untouched",
        arguments: GuardScenario.all)
    func refusals(scenario: GuardScenario) throws {
        let fake = try FakeHost.server()
        try scenario.build(fake)
        let file = fake.root + "/win11.xml"
        try Self.domain.write(toFile: file, atomically: true, encoding: .utf8)
        let before = try fake.snapshot()
        let pass = scenario.isGPU ? "--gpu" : "--hostdev"
        let commands: [[String]] = [
            ["bind", scenario.target, "--only"],
            ["persist", scenario.target, "--only"],
            ["attach", file, pass, scenario.target, "--in-place"],
            ["xml", pass, scenario.target],
        ]
        var lines: Set<String> = []
        for command in commands {
            let result = try vfioctl(command + ["--sysroot", fake.root, "--pci-ids", fake.pciIDs])
            #expect(result.status == 75, "\(command): \(result.stderr)")
            let refusals = result.stderr.split(separator: "\n").filter { $0.hasPrefix("vfioctl: refusing: ") }
            #expect(refusals.count == 1, "\(command): \(result.stderr)")
            #expect(result.stderr.contains(scenario.phrase), "\(command): \(result.stderr)")
            lines.formUnion(refusals.map(String.init))
            #expect(result.stdout.isEmpty, "\(command)")
        }
        #expect(lines.count == 1, "the same words from every command: \(lines)")
        #expect(try fake.snapshot() == before)
    }

    @Test("--force does it anyway and still prints the warning")
    func force() throws {
        let fake = try FakeHost.server()
        try GuardScenario.all[2].build(fake)
        let result = try vfioctl(["bind", "04:00.0", "--force", "--dry-run", "--sysroot", fake.root])
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning: forced: 0000:04:00.0 holds sda3 as swap"))
        #expect(result.stdout.contains("echo vfio-pci > /sys/bus/pci/devices/0000:04:00.0/driver_override"))
    }
}
