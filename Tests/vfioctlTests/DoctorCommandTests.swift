import Foundation
import TestSupport
import Testing

@Suite struct DoctorCommandTests {
    @Test("doctor prints one line per check with the fix under each failure, and exits 1 when one failed")
    func screen() throws {
        let fake = try FakeHost.preparedWorkstation()
        let result = try vfioctl(["doctor", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 1)
        #expect(result.stderr == "")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = try #require(lines.first)
        #expect(first.hasPrefix("vfioctl doctor: ") && first.hasSuffix(" FAIL"))
        let checks = lines.filter { $0.hasPrefix("OK ") || $0.hasPrefix("WARN ") || $0.hasPrefix("FAIL ") }
        let json = try vfioctl(["doctor", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let entries = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.count == entries.count)
        #expect(json.status == 1)
        #expect(object["worst"] as? String == "fail")
        #expect(object["failCount"] as? Int == entries.filter { $0["status"] as? String == "fail" }.count)
        // An OK check has no fix: the key is left out.
        #expect(Set(entries[0].keys) == ["details", "id", "status", "summary", "title"])
        let failed = try #require(entries.first { $0["status"] as? String == "fail" })
        #expect(Set(failed.keys) == ["details", "fix", "id", "status", "summary", "title"])

        // The Navi card shares its group with the chipset: FAIL, and the fix on the next line.
        let navi = try #require(lines.firstIndex { $0.hasPrefix("FAIL  gpu:4 0000:03:00.0 group") })
        #expect(
            lines[(navi + 1)...].first { $0.hasPrefix("      fix: ") } == "      fix: move the card to another slot")
        // OK lines keep their details for --verbose only.
        #expect(!result.stdout.contains("      · supports function-level reset"))
        let verbose = try vfioctl(["doctor", "-v", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(verbose.stdout.contains("      · "))
        #expect(verbose.stdout.count > result.stdout.count)
    }

    @Test("doctor exits 0 when nothing failed, warnings allowed")
    func clear() throws {
        let fake = try FakeHost.preparedWorkstation()
        try fake.remove("/sys/devices/pci0000:00/0000:03:00.0")
        try fake.remove("/sys/bus/pci/devices/0000:03:00.0")
        try fake.remove("/sys/kernel/iommu_groups/5/devices/0000:03:00.0")
        try fake.write("/sys/module/vendor_reset/refcnt", "1\n")
        let result = try vfioctl(["doctor", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("WARN  "))
        #expect(!result.stdout.contains("FAIL  "))
    }

    @Test("doctor on a sysroot that does not exist: one line naming it, exit 66")
    func missingSysroot() throws {
        let result = try vfioctl(["doctor", "--sysroot", "/nonexistent/vfioctl-host"])
        #expect(result.status == 66)
        #expect(result.stdout == "")
        #expect(result.stderr.hasPrefix("vfioctl: sysroot /nonexistent/vfioctl-host does not exist"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
