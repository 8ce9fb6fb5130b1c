/// An evdev input device (one event node) and how a guest should name it.
public struct InputDevice: Sendable, Codable, Hashable {
    /// The event node, `/dev/input/eventN` (its number changes between boots).
    public var eventPath: String
    /// The path to put in a guest definition: a `/dev/input/by-id` link when one exists, else `by-path`, else nil.
    public var stablePath: String?
    /// The device's name as the kernel reports it.
    public var name: String
    /// What it is, from its capabilities: `keyboard`, `mouse`, `touchpad`, `tablet`, `touchscreen`, `joystick`,
    /// `key`, `switch`.
    public var kinds: [String]
    /// What udev says it is (`ID_INPUT_*`), when udev was asked.
    public var udevKinds: [String]?
    /// The bus: `usb`, `bluetooth`, `virtio`, `i8042`, `virtual`, …, or nil.
    public var bus: String?
    /// The physical device this node belongs to (its sysfs path); several nodes can share one.
    public var physicalDevice: String
    /// Whether `--evdev auto` would pass it to a guest.
    public var autoSelected: Bool
    /// Every `/dev/input/by-id` link to it.
    public var byID: [String]
    /// Every `/dev/input/by-path` link to it.
    public var byPath: [String]
    /// `phys` (the topology path the driver reports).
    public var phys: String?
    /// `uniq` (a serial number or Bluetooth address), when set.
    public var uniq: String?
    /// Vendor ID, lowercase hex.
    public var vendorID: String?
    /// Product ID, lowercase hex.
    public var productID: String?
    /// It lives under `/sys/devices/virtual` (uinput, remappers): never a real keyboard or mouse.
    public var isVirtual: Bool
    /// Whether `/etc/libvirt/qemu.conf`'s `cgroup_device_acl` lets QEMU open the stable path; nil without a
    /// qemu.conf.
    public var allowedByQEMUConf: Bool?
    /// What to know about it, one line each.
    public var notes: [String]
    /// Where the capabilities were read: `libevdev` (the event node) or `sysfs` (the kernel's bitmaps).
    public var capabilitiesFrom: String
}

/// One event node as a source reads it, before links, grouping and selection are worked out.
struct RawInputDevice: Sendable {
    /// `event3`.
    var eventName: String
    var name: String
    var phys: String?
    var uniq: String?
    var bustype: UInt16?
    var vendor: UInt16?
    var product: UInt16?
    var capabilities: InputCapabilities
    /// Host path of the physical device (see `InputDevice.physicalDevice`).
    var physicalDevice: String
    /// Host path of the input device's sysfs directory.
    var sysfsPath: String
    /// udev's `ID_INPUT_*` kinds, when udev was asked.
    var udevKinds: [String]?
    /// udev's `ID_BUS`.
    var udevBus: String?
    /// `libevdev` or `sysfs`.
    var capabilitiesFrom = "sysfs"
}
