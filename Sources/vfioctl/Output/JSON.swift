import Devices
import Glibc

/// Prints a value as pretty JSON with sorted keys, streaming the text to stdout.
///
/// A small encoder of our own: it keeps one compact tree of the value (scalars inline) and writes it through a
/// 64 KiB buffer, so a report of thousands of devices needs a fraction of the memory a general-purpose
/// encoder's intermediate tree and output copy would.
func printJSON<T: Encodable>(_ value: T) throws {
    try writeJSON(value, to: writeToStandardOutput)
}

/// Encodes a value as pretty JSON with sorted keys, handing the text to `sink` in chunks.
func writeJSON<T: Encodable>(_ value: T, to sink: @escaping (UnsafeRawBufferPointer) -> Void) throws {
    if let members = value as? any JSONMemberStream {
        // Large reports go out member by member and array element by element: one element's tree at a time.
        var writer = JSONMemberWriter(out: OutputBuffer(sink: sink))
        try members.streamMembers(into: &writer)
        writer.finish()
        return
    }
    let root = JSONNode(codingPath: [])
    // A top-level object whose members are known to arrive in key order is written member by member, so only
    // one member's tree is held at a time; anything else is collected and sorted first.
    root.stream = OutputBuffer(sink: sink)
    root.streamsMembers = value is any EncodesKeysInOrder
    try value.encode(to: root)
    root.finishStream()
}

/// A type whose `encode(to:)` emits its keyed members in ascending key order, so they can be streamed.
protocol EncodesKeysInOrder {}

/// A value written as an object whose members (in ascending key order, as its `encode(to:)` has them) are
/// handed to a writer one by one, arrays element by element.
protocol JSONMemberStream {
    /// Writes every member, in ascending key order.
    func streamMembers(into writer: inout JSONMemberWriter) throws
}

/// Writes a top-level object member by member, in the same form the tree writer gives.
struct JSONMemberWriter {
    fileprivate var out: OutputBuffer
    private var first = true

    fileprivate init(out: OutputBuffer) {
        self.out = out
    }

    /// Writes one member.
    mutating func member<T: Encodable>(_ key: String, _ value: T) throws {
        begin(key)
        JSONNode.write(try JSONNode.item(value, path: []), into: &out, indent: 2)
    }

    /// Writes an array member, encoding and writing one element at a time.
    mutating func elements<T: Encodable>(_ key: String, _ values: [T]) throws {
        begin(key)
        guard !values.isEmpty else { return out.append("[]") }
        out.append("[\n")
        for (index, value) in values.enumerated() {
            out.spaces(4)
            JSONNode.write(try JSONNode.item(value, path: []), into: &out, indent: 4)
            out.append(index + 1 < values.count ? ",\n" : "\n")
        }
        out.spaces(2)
        out.append("]")
    }

    fileprivate mutating func finish() {
        out.append(first ? "{}\n" : "\n}\n")
        out.flush()
    }

    private mutating func begin(_ key: String) {
        out.append(first ? "{\n  " : ",\n  ")
        first = false
        out.appendQuoted(key)
        out.append(": ")
    }
}

extension HostReport: JSONMemberStream {
    /// The members of `HostReport.encode(to:)`, in its order.
    func streamMembers(into writer: inout JSONMemberWriter) throws {
        try writer.elements("devices", devices)
        try writer.elements("gpus", gpus)
        try writer.elements("groups", groups)
        try writer.member("iommu", iommu)
        try writer.member("kernelRelease", kernelRelease)
        try writer.member("viabilityRule", viabilityRule)
        try writer.member("warnings", warnings)
    }
}

/// Encodes a value as pretty JSON with sorted keys, as bytes.
func encodeJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try writeJSON(value) { bytes.append(contentsOf: $0) }
    return bytes
}

/// Writes all of `raw` to stdout, retrying short writes.
private func writeToStandardOutput(_ raw: UnsafeRawBufferPointer) {
    guard var base = raw.baseAddress else { return }
    var remaining = raw.count
    while remaining > 0 {
        let written = write(STDOUT_FILENO, base, remaining)
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        base += written
        remaining -= written
    }
}

/// One encoded value: a scalar, an object or an array.
private final class JSONNode: Encoder {
    enum Item {
        case null
        case bool(Bool)
        case int(Int64)
        case uint(UInt64)
        case double(Double)
        case string(String)
        case node(JSONNode)
    }

    enum Content {
        case empty
        case scalar(Item)
        case object([(key: String, item: Item)])
        case array([Item])
    }

    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var content = Content.empty
    /// Where a streaming root writes its members as they arrive.
    var stream: OutputBuffer?
    /// Whether members may be written as they arrive (see `EncodesKeysInOrder`).
    var streamsMembers = false
    private var streamedKey: String?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = content {} else { content = .object([]) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = content {} else { content = .array([]) }
        return UnkeyedContainer(node: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: self)
    }

