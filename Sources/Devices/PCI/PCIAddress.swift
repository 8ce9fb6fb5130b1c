/// A PCI function's address, `DDDD:BB:DD.F` (domain, bus, device, function).
public struct PCIAddress: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The PCI domain (segment); `0000` on most hosts, wider on Intel VMD.
    public let domain: UInt32
    /// The bus number.
    public let bus: UInt8
    /// The device (slot) number, 0–31.
    public let device: UInt8
    /// The function number, 0–7.
    public let function: UInt8

    /// Creates an address from its parts.
    public init(domain: UInt32 = 0, bus: UInt8, device: UInt8, function: UInt8) {
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Parses `0000:01:00.0` or the short form `01:00.0`; nil when `text` is not an address.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let domainText: Substring
        let busText: Substring
        let rest: Substring
        switch parts.count {
        case 3:
            (domainText, busText, rest) = (parts[0], parts[1], parts[2])
        case 2:
            (domainText, busText, rest) = ("0", parts[0], parts[1])
        default:
            return nil
        }
        let slot = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard slot.count == 2,
            (1...8).contains(domainText.count), (1...2).contains(busText.count),
            (1...2).contains(slot[0].count), slot[1].count == 1,
            let domain = UInt32(domainText, radix: 16),
            let bus = UInt8(busText, radix: 16),
            let device = UInt8(slot[0], radix: 16), device < 32,
            let function = UInt8(slot[1], radix: 16), function < 8
        else { return nil }
        self.init(domain: domain, bus: bus, device: device, function: function)
    }

    /// The canonical form, `0000:01:00.0`, as sysfs names it.
    public var description: String {
        hex(domain, width: 4) + ":" + hex(UInt32(bus), width: 2) + ":" + hex(UInt32(device), width: 2) + "."
            + String(function, radix: 16)
    }

    /// The slot this function belongs to: the same address with function 0.
    public var slot: PCIAddress { PCIAddress(domain: domain, bus: bus, device: device, function: 0) }

    /// Whether `other` is a function of the same slot (same domain, bus and device).
    public func sharesSlot(with other: PCIAddress) -> Bool {
        domain == other.domain && bus == other.bus && device == other.device
    }

    /// Orders addresses by domain, bus, device and function.
    public static func < (lhs: PCIAddress, rhs: PCIAddress) -> Bool {
        (lhs.domain, lhs.bus, lhs.device, lhs.function) < (rhs.domain, rhs.bus, rhs.device, rhs.function)
    }

    /// Decodes from the canonical string form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let address = PCIAddress(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a PCI address: \(text)")
        }
        self = address
    }

    /// Encodes as the canonical string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Lowercase hexadecimal with leading zeros.
func hex<T: BinaryInteger>(_ value: T, width: Int) -> String {
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// A map keyed by addresses is a JSON object keyed by their text (`{"0000:01:00.0": …}`).
extension PCIAddress: CodingKeyRepresentable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The address's text as a key.
    public var codingKey: any CodingKey { Key(stringValue: description) }

    /// The address a key's text names; nil for text that is not an address.
    public init?<T: CodingKey>(codingKey: T) { self.init(codingKey.stringValue) }
}
