import Devices
import Foundation
import TestSupport
import Testing

@testable import vfioctl

@Suite struct JSONTests {
    private func object(_ bytes: [UInt8]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    @Test("the report's JSON decodes to the same report, its keys sorted at every level")
    func roundTrip() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/sys/devices/pci0000:00/0000:03:00.0/vendor", "bad\n")
        let report = try fake.report()
        let bytes = try encodeJSON(report)
        #expect(try JSONDecoder().decode(HostReport.self, from: Data(bytes)) == report)
        let text = String(decoding: bytes, as: UTF8.self)
        // Keys of one object share an indentation and follow each other until a line with less.
        var keysByDepth: [Int: [String]] = [:]
        for line in text.split(separator: "\n") {
            let depth = line.prefix { $0 == " " }.count
            for deeper in keysByDepth.keys where deeper > depth { keysByDepth[deeper] = nil }
            let rest = line.drop { $0 == " " }
            guard rest.hasPrefix("\""), let colon = rest.range(of: "\" : ") ?? rest.range(of: "\": ") else { continue }
            let key = String(rest[rest.index(after: rest.startIndex)..<colon.lowerBound])
            if let previous = keysByDepth[depth]?.last { #expect(previous < key, "\(previous) before \(key)") }
            keysByDepth[depth, default: []].append(key)
        }
        let top = try #require(try object(bytes) as? [String: Any])
        #expect(
            top.keys.sorted() == ["devices", "gpus", "groups", "iommu", "kernelRelease", "viabilityRule", "warnings"])
    }

    @Test("list --json writes its lists element by element, and prints exactly the bytes of the whole report encoded")
    func streamedReport() throws {
        let fake = try FakeHost.workstation()
        let result = try vfioctl(["list", "--json", "--sysroot", fake.root, "--pci-ids", fake.pciIDs])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try fake.report()
        #expect(!report.devices.isEmpty && !report.groups.isEmpty && !report.gpus.isEmpty)
        #expect(result.stdout == String(decoding: try encodeJSON(report), as: UTF8.self))
    }

    @Test("a nil optional is left out, not written as null")
    func nilIsAbsent() throws {
        let report = try FakeHost.workstation().report()
        let device = try #require(report.devices.first { $0.driver == nil })
        let value = try #require(try object(encodeJSON(device)) as? [String: Any])
        #expect(value["driver"] == nil)
        #expect(value["address"] as? String == device.address.description)
    }

    private struct Odd: Encodable {
        var zeta = "z"
        var alpha: String? = nil
        var text = "quote \" backslash \\ newline \n tab \t bell \u{07} slash / é"
        var numbers: [Int] = [0, 7, -3, 1234]
        var empty: [String] = []
        var nested = Inner()
        var flag = true
        var ratio = 0.5
        var big: UInt64 = 1 << 40

        struct Inner: Encodable {
            var b = 2
            var a = 1
        }
    }

    @Test("escapes strings, sorts keys, leaves nil out, writes empty arrays and nested objects")
    func oddValues() throws {
        let bytes = try encodeJSON(Odd())
        let value = try #require(try object(bytes) as? [String: Any])
        #expect(value["text"] as? String == Odd().text)
        #expect(value["alpha"] == nil)
        #expect(value["numbers"] as? [Int] == [0, 7, -3, 1234])
        #expect(value["empty"] as? [String] == [])
        #expect((value["nested"] as? [String: Int]) == ["a": 1, "b": 2])
        #expect(value["flag"] as? Bool == true)
        #expect(value["ratio"] as? Double == 0.5)
        #expect(value["big"] as? Int == 1 << 40)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\\u0007"))
        #expect(text.contains("slash / "))
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map {
            String($0.split(separator: "\"")[1])
        }
        #expect(keys == ["big", "empty", "flag", "nested", "numbers", "ratio", "text", "zeta"])
        #expect(text.hasSuffix("}\n"))
    }

    @Test("top-level arrays and scalars encode too")
    func topLevel() throws {
        #expect(try object(encodeJSON(["a", "b"])) as? [String] == ["a", "b"])
        #expect(try object(encodeJSON([String]())) as? [String] == [])
        #expect(String(decoding: try encodeJSON(42), as: UTF8.self) == "42\n")
        let address = try #require(PCIAddress("01:00.0"))
        #expect(try object(encodeJSON([address])) as? [String] == ["0000:01:00.0"])
    }
}
