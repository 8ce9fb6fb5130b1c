/// A 16-bit PCI ID (vendor, device, subsystem vendor or subsystem device): a number, written as four lowercase
/// hexadecimal digits (`10de`) in text and JSON, as lspci and sysfs write it.
public struct PCIID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    /// The ID.
    public var rawValue: UInt16

    /// The ID `rawValue`.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The ID `value`.
    public init(_ value: UInt16) { rawValue = value }

    /// The ID written as a literal: `0x10de`.
    public init(integerLiteral value: UInt16) { rawValue = value }

    /// The ID in hexadecimal, with or without `0x` (`10de`, `0x10DE`); nil for anything else.
    public init?(hex text: some StringProtocol) {
        let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? Substring(text.dropFirst(2)) : Substring(text)
        guard (1...4).contains(digits.count), let value = UInt16(digits, radix: 16) else { return nil }
        rawValue = value
    }

    /// Four lowercase hexadecimal digits: `10de`.
    public var description: String { hex(rawValue, width: 4) }

    /// Orders IDs by number.
    public static func < (a: PCIID, b: PCIID) -> Bool { a.rawValue < b.rawValue }

    /// Reads the text form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = PCIID(hex: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not a 16-bit hexadecimal PCI ID")
        }
        self = id
    }

    /// Writes the text form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
