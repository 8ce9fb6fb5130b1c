import Foundation
import Testing

@testable import Devices
@testable import vfioctl

/// Every stored property of every reported type reaches the JSON.
///
/// Each type is built by `Populator`, a decoder that answers every question with a value: every optional present,
/// every array and dictionary with one element. The JSON of that value is then walked beside the value's `Mirror`: a
/// stored property whose name is not a key of its object (left out of `CodingKeys`, dropped by a hand-written
/// `encode(to:)`) fails the test, and so does a property the populator could not fill (nil, empty).
@Suite struct JSONContractTests {
    /// Types the CLI prints with `--json`, top-level or nested.
    static var reportedTypes: [any Codable.Type] {
        [
            HostReport.self, PCIDevice.self, ResetReport.self, IOMMUGroup.self, IOMMUGroup.Blocker.self,
            IOMMUStatus.self, GPU.self, GPU.Companion.self, Diagnosis.self, Diagnosis.Check.self, InputReport.self,
            InputDevice.self, DomainSummary.self, VBIOSCheck.self, VBIOSImage.self, FunctionOutcome.self,
            BindPlan.self, SysfsStep.self, PersistPlan.self, PersistFile.self, PersistedFunction.self,
            RecoveryItem.self, RecoveryOutcome.self, GuardRefusal.self, GuardRefusal.Member.self,
            GuardRefusal.Holder.self, GuardRefusal.BlockUse.self, GuardRefusal.BlockLayer.self,
            GuardRefusal.RouteUse.self,
        ]
    }

    @Test(
        "every stored property of a fully populated reported value is a key of its JSON",
        arguments: reportedTypes.indices)
    func everyPropertyIsAKey(index: Int) throws {
        let type = Self.reportedTypes[index]
        let value = try Populator.make(type)
        let json = try JSONSerialization.jsonObject(with: Data(encodeJSON(value)))
        var problems: [String] = []
        Self.compare(value, json, path: "\(type)", problems: &problems)
        #expect(problems.isEmpty, "\(problems.joined(separator: "; "))")
    }

    @Test("a map keyed by PCI addresses is a JSON object keyed by their text, and reads back")
    func addressKeyedMap() throws {
        let address = try #require(PCIAddress("0000:01:00.1"))
        let plan = BindPlan(
            functions: [address], alreadyBound: [], originalDrivers: [address: "snd_hda_intel"], groups: [address: 14],
            loadsModule: true, steps: [], notes: [])
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(encodeJSON(plan))) as? [String: Any])
        #expect(json["originalDrivers"] as? [String: String] == ["0000:01:00.1": "snd_hda_intel"])
        #expect(json["groups"] as? [String: Int] == ["0000:01:00.1": 14])
        #expect(try JSONDecoder().decode(BindPlan.self, from: Data(encodeJSON(plan))) == plan)
        let bad = Data(#"{"0000:zz:00.0": 1}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([PCIAddress: Int].self, from: bad) }
    }

    @Test("a PCI ID is a number written as four lowercase hex digits; text that is no 16-bit ID is refused")
    func pciID() throws {
        #expect(PCIID(hex: "10DE") == 0x10de && PCIID(hex: "0x1af4") == 0x1af4 && PCIID(hex: "1") == 0x0001)
        for bad in ["", "0x", "10de0", "g000", "-1", "0x10000"] { #expect(PCIID(hex: bad) == nil, "\(bad)") }
        #expect(PCIID(0x1).description == "0001")
        #expect(String(decoding: try encodeJSON([PCIID(0x10de)]), as: UTF8.self).contains("\"10de\""))
        #expect(try JSONDecoder().decode([PCIID].self, from: Data(#"["0x73BF"]"#.utf8)) == [0x73bf])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([PCIID].self, from: Data(#"["nvidia"]"#.utf8)) }
    }

    @Test("the walk notices a stored property that its JSON lacks")
    func noticesMissingKey() throws {
        struct Hidden: Codable {
            var shown = "a"
            var hidden = "b"
            enum CodingKeys: String, CodingKey { case shown }
            init() {}
            init(from decoder: any Decoder) throws {
                shown = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .shown)
            }
        }
        let json = try JSONSerialization.jsonObject(with: Data(encodeJSON(Hidden())))
        var problems: [String] = []
        Self.compare(Hidden(), json, path: "Hidden", problems: &problems)
        #expect(problems == ["Hidden.hidden is not in the JSON"])
        problems = []
        struct Sparse: Codable { var text: String? }
        Self.compare(
            Sparse(), try JSONSerialization.jsonObject(with: Data(encodeJSON(Sparse()))), path: "Sparse",
            problems: &problems)
        #expect(problems == ["Sparse.text is not in the JSON", "Sparse.text is not populated"])
    }

    /// Walks `value` and its JSON together, noting every stored property without a key and every empty one.
    static func compare(_ value: Any, _ json: Any, path: String, problems: inout [String]) {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .struct:
            // Scalars such as PCIAddress encode as one string: nothing to look up.
            guard let object = json as? [String: Any] else { return }
            for child in mirror.children {
                guard let label = child.label else { continue }
                let inner = Mirror(reflecting: child.value)
                if inner.displayStyle == .optional && inner.children.isEmpty
                    || inner.displayStyle == .collection && inner.children.isEmpty
                    || inner.displayStyle == .dictionary && inner.children.isEmpty
                    || inner.displayStyle == .set && inner.children.isEmpty
                {
                    if object[label] == nil { problems.append("\(path).\(label) is not in the JSON") }
                    problems.append("\(path).\(label) is not populated")
                    continue
                }
                guard let member = object[label] else {
                    problems.append("\(path).\(label) is not in the JSON")
                    continue
                }
                compare(child.value, member, path: path + "." + label, problems: &problems)
            }
        case .optional:
            if let wrapped = mirror.children.first { compare(wrapped.value, json, path: path, problems: &problems) }
        case .collection, .set:
            if let first = mirror.children.first, let array = json as? [Any], let element = array.first {
                compare(first.value, element, path: path + "[0]", problems: &problems)
            }
        default:
            break
        }
    }
}

