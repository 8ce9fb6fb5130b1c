/// QEMU `input-linux` objects for a keyboard and a mouse shared through evdev.
///
/// The keyboard always carries `grab_all=on` and a grab toggle, so the toggle that hands the devices back to the
/// host releases the mouse too: a guest that grabs the only keyboard without one locks the user out.
public struct EvdevArguments: Sendable, Hashable {
    /// The keyboard's event path (a stable link).
    public var keyboard: String
    /// The mouse's event path (a stable link).
    public var mouse: String
    /// The keys that switch the devices between host and guest (`ctrl-ctrl`, `alt-alt`, `shift-shift`,
    /// `meta-meta`, `scrolllock`, `ctrl-scrolllock`).
    public var grabToggle: String

    /// The grab toggles QEMU accepts (`GrabToggleKeys`).
    public static let grabToggles = [
        "ctrl-ctrl", "alt-alt", "shift-shift", "meta-meta", "scrolllock", "ctrl-scrolllock",
    ]

    /// Creates the arguments for a keyboard and a mouse.
    public init(keyboard: String, mouse: String, grabToggle: String = "ctrl-ctrl") {
        self.keyboard = keyboard
        self.mouse = mouse
        self.grabToggle = grabToggle
    }

    /// `-object input-linux,id=kbd0,evdev=…,grab_all=on,repeat=on,grab-toggle=…` and the mouse's plain object.
    public var commandLine: [String] {
        [
            "-object",
            "input-linux,id=kbd0,evdev=\(Self.escape(keyboard)),grab_all=on,repeat=on,grab-toggle=\(grabToggle)",
            "-object",
            "input-linux,id=mouse0,evdev=\(Self.escape(mouse))",
        ]
    }

    /// A value for a QEMU option list: commas doubled, as QEMU's option parser requires.
    public static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: ",", with: ",,")
    }
}

extension String {
    /// The string with every occurrence of `target` replaced.
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
