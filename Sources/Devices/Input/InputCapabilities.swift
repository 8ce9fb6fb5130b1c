/// The event types and codes an input device reports, as bit sets.
///
/// Filled from the kernel's capability bitmaps (`/sys/class/input/eventN/device/capabilities/*`, the same
/// bitmaps udev's `input_id` reads) or from libevdev on a real event node.
public struct InputCapabilities: Sendable, Hashable, Codable {
    /// Event types (`EV_KEY`, `EV_REL`, …).
    public var events = BitSet()
    /// Key and button codes.
    public var keys = BitSet()
    /// Relative axes.
    public var relative = BitSet()
    /// Absolute axes.
    public var absolute = BitSet()
    /// Switches.
    public var switches = BitSet()
    /// Input properties (`INPUT_PROP_*`).
    public var properties = BitSet()

    /// Creates an empty set.
    public init() {}

    static let evKey = 0x01
    static let evRel = 0x02
    static let evAbs = 0x03
    static let evSwitch = 0x05
    static let relX = 0x00
    static let relY = 0x01
    static let absX = 0x00
    static let absY = 0x01
    static let absMTPositionX = 0x35
    static let absMTPositionY = 0x36
    static let buttonMisc = 0x100
    static let buttonLeft = 0x110
    static let buttonJoystick = 0x120
    static let buttonGamepad = 0x130
    static let buttonToolPen = 0x140
    static let buttonToolFinger = 0x145
    static let buttonTouch = 0x14A
    static let buttonStylus = 0x14B
    static let buttonTriggerHappy = 0x2C0
    static let propPointer = 0x00
    static let propDirect = 0x01

    /// What kinds of device these capabilities make, by udev's `input_id` rules: a keyboard has `EV_KEY` with
    /// every key from 1 (Esc) to 31 (S); a mouse has relative X and Y and a left button; and so on.
    public var kinds: [String] {
        var kinds: [String] = []
        let hasKey = events.contains(Self.evKey)
        if hasKey && (1...31).allSatisfy({ keys.contains($0) }) { kinds.append("keyboard") }
        let hasRelXY =
            events.contains(Self.evRel) && relative.contains(Self.relX) && relative.contains(Self.relY)
        let hasAbsXY =
            events.contains(Self.evAbs) && absolute.contains(Self.absX) && absolute.contains(Self.absY)
        let hasMouseButton = keys.contains(Self.buttonLeft)
        let isDirect = properties.contains(Self.propDirect)
        let isTablet = keys.contains(Self.buttonStylus) || keys.contains(Self.buttonToolPen)
        let fingerButNoPen = keys.contains(Self.buttonToolFinger) && !keys.contains(Self.buttonToolPen)
        let joystickButtons =
            keys.contains(in: Self.buttonJoystick..<Self.buttonToolPen)
            || keys.contains(in: Self.buttonTriggerHappy..<(Self.buttonTriggerHappy + 40))
        if hasAbsXY && isTablet {
            kinds.append("tablet")
        } else if hasAbsXY && fingerButNoPen && !isDirect {
            kinds.append("touchpad")
        } else if hasAbsXY && (isDirect || keys.contains(Self.buttonTouch)) && !hasMouseButton {
            kinds.append("touchscreen")
        } else if hasMouseButton && (hasRelXY || hasAbsXY) {
            // Absolute pointers with buttons are mice too (VM tablets, vmmouse), as udev says.
            kinds.append("mouse")
        } else if joystickButtons && (hasAbsXY || !keys.isEmpty) {
            kinds.append("joystick")
        }
        if hasKey && !kinds.contains("keyboard") && keys.contains(in: 1..<Self.buttonMisc) {
            kinds.append("key")
        }
        if events.contains(Self.evSwitch) { kinds.append("switch") }
        return kinds
    }
}

/// A set of small non-negative integers (event codes), stored as 64-bit words.
public struct BitSet: Sendable, Hashable, Codable {
    private var words: [UInt64] = []

    /// An empty set.
    public init() {}

    /// A set from the kernel's bitmap text, or nil when the text is not such a bitmap.
    ///
    /// The text is hex words separated by spaces, most significant word first, each one `long` (64 bits) wide, as
    /// in `/sys/class/input/*/capabilities/key`.
    public init?(sysfsBitmap text: String) {
        let parts = text.split(separator: " ")
        var words: [UInt64] = []
        for part in parts.reversed() {
            guard let word = UInt64(part, radix: 16) else { return nil }
            words.append(word)
        }
        self.words = words
    }

    /// Whether `bit` is set.
    public func contains(_ bit: Int) -> Bool {
        guard bit >= 0 else { return false }
        let index = bit / 64
        guard index < words.count else { return false }
        return words[index] & (1 << UInt64(bit % 64)) != 0
    }

    /// Whether any bit in `range` is set.
    public func contains(in range: Range<Int>) -> Bool {
        range.contains { contains($0) }
    }

    /// Whether no bit is set.
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// Sets `bit`.
    public mutating func insert(_ bit: Int) {
        guard bit >= 0 else { return }
        let index = bit / 64
        if index >= words.count { words.append(contentsOf: repeatElement(0, count: index - words.count + 1)) }
        words[index] |= 1 << UInt64(bit % 64)
    }

    /// The set bits, ascending.
    public var elements: [Int] {
        var result: [Int] = []
        for (index, word) in words.enumerated() where word != 0 {
            for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { result.append(index * 64 + bit) }
        }
        return result
    }
}
