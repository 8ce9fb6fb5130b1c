import SystemPackage

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Prints a value as pretty JSON with sorted keys to stdout, ending with a line break.
///
/// The value's synthesized `Codable` decides the keys: every stored property, a nil optional left out.
func printJSON<T: Encodable>(_ value: T) throws {
    let bytes = try encodeJSON(value)
    _ = try bytes.withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
}

/// Encodes a value as pretty JSON with sorted keys and a final line break, as bytes.
func encodeJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    var bytes = Array(try encoder.encode(value))
    bytes.append(UInt8(ascii: "\n"))
    return bytes
}
