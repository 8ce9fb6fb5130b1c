import Devices
import Foundation
import TestSupport
import Testing

@testable import vfioctl

@Suite struct JSONTests {
    private func object(_ bytes: [UInt8]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    @Test("the report's JSON means the same as Foundation's encoder output, with sorted keys")
    func sameAsFoundation() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/sys/devices/pci0000:00/0000:03:00.0/vendor", "bad\n")
        let report = try fake.report()
        let ours = try encodeJSON(report)
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys]
        let theirs = try foundation.encode(report)
        let a = try #require(try object(ours) as? NSDictionary)
        let b = try #require(try JSONSerialization.jsonObject(with: theirs) as? NSDictionary)
        #expect(a == b)
        let text = String(decoding: ours, as: UTF8.self)
        let topKeys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        #expect(topKeys == topKeys.sorted())
        #expect(topKeys.count == 7)
    }

    /// Hides a report's member streaming, so the tree writer encodes it.
    private struct Whole: Encodable {
        let report: HostReport
        func encode(to encoder: any Encoder) throws { try report.encode(to: encoder) }
    }

    @Test("the report streamed member by member is byte for byte what the tree writer gives")
    func streamedEqualsTree() throws {
        let report = try FakeHost.workstation().report()
        #expect(
            String(decoding: try encodeJSON(report), as: UTF8.self)
                == String(decoding: try encodeJSON(Whole(report: report)), as: UTF8.self))
        var empty = report
        empty.devices = []
        empty.gpus = []
        #expect(
            String(decoding: try encodeJSON(empty), as: UTF8.self)
                == String(decoding: try encodeJSON(Whole(report: empty)), as: UTF8.self))
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

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case zeta, alpha, text, numbers, empty, nested, flag, ratio, big }
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(zeta, forKey: .zeta)
            try c.encode(alpha, forKey: .alpha)
            try c.encode(text, forKey: .text)
            try c.encode(numbers, forKey: .numbers)
            try c.encode(empty, forKey: .empty)
            try c.encode(nested, forKey: .nested)
            try c.encode(flag, forKey: .flag)
            try c.encode(ratio, forKey: .ratio)
            try c.encode(big, forKey: .big)
        }
    }

    @Test("escapes strings, sorts out-of-order keys, writes null, empty arrays and nested objects")
    func oddValues() throws {
        let bytes = try encodeJSON(Odd())
        let value = try #require(try object(bytes) as? [String: Any])
        #expect(value["text"] as? String == Odd().text)
        #expect(value["alpha"] is NSNull)
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
        #expect(keys == ["alpha", "big", "empty", "flag", "nested", "numbers", "ratio", "text", "zeta"])
        #expect(text.hasSuffix("}\n"))
    }

    @Test("top-level arrays and scalars encode too")
    func topLevel() throws {
        #expect(try object(encodeJSON(["a", "b"])) as? [String] == ["a", "b"])
        #expect(String(decoding: try encodeJSON([String]()), as: UTF8.self) == "[]\n")
        #expect(String(decoding: try encodeJSON(42), as: UTF8.self) == "42\n")
        let address = try #require(PCIAddress("01:00.0"))
        #expect(String(decoding: try encodeJSON([address]), as: UTF8.self) == "[\n  \"0000:01:00.0\"\n]\n")
    }
}

extension JSONTests {
    private struct Ordered: Encodable, EncodesKeysInOrder {
        var a = 1
        var b = [1, 2]
        var c = "x"
    }

    @Test("a type that promises key order is streamed with the same result")
    func streamed() throws {
        let text = String(decoding: try encodeJSON(Ordered()), as: UTF8.self)
        #expect(text == "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": \"x\"\n}\n")
    }
}
