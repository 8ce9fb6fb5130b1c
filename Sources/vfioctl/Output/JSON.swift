import Devices
import SystemPackage

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Prints a value as pretty JSON with sorted keys to stdout, ending with a line break.
///
/// The value's synthesized `Codable` decides the keys: every stored property, a nil optional left out. The encoder's
/// bytes are written as they are, and the line break after them: a large report is not copied again on its way out.
func printJSON<T: Encodable>(_ value: T) throws {
    let data = try encoder().encode(value)
    _ = try data.withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
    _ = try FileDescriptor.standardOutput.writeAll([UInt8(ascii: "\n")])
}

/// Encodes a value as pretty JSON with sorted keys and a final line break, as bytes.
func encodeJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
    var bytes = Array(try encoder().encode(value))
    bytes.append(UInt8(ascii: "\n"))
    return bytes
}

/// The encoder of every JSON document the CLI prints.
private func encoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return encoder
}

/// Prints a host report exactly as `printJSON` would, byte for byte, without building the value tree of the whole
/// document at once.
///
/// A large host's report is mostly its lists of devices, groups and GPUs. The report is encoded with those lists
/// empty, and each list is then written where its empty form stands, one element at a time, each element encoded
/// by the same encoder and indented to its depth: the largest tree held is one device's.
func printReportJSON(_ report: HostReport) throws {
    var shell = report
    shell.devices = []
    shell.groups = []
    shell.gpus = []
    let encoder = encoder()
    let document = Array(try encoder.encode(shell))
    // The lists in the order `.sortedKeys` writes them, each with its elements' encoders.
    let lists: [(key: String, count: Int, element: (Int) throws -> Data)] = [
        ("devices", report.devices.count, { try encoder.encode(report.devices[$0]) }),
        ("gpus", report.gpus.count, { try encoder.encode(report.gpus[$0]) }),
        ("groups", report.groups.count, { try encoder.encode(report.groups[$0]) }),
    ]
    var output = ReportWriter()
    var written = 0
    for list in lists where list.count > 0 {
        // A top-level key, as the pretty printer writes an empty list at depth one.
        let empty = Array("\n  \"\(list.key)\" : [\n\n  ]".utf8)
        guard let start = document.firstRange(of: empty)?.lowerBound, start >= written else {
            // Never so with JSONEncoder's pretty printer; the whole report is encoded at once instead.
            return try printJSON(report)
        }
        let open = start + empty.count - "\n\n  ]".utf8.count
        try output.write(document[written..<open])
        for index in 0..<list.count {
            try output.write(Array((index == 0 ? "\n" : ",\n").utf8))
            try output.write(indented(try list.element(index), by: 4))
        }
        try output.write(Array("\n  ]".utf8))
        written = start + empty.count
    }
    try output.write(document[written...])
    try output.write([UInt8(ascii: "\n")])
    try output.flush()
}

/// A value's JSON at depth zero, moved right by `spaces`: after every line break that does not end an empty line
/// (the pretty printer leaves the blank line of an empty list unindented).
private func indented(_ json: Data, by spaces: Int) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(json.count + json.count / 8)
    result.append(contentsOf: repeatElement(UInt8(ascii: " "), count: spaces))
    var previous: UInt8 = 0
    for byte in json {
        if previous == UInt8(ascii: "\n") && byte != UInt8(ascii: "\n") {
            result.append(contentsOf: repeatElement(UInt8(ascii: " "), count: spaces))
        }
        result.append(byte)
        previous = byte
    }
    return result
}

/// Collects output in blocks of 64 KiB and writes each to stdout when full.
private struct ReportWriter {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    mutating func write<Bytes: Collection>(_ bytes: Bytes) throws where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { try flush() }
    }

    mutating func flush() throws {
        _ = try buffer.withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