    func add(_ item: Item, key: String) {
        if streamsMembers, var out = stream, streamedKey.map({ $0 < key }) ?? true, JSONNode.isComplete(item) {
            stream = nil
            out.append(streamedKey == nil ? "{\n  " : ",\n  ")
            out.appendQuoted(key)
            out.append(": ")
            JSONNode.write(item, into: &out, indent: 2)
            streamedKey = key
            stream = out
            return
        }
        guard case .object(var entries) = content else { return }
        content = .empty
        entries.append((key, item))
        content = .object(entries)
    }

    func append(_ item: Item) {
        guard case .array(var items) = content else { return }
        content = .empty
        items.append(item)
        content = .array(items)
    }

    /// Writes what a streaming root still holds and flushes it.
    func finishStream() {
        guard var out = stream else { return }
        stream = nil
        if streamedKey == nil {
            write(into: &out, indent: 0)
        } else {
            if case .object(let rest) = content {
                // Members that arrived out of order or unfinished, after the streamed ones.
                for entry in rest.sorted(by: { $0.key < $1.key }) {
                    out.append(",\n  ")
                    out.appendQuoted(entry.key)
                    out.append(": ")
                    JSONNode.write(entry.item, into: &out, indent: 2)
                }
            }
            out.append("\n}")
        }
        out.append("\n")
        out.flush()
    }

    /// Whether an item is finished: nested containers handed out by `nestedContainer` are filled later.
    static func isComplete(_ item: Item) -> Bool {
        if case .node(let node) = item, case .empty = node.content { return false }
        return true
    }

    var count: Int {
        if case .array(let items) = content { return items.count }
        return 0
    }

    /// Encodes a nested value, keeping scalars inline.
    static func item<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> Item {
        // The common leaves are stored inline, without a node of their own. Comparing metatypes and
        // reinterpreting is far cheaper than a dynamic cast per value.
        func reinterpret<U>(_: U.Type) -> U {
            withUnsafePointer(to: value) { $0.withMemoryRebound(to: U.self, capacity: 1) { $0.pointee } }
        }
        let type = T.self
        if type == String.self { return .string(reinterpret(String.self)) }
        if type == String?.self { return reinterpret(String?.self).map(Item.string) ?? .null }
        if type == Bool.self { return .bool(reinterpret(Bool.self)) }
        if type == Int.self { return .int(Int64(reinterpret(Int.self))) }
        if type == Int?.self { return reinterpret(Int?.self).map { .int(Int64($0)) } ?? .null }
        if type == Bool?.self { return reinterpret(Bool?.self).map(Item.bool) ?? .null }
        if type == PCIAddress.self { return .string(reinterpret(PCIAddress.self).description) }
        let child = JSONNode(codingPath: path)
        try value.encode(to: child)
        if case .scalar(let item) = child.content { return item }
        return .node(child)
    }

    func write(into out: inout OutputBuffer, indent: Int) {
        switch content {
        case .empty: out.append("{}")
        case .scalar(let item): JSONNode.write(item, into: &out, indent: indent)
        case .object(let entries):
            guard !entries.isEmpty else { return out.append("{}") }
            out.append("{\n")
            // Encoders that already emit their keys in order (ours do) skip the sort.
            let sorted = entries.isSorted { $0.key < $1.key } ? entries : entries.sorted { $0.key < $1.key }
            for (index, entry) in sorted.enumerated() {
                out.spaces(indent + 2)
                out.appendQuoted(entry.key)
                out.append(": ")
                JSONNode.write(entry.item, into: &out, indent: indent + 2)
                out.append(index + 1 < sorted.count ? ",\n" : "\n")
            }
            out.spaces(indent)
            out.append("}")
        case .array(let items):
            guard !items.isEmpty else { return out.append("[]") }
            out.append("[\n")
            for (index, item) in items.enumerated() {
                out.spaces(indent + 2)
                JSONNode.write(item, into: &out, indent: indent + 2)
                out.append(index + 1 < items.count ? ",\n" : "\n")
            }
            out.spaces(indent)
            out.append("]")
        }
    }

    static func write(_ item: Item, into out: inout OutputBuffer, indent: Int) {
        switch item {
        case .null: out.append("null")
        case .bool(let flag): out.append(flag ? "true" : "false")
        case .int(let number): out.appendNumber(number)
        case .uint(let number): out.append(String(number))
        case .double(let number): out.append(number.isFinite ? "\(number)" : "null")
        case .string(let text): out.appendQuoted(text)
        case .node(let node): node.write(into: &out, indent: indent)
        }
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ index: Int) {
        stringValue = String(index)
        intValue = index
    }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.init(intValue) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONNode
    var codingPath: [any CodingKey] { node.codingPath }

