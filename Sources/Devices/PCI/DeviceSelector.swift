/// How the user names devices: an address (`0000:01:00.0`, `01:00.0`) or an ID pair (`10de:2484`).
public enum DeviceSelector: Sendable, Hashable, CustomStringConvertible {
    /// One function by address.
    case address(PCIAddress)
    /// Every function with these IDs.
    case ids(vendor: UInt16, device: UInt16)

    /// Parses a selector; nil when `text` is neither form.
    public init?(_ text: String) {
        if text.contains(".") {
            guard let address = PCIAddress(text) else { return nil }
            self = .address(address)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 4 }),
            let vendor = UInt16(parts[0], radix: 16), let device = UInt16(parts[1], radix: 16)
        else { return nil }
        self = .ids(vendor: vendor, device: device)
    }

    /// Whether `device` is named by this selector.
    public func matches(_ device: PCIDevice) -> Bool {
        switch self {
        case .address(let address): device.address == address
        case .ids(let vendor, let id): device.vendor == vendor && device.device == id
        }
    }

    /// The selector as the user would type it.
    public var description: String {
        switch self {
        case .address(let address): address.description
        case .ids(let vendor, let device): hex(vendor, width: 4) + ":" + hex(device, width: 4)
        }
    }
}
