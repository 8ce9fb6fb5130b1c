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