/// A decoder that makes a value of any `Decodable` type with every field present.
///
/// Types it cannot invent (enums with payloads, validated strings such as PCI addresses) come from `samples`.
struct Populator: Decoder {
    /// Values for types a made-up string or number cannot build.
    nonisolated(unsafe) static let samples: [ObjectIdentifier: Any] = {
        let address = PCIAddress(domain: 0, bus: 1, device: 0, function: 0)
        let holder = GuardRefusal.Holder(name: "qemu-system-x86", pid: 42)
        let member = GuardRefusal.Member(address: address, driver: "nvidia", className: "VGA")
        var table: [ObjectIdentifier: Any] = [:]
        func add<T>(_ value: T) { table[ObjectIdentifier(T.self)] = value }
        add(address)
        add(PCIID(0x10de))
        add(Diagnosis.Status.warn)
        add(GPU.Status.ready)
        add(ViabilityRule.dmaOwnership)
        add(RecoveryOutcome.Result.held)
        add(JournalRecord.Phase.bound)
        add(BindingOwner.guest("win11"))
        add(RecoveryItem.Subject.device(address))
        add(RecoveryItem.Cause.journal(phase: .bound, owner: .user))
        add(RecoveryItem.Hold.inUse([holder]))
        add(GuardRefusal.StorageUse.mounted("/"))
        add(GuardRefusal.Reason.groupNotViable(group: 1, members: [member], chipset: true, bridge: address))
        return table
    }()

    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// A value of `type` with every field filled.
    static func make<T: Decodable>(_ type: T.Type) throws -> T {
        if let sample = samples[ObjectIdentifier(type)] as? T { return sample }
        if let cases = type as? any CaseIterable.Type, let first = firstCase(cases) as? T { return first }
        return try T(from: Populator())
    }

    private static func firstCase<C: CaseIterable>(_ type: C.Type) -> Any? { C.allCases.first }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>())
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { Unkeyed() }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single() }

    private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        var codingPath: [any CodingKey] { [] }
        // A dictionary asks for its keys: it gets one, which reads as a PCI address too (maps keyed by address).
        // A struct's keys are never listed, only asked for.
        var allKeys: [Key] { [Key(stringValue: "0000:01:00.0")].compactMap { $0 } }
        func contains(_ key: Key) -> Bool { true }
        func decodeNil(forKey key: Key) throws -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try Populator.make(type) }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        { KeyedDecodingContainer(Keyed<NestedKey>()) }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { Unkeyed() }
        func superDecoder() throws -> any Decoder { Populator() }
        func superDecoder(forKey key: Key) throws -> any Decoder { Populator() }
    }

    /// One element.
    private struct Unkeyed: UnkeyedDecodingContainer {
        var codingPath: [any CodingKey] { [] }
        var count: Int? { 1 }
        var currentIndex = 0
        var isAtEnd: Bool { currentIndex >= 1 }
        mutating func decodeNil() throws -> Bool { false }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            currentIndex += 1
            return try Populator.make(type)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            currentIndex += 1
            return KeyedDecodingContainer(Keyed<NestedKey>())
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            currentIndex += 1
            return Unkeyed()
        }
        mutating func superDecoder() throws -> any Decoder { Populator() }
    }

    private struct Single: SingleValueDecodingContainer {
        var codingPath: [any CodingKey] { [] }
        func decodeNil() -> Bool { false }
        func decode(_ type: Bool.Type) throws -> Bool { true }
        func decode(_ type: String.Type) throws -> String { "text" }
        func decode(_ type: Double.Type) throws -> Double { 1.5 }
        func decode(_ type: Float.Type) throws -> Float { 1.5 }
        func decode(_ type: Int.Type) throws -> Int { 1 }
        func decode(_ type: Int8.Type) throws -> Int8 { 1 }
        func decode(_ type: Int16.Type) throws -> Int16 { 1 }
        func decode(_ type: Int32.Type) throws -> Int32 { 1 }
        func decode(_ type: Int64.Type) throws -> Int64 { 1 }
        func decode(_ type: UInt.Type) throws -> UInt { 1 }
        func decode(_ type: UInt8.Type) throws -> UInt8 { 1 }
        func decode(_ type: UInt16.Type) throws -> UInt16 { 1 }
        func decode(_ type: UInt32.Type) throws -> UInt32 { 1 }
        func decode(_ type: UInt64.Type) throws -> UInt64 { 1 }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try Populator.make(type) }
    }
}
