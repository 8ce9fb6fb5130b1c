/// One evdev event node of a fake host, with the sysfs tree udev would see.
public struct FakeInputDevice: Sendable {
    /// N in `eventN`.
    public var event: Int
    /// The kernel's name for it.
    public var name: String
    /// The physical device's sysfs path (a USB device gets `idVendor`/`idProduct` files there).
    public var physical: String
    /// Whether the physical device is a USB device.
    public var isUSB: Bool
    /// `phys`.
    public var phys: String = ""
    /// `uniq`.
    public var uniq: String = ""
    /// `id/bustype`.
    public var bustype: UInt16 = 0x03
    /// `id/vendor`.
    public var vendor: UInt16 = 0x046d
    /// `id/product`.
    public var product: UInt16 = 0xc52b
    /// Event types.
    public var events: [Int] = []
    /// Key codes.
    public var keys: [Int] = []
    /// Relative axes.
    public var relative: [Int] = []
    /// Absolute axes.
    public var absolute: [Int] = []
    /// Switches.
    public var switches: [Int] = []
    /// Input properties.
    public var properties: [Int] = []
    /// Names of its `/dev/input/by-id` links.
    public var byID: [String] = []
    /// Names of its `/dev/input/by-path` links.
    public var byPath: [String] = []

    /// Creates a node with no capabilities.
    public init(event: Int, name: String, physical: String, isUSB: Bool = true) {
        self.event = event
        self.name = name
        self.physical = physical
        self.isUSB = isUSB
    }

    /// A full keyboard: `EV_SYN`, `EV_KEY`, `EV_MSC`, `EV_LED`, `EV_REP`, keys 1–127.
    public static func keyboard(event: Int, name: String, physical: String, isUSB: Bool = true) -> FakeInputDevice {
        var device = FakeInputDevice(event: event, name: name, physical: physical, isUSB: isUSB)
        device.events = [0, 1, 4, 17, 20]
        device.keys = Array(1...127)
        return device
    }

    /// A relative mouse: `EV_REL` X, Y, wheel and the left, right and middle buttons.
    public static func mouse(event: Int, name: String, physical: String, isUSB: Bool = true) -> FakeInputDevice {
        var device = FakeInputDevice(event: event, name: name, physical: physical, isUSB: isUSB)
        device.events = [0, 1, 2, 4]
        device.keys = [0x110, 0x111, 0x112]
        device.relative = [0, 1, 8]
        return device
    }

    /// The kernel's bitmap text for a set of bits: 64-bit hex words, most significant first.
    static func bitmap(_ bits: [Int]) -> String {
        guard let top = bits.max() else { return "0" }
        var words = [UInt64](repeating: 0, count: top / 64 + 1)
        for bit in bits { words[bit / 64] |= 1 << UInt64(bit % 64) }
        return words.reversed().map { String($0, radix: 16) }.joined(separator: " ")
    }
}

extension FakeHost {
    /// Adds an input device: its physical device, input directory, class link, event node and udev links.
    public func add(_ input: FakeInputDevice) throws {
        if input.isUSB {
            try write(input.physical + "/idVendor", String(input.vendor, radix: 16) + "\n")
            try write(input.physical + "/idProduct", String(input.product, radix: 16) + "\n")
        }
        let inputDir = input.physical + "/\(input.isUSB ? "iface/hid" : "sub")\(input.event)/input/input\(input.event)"
        try write(inputDir + "/name", input.name + "\n")
        try write(inputDir + "/phys", input.phys + "\n")
        try write(inputDir + "/uniq", input.uniq + "\n")
        try write(inputDir + "/id/bustype", String(format4(input.bustype)) + "\n")
        try write(inputDir + "/id/vendor", String(format4(input.vendor)) + "\n")
        try write(inputDir + "/id/product", String(format4(input.product)) + "\n")
        try write(inputDir + "/capabilities/ev", FakeInputDevice.bitmap(input.events) + "\n")
        try write(inputDir + "/capabilities/key", FakeInputDevice.bitmap(input.keys) + "\n")
        try write(inputDir + "/capabilities/rel", FakeInputDevice.bitmap(input.relative) + "\n")
        try write(inputDir + "/capabilities/abs", FakeInputDevice.bitmap(input.absolute) + "\n")
        try write(inputDir + "/capabilities/sw", FakeInputDevice.bitmap(input.switches) + "\n")
        try write(inputDir + "/properties", FakeInputDevice.bitmap(input.properties) + "\n")
        let eventDir = inputDir + "/event\(input.event)"
        try link(eventDir + "/device", to: inputDir)
        try link("/sys/class/input/event\(input.event)", to: eventDir)
        try write("/dev/input/event\(input.event)", "")
        for name in input.byID { try link("/dev/input/by-id/" + name, to: "../event\(input.event)") }
        for name in input.byPath { try link("/dev/input/by-path/" + name, to: "../event\(input.event)") }
    }

    private func format4(_ value: UInt16) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
