import CEvdev
import CUdev
import Glibc
import SystemPackage

/// Input devices as the running system sees them: libudev enumerates the `input` subsystem (with udev's own
/// `ID_INPUT_*` and `ID_BUS` properties) and libevdev asks each event node for its name, IDs and capabilities.
///
/// libudev refuses paths outside `/sys` and libevdev needs a real event node, so this source is used only on the
/// real host (sysroot `/`). A node libevdev cannot open (not root, not in the `input` group) falls back to the
/// sysfs capability bitmaps, with a note.
struct UdevInputSource: InputSource {
    let files: HostFiles

    func devices() throws -> (devices: [RawInputDevice], warnings: [String]) {
        guard let udev = udev_new() else {
            throw DevicesError(code: .unavailable, message: "libudev could not start (udev_new failed)")
        }
        defer { udev_unref(udev) }
        guard let enumerate = udev_enumerate_new(udev) else {
            throw DevicesError(code: .unavailable, message: "libudev could not enumerate devices")
        }
        defer { udev_enumerate_unref(enumerate) }
        var rc = udev_enumerate_add_match_subsystem(enumerate, "input")
        if rc >= 0 { rc = udev_enumerate_scan_devices(enumerate) }
        guard rc >= 0 else {
            throw DevicesError(
                code: .io, message: "libudev could not scan input devices: \(Errno(rawValue: -rc))",
                cause: Errno(rawValue: -rc))
        }
        let sysfs = SysfsInputSource(files: files)
        var devices: [RawInputDevice] = []
        var warnings: [String] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let current = entry {
            defer { entry = udev_list_entry_get_next(current) }
            guard let syspath = udev_list_entry_get_name(current),
                let device = udev_device_new_from_syspath(udev, syspath)
            else { continue }
            defer { udev_device_unref(device) }
            guard let sysname = udev_device_get_sysname(device).map({ String(cString: $0) }),
                sysname.hasPrefix("event")
            else { continue }
            do {
                guard var raw = try sysfs.read(sysname) else { continue }
                raw.udevKinds = Self.kinds(of: device)
                raw.udevBus = property(device, "ID_BUS")
                if let node = udev_device_get_devnode(device).map({ String(cString: $0) }) {
                    if let note = refine(&raw, node: node) { warnings.append(note) }
                }
                devices.append(raw)
            } catch let error as DevicesError {
                warnings.append("skipping \(sysname): \(error.message)")
            }
        }
        return (devices.sorted { Self.eventNumber($0.eventName) < Self.eventNumber($1.eventName) }, warnings)
    }

    /// udev's classification of a node, from its `ID_INPUT_*` properties.
    static func kinds(of device: OpaquePointer) -> [String] {
        let table: [(String, String)] = [
            ("ID_INPUT_KEYBOARD", "keyboard"), ("ID_INPUT_MOUSE", "mouse"), ("ID_INPUT_TOUCHPAD", "touchpad"),
            ("ID_INPUT_TABLET", "tablet"), ("ID_INPUT_TOUCHSCREEN", "touchscreen"),
            ("ID_INPUT_JOYSTICK", "joystick"), ("ID_INPUT_KEY", "key"), ("ID_INPUT_SWITCH", "switch"),
        ]
        return table.compactMap { key, kind in
            udev_device_get_property_value(device, key).map { String(cString: $0) } == "1" ? kind : nil
        }
    }

    /// The number in `eventN`, for ordering.
    static func eventNumber(_ name: String) -> Int {
        Int(name.dropFirst("event".count)) ?? Int.max
    }

    private func property(_ device: OpaquePointer, _ key: String) -> String? {
        udev_device_get_property_value(device, key).map { String(cString: $0) }
    }

    /// Replaces the sysfs view with libevdev's answer from the event node; returns a note when the node cannot be
    /// opened.
    private func refine(_ raw: inout RawInputDevice, node: String) -> String? {
        let fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let errno = Errno(rawValue: Glibc.errno)
            return "cannot open \(node) (\(DevicesError.hint(for: errno))): capabilities read from sysfs instead"
        }
        defer { close(fd) }
        var handle: OpaquePointer?
        let rc = libevdev_new_from_fd(fd, &handle)
        guard rc >= 0, let evdev = handle else {
            return "libevdev cannot read \(node): \(Errno(rawValue: -rc)); capabilities read from sysfs instead"
        }
        defer { libevdev_free(evdev) }
        if let name = libevdev_get_name(evdev) { raw.name = String(cString: name) }
        raw.phys = libevdev_get_phys(evdev).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        raw.uniq = libevdev_get_uniq(evdev).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        raw.bustype = UInt16(truncatingIfNeeded: libevdev_get_id_bustype(evdev))
        raw.vendor = UInt16(truncatingIfNeeded: libevdev_get_id_vendor(evdev))
        raw.product = UInt16(truncatingIfNeeded: libevdev_get_id_product(evdev))
        var capabilities = InputCapabilities()
        let ranges: [(UInt32, Int, WritableKeyPath<InputCapabilities, BitSet>)] = [
            (UInt32(EV_KEY), Int(KEY_MAX), \.keys), (UInt32(EV_REL), Int(REL_MAX), \.relative),
            (UInt32(EV_ABS), Int(ABS_MAX), \.absolute), (UInt32(EV_SW), Int(SW_MAX), \.switches),
        ]
        for type in 0...Int(EV_MAX) where libevdev_has_event_type(evdev, UInt32(type)) == 1 {
            capabilities.events.insert(type)
        }
        for (type, maximum, keyPath) in ranges where capabilities.events.contains(Int(type)) {
            for code in 0...maximum where libevdev_has_event_code(evdev, type, UInt32(code)) == 1 {
                capabilities[keyPath: keyPath].insert(code)
            }
        }
        for property in 0...Int(INPUT_PROP_MAX) where libevdev_has_property(evdev, UInt32(property)) == 1 {
            capabilities.properties.insert(property)
        }
        raw.capabilities = capabilities
        raw.capabilitiesFrom = "libevdev"
        return nil
    }
}