    mutating func encodeNil(forKey key: Key) throws { node.add(.null, key: key.stringValue) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { node.add(.bool(value), key: key.stringValue) }
    mutating func encode(_ value: String, forKey key: Key) throws { node.add(.string(value), key: key.stringValue) }
    mutating func encode(_ value: Double, forKey key: Key) throws { node.add(.double(value), key: key.stringValue) }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        node.add(.double(Double(value)), key: key.stringValue)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { node.add(.int(Int64(value)), key: key.stringValue) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { node.add(.int(Int64(value)), key: key.stringValue) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { node.add(.int(Int64(value)), key: key.stringValue) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { node.add(.int(Int64(value)), key: key.stringValue) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { node.add(.int(value), key: key.stringValue) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { node.add(.uint(UInt64(value)), key: key.stringValue) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws {
        node.add(.uint(UInt64(value)), key: key.stringValue)
    }
    mutating func encode(_ value: UInt16, forKey key: Key) throws {
        node.add(.uint(UInt64(value)), key: key.stringValue)
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        node.add(.uint(UInt64(value)), key: key.stringValue)
    }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { node.add(.uint(value), key: key.stringValue) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        node.add(try JSONNode.item(value, path: codingPath + [key]), key: key.stringValue)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = JSONNode(codingPath: codingPath + [key])
        node.add(.node(child), key: key.stringValue)
        return child.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = JSONNode(codingPath: codingPath + [key])
        node.add(.node(child), key: key.stringValue)
        return child.unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        guard let key = Key(stringValue: "super") else { return JSONNode(codingPath: codingPath) }
        return superEncoder(forKey: key)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let child = JSONNode(codingPath: codingPath + [key])
        node.add(.node(child), key: key.stringValue)
        return child
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: JSONNode
    var codingPath: [any CodingKey] { node.codingPath }
    var count: Int { node.count }

    mutating func encodeNil() throws { node.append(.null) }
    mutating func encode(_ value: Bool) throws { node.append(.bool(value)) }
    mutating func encode(_ value: String) throws { node.append(.string(value)) }
    mutating func encode(_ value: Int) throws { node.append(.int(Int64(value))) }
    mutating func encode(_ value: Double) throws { node.append(.double(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        node.append(try JSONNode.item(value, path: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<
        NestedKey
    > {
        let child = JSONNode(codingPath: codingPath + [IndexKey(count)])
        node.append(.node(child))
        return child.container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = JSONNode(codingPath: codingPath + [IndexKey(count)])
        node.append(.node(child))
        return child.unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let child = JSONNode(codingPath: codingPath + [IndexKey(count)])
        node.append(.node(child))
        return child
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: JSONNode
    var codingPath: [any CodingKey] { node.codingPath }

    mutating func encodeNil() throws { node.content = .scalar(.null) }
    mutating func encode(_ value: Bool) throws { node.content = .scalar(.bool(value)) }
    mutating func encode(_ value: String) throws { node.content = .scalar(.string(value)) }
    mutating func encode(_ value: Double) throws { node.content = .scalar(.double(value)) }
    mutating func encode(_ value: Float) throws { node.content = .scalar(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { node.content = .scalar(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { node.content = .scalar(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { node.content = .scalar(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { node.content = .scalar(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { node.content = .scalar(.int(value)) }
    mutating func encode(_ value: UInt) throws { node.content = .scalar(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { node.content = .scalar(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { node.content = .scalar(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { node.content = .scalar(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { node.content = .scalar(.uint(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        node.content = .scalar(try JSONNode.item(value, path: codingPath))
    }
}

/// A 64 KiB buffer in front of a sink (stdout).
struct OutputBuffer {
    private var bytes: [UInt8] = []
    private let limit = 1 << 16
    private let sink: (UnsafeRawBufferPointer) -> Void

    init(sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        self.sink = sink
        bytes.reserveCapacity(limit + 4096)
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
        if bytes.count >= limit { flush() }
    }

    mutating func appendNumber(_ number: Int64) {
        guard number >= 0 && number < 10 else { return append(String(number)) }
        bytes.append(UInt8(ascii: "0") + UInt8(number))
    }

    mutating func spaces(_ count: Int) {
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count))
    }

    /// Appends a JSON string literal: quotes, backslashes and control characters escaped.
    mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [
                    0x5C, UInt8(ascii: "u"), 0x30, 0x30, digits[Int(byte >> 4)], digits[Int(byte & 0xF)],
                ])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        if bytes.count >= limit { flush() }
    }

    mutating func flush() {
        bytes.withUnsafeBytes(sink)
        bytes.removeAll(keepingCapacity: true)
    }
}

extension Array {
    /// Whether the elements are in increasing order by `areInIncreasingOrder`.
    fileprivate func isSorted(by areInIncreasingOrder: (Element, Element) -> Bool) -> Bool {
        guard count > 1 else { return true }
        for index in 1..<count where areInIncreasingOrder(self[index], self[index - 1]) {
            return false
        }
        return true
    }
}
