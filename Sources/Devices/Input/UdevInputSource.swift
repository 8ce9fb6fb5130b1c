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
        guard let api = cudev_load() else {
            throw DevicesError(
                code: .unavailable, message: "cannot list input devices: \(String(cString: cudev_load_error()))",
                object: .library("libudev"))
        }
        guard let evdev = cevdev_load() else {
            throw DevicesError(
                code: .unavailable, message: "cannot list input devices: \(String(cString: cevdev_load_error()))",
                object: .library("libevdev"))
        }
        guard let context = api.pointee.udevNew() else {
            throw DevicesError(code: .unavailable, message: "libudev could not start (udev_new failed)")
        }
        defer { _ = api.pointee.udevUnref(context) }
        guard let enumerate = api.pointee.enumerateNew(context) else {
            throw DevicesError(code: .unavailable, message: "libudev could not enumerate devices")
        }
        defer { _ = api.pointee.enumerateUnref(enumerate) }
        var rc = api.pointee.enumerateAddMatchSubsystem(enumerate, "input")
        if rc >= 0 { rc = api.pointee.enumerateScanDevices(enumerate) }
        guard rc >= 0 else {
            throw DevicesError(
                code: .io, message: "libudev could not scan input devices: \(Errno(rawValue: -rc))",
                cause: Errno(rawValue: -rc))
        }
        let sysfs = SysfsInputSource(files: files)
        var devices: [RawInputDevice] = []
        var warnings: [String] = []
        var entry = api.pointee.enumerateGetListEntry(enumerate)
        while let current = entry {
            defer { entry = api.pointee.listEntryGetNext(current) }
            guard let syspath = api.pointee.listEntryGetName(current),
                let device = api.pointee.deviceNewFromSyspath(context, syspath)
            else { continue }
            defer { _ = api.pointee.deviceUnref(device) }
            guard let sysname = api.pointee.deviceGetSysname(device).map({ String(cString: $0) }),
                sysname.hasPrefix("event")
            else { continue }
            do {
                guard var raw = try sysfs.read(sysname) else { continue }
                raw.udevKinds = Self.kinds(of: device, api: api)
                raw.udevBus = Self.property(device, "ID_BUS", api: api)
                if let node = api.pointee.deviceGetDevnode(device).map({ String(cString: $0) }) {
                    if let note = refine(&raw, node: node, evdev: evdev) { warnings.append(note) }
                }
                devices.append(raw)
            } catch let error as DevicesError {
                warnings.append("skipping \(sysname): \(error.message)")
            }
        }
        return (devices.sorted { Self.eventNumber($0.eventName) < Self.eventNumber($1.eventName) }, warnings)
    }

    /// udev's classification of a node, from its `ID_INPUT_*` properties.
    static func kinds(of device: OpaquePointer, api: UnsafeMutablePointer<cudev_api>) -> [String] {
        let table: [(String, String)] = [
            ("ID_INPUT_KEYBOARD", "keyboard"), ("ID_INPUT_MOUSE", "mouse"), ("ID_INPUT_TOUCHPAD", "touchpad"),
            ("ID_INPUT_TABLET", "tablet"), ("ID_INPUT_TOUCHSCREEN", "touchscreen"),
            ("ID_INPUT_JOYSTICK", "joystick"), ("ID_INPUT_KEY", "key"), ("ID_INPUT_SWITCH", "switch"),
        ]
        return table.compactMap { key, kind in property(device, key, api: api) == "1" ? kind : nil }
    }

    /// A udev property of a device, or nil.
    static func property(_ device: OpaquePointer, _ key: String, api: UnsafeMutablePointer<cudev_api>) -> String? {
        api.pointee.deviceGetPropertyValue(device, key).map { String(cString: $0) }
    }

    /// The number in `eventN`, for ordering.
    static func eventNumber(_ name: String) -> Int {
        Int(name.dropFirst("event".count)) ?? Int.max
    }

    /// Replaces the sysfs view with libevdev's answer from the event node; returns a note when the node cannot be
    /// opened.
    private func refine(_ raw: inout RawInputDevice, node: String, evdev api: UnsafeMutablePointer<cevdev_api>)
        -> String?
    {
        let fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let errno = Errno(rawValue: Glibc.errno)
            return "cannot open \(node) (\(DevicesError.hint(for: errno))): capabilities read from sysfs instead"
        }
        defer { close(fd) }
        var handle: OpaquePointer?
        let rc = api.pointee.newFromFD(fd, &handle)
        guard rc >= 0, let evdev = handle else {
            return "libevdev cannot read \(node): \(Errno(rawValue: -rc)); capabilities read from sysfs instead"
        }
        defer { api.pointee.free(evdev) }
        if let name = api.pointee.getName(evdev) { raw.name = String(cString: name) }
        raw.phys = api.pointee.getPhys(evdev).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        raw.uniq = api.pointee.getUniq(evdev).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        raw.bustype = UInt16(truncatingIfNeeded: api.pointee.getIDBustype(evdev))
        raw.vendor = UInt16(truncatingIfNeeded: api.pointee.getIDVendor(evdev))
        raw.product = UInt16(truncatingIfNeeded: api.pointee.getIDProduct(evdev))
        var capabilities = InputCapabilities()
        let ranges: [(UInt32, Int, WritableKeyPath<InputCapabilities, BitSet>)] = [
            (UInt32(EV_KEY), Int(KEY_MAX), \.keys), (UInt32(EV_REL), Int(REL_MAX), \.relative),
            (UInt32(EV_ABS), Int(ABS_MAX), \.absolute), (UInt32(EV_SW), Int(SW_MAX), \.switches),
        ]
        for type in 0...Int(EV_MAX) where api.pointee.hasEventType(evdev, UInt32(type)) == 1 {
            capabilities.events.insert(type)
        }
        for (type, maximum, keyPath) in ranges where capabilities.events.contains(Int(type)) {
            for code in 0...maximum where api.pointee.hasEventCode(evdev, type, UInt32(code)) == 1 {
                capabilities[keyPath: keyPath].insert(code)
            }
        }
        for property in 0...Int(INPUT_PROP_MAX) where api.pointee.hasProperty(evdev, UInt32(property)) == 1 {
            capabilities.properties.insert(property)
        }
        raw.capabilities = capabilities
        raw.capabilitiesFrom = "libevdev"
        return nil
    }
}
