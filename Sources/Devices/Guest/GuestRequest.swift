/// What `attach` adds to (or `detach` removes from) a libvirt domain.
public struct GuestRequest: Sendable, Hashable {
    /// How evdev devices are written.
    public enum EvdevStyle: String, Sendable, CaseIterable {
        /// `<qemu:commandline>` with `-object input-linux,…` (any libvirt; needs qemu.conf's ACL).
        case commandline
        /// `<input type='evdev'>` (libvirt ≥ 7.6 for the grab toggle).
        case native
    }

    /// Looking Glass's shared memory.
    public struct LookingGlass: Sendable, Hashable {
        /// Guest resolution width.
        public var width = 1920
        /// Guest resolution height.
        public var height = 1080
        /// HDR output.
        public var hdr = false
        /// The size formula.
        public var formula = SharedMemory.Formula.current
        /// The kvmfr module's `/dev/kvmfr0` instead of `/dev/shm`.
        public var kvmfr = false

        /// Creates a request; defaults are 1920x1080 SDR with the current formula.
        public init(
            width: Int = 1920, height: Int = 1080, hdr: Bool = false, formula: SharedMemory.Formula = .current,
            kvmfr: Bool = false
        ) {
            self.width = width
            self.height = height
            self.hdr = hdr
            self.formula = formula
            self.kvmfr = kvmfr
        }

        /// The device size in MiB.
        public var sizeMiB: Int {
            SharedMemory.lookingGlassMiB(width: width, height: height, hdr: hdr, formula: formula)
        }
    }

    /// Keyboard and mouse through evdev.
    public struct Evdev: Sendable, Hashable {
        /// Device paths; empty means `auto` (the keyboard and mouse `input list` marks).
        public var paths: [String] = []
        /// How they are written.
        public var style = EvdevStyle.commandline
        /// The keys that switch between host and guest.
        public var grabToggle = "ctrl-ctrl"

        /// Creates a request; no paths means `auto`.
        public init(paths: [String] = [], style: EvdevStyle = .commandline, grabToggle: String = "ctrl-ctrl") {
            self.paths = paths
            self.style = style
            self.grabToggle = grabToggle
        }
    }

    /// A QEMU device property set on a passed device through `<qemu:override>` (libvirt ≥ 8.2).
    public struct Override: Sendable, Hashable {
        /// A property value, typed as libvirt's `<qemu:property type>` says.
        public enum Value: Sendable, Hashable {
            case bool(Bool)
            case unsigned(UInt64)
            case string(String)

            /// Reads a value: true/false/on/off as bool, decimal or 0x-hexadecimal digits as unsigned, anything
            /// else as a string.
            public init(parsing text: String) {
                switch text.lowercased() {
                case "true", "on", "yes": self = .bool(true)
                case "false", "off", "no": self = .bool(false)
                default:
                    let lower = text.lowercased()
                    if lower.hasPrefix("0x"), let number = UInt64(lower.dropFirst(2), radix: 16) {
                        self = .unsigned(number)
                    } else if let number = UInt64(text) {
                        self = .unsigned(number)
                    } else {
                        self = .string(text)
                    }
                }
            }

            /// libvirt's `type`.
            public var type: String {
                switch self {
                case .bool: "bool"
                case .unsigned: "unsigned"
                case .string: "string"
                }
            }

            /// libvirt's `value`: `true`/`false`, decimal, or the text.
            public var text: String {
                switch self {
                case .bool(let value): value ? "true" : "false"
                case .unsigned(let value): String(value)
                case .string(let value): value
                }
            }
        }

        /// The passed device.
        public var device: PCIAddress
        /// The QEMU property (`x-pci-sub-vendor-id`); nil names every override of the device (for detach).
        public var property: String?
        /// Its value; nil with `property` nil.
        public var value: Value?

        /// Creates an override.
        public init(device: PCIAddress, property: String? = nil, value: Value? = nil) {
            self.device = device
            self.property = property
            self.value = value
        }
    }

    /// A mediated device (a GVT-g or vGPU instance) given to the guest as
    /// `<hostdev type='mdev' model='vfio-pci'>`.
    public struct Mdev: Sendable, Hashable {
        /// The device's UUID, lowercase.
        public var uuid: String
        /// `display='on'`: QEMU shows the device's output in the guest's graphics (needs a `<graphics>`).
        public var display: Bool

        /// Creates a request for an existing mediated device.
        public init(uuid: String, display: Bool = false) {
            self.uuid = uuid.lowercased()
            self.display = display
        }
    }

    /// GPUs: every function of each, together on one guest slot.
    public var gpus: [BindTarget] = []
    /// Other PCI devices, one function each.
    public var hostdevs: [BindTarget] = []
    /// A ROM file for the GPU (checked against it first).
    public var romFile: String?
    /// `<rom bar='on|off'/>`; nil leaves QEMU's default.
    public var romBar: Bool?
    /// Looking Glass, when asked.
    public var lookingGlass: LookingGlass?
    /// Scream's IVSHMEM device.
    public var scream = false
    /// Evdev keyboard and mouse, when asked.
    public var evdev: Evdev?
    /// Tuning parts.
    public var tuning = Tuning()
    /// QEMU device properties for passed devices.
    public var overrides: [Override] = []
    /// Mobile GPUs that get the host card's subsystem IDs through `<qemu:override>`.
    public var laptopGPUs: [BindTarget] = []
    /// Mediated devices, by UUID.
    public var mdevs: [Mdev] = []

    /// The guide's tuning, part by part.
    public struct Tuning: Sendable, Hashable {
        /// `<memoryBacking>` with hugepages.
        public var hugepages = false
        /// vCPU, emulator and iothread pinning with `<cpu mode='host-passthrough'>` and its topology.
        public var pin = false
        /// How many vCPUs to give when pinning; nil takes what fits.
        public var vcpus: Int?
        /// Hyper-V enlightenments and the clock's timers.
        public var hyperv = false
        /// `<kvm><hidden/>` and the Hyper-V `vendor_id`.
        public var hidden = false
        /// `<sysinfo type='smbios'>` from the host's DMI with `<os><smbios mode='sysinfo'/>`.
        public var smbios = false
        /// `<pm>` with both suspend states.
        public var pm = false

        /// Every part.
        public static let all = Tuning(hugepages: true, pin: true, hyperv: true, hidden: true, smbios: true, pm: true)

        /// Whether any part is asked for.
        public var isEmpty: Bool { !(hugepages || pin || hyperv || hidden || smbios || pm) }

        /// Creates a tuning request.
        public init(
            hugepages: Bool = false, pin: Bool = false, vcpus: Int? = nil, hyperv: Bool = false, hidden: Bool = false,
            smbios: Bool = false, pm: Bool = false
        ) {
            self.hugepages = hugepages
            self.pin = pin
            self.vcpus = vcpus
            self.hyperv = hyperv
            self.hidden = hidden
            self.smbios = smbios
            self.pm = pm
        }
    }

    /// Creates an empty request.
    public init() {}

    /// Whether nothing is asked for.
    public var isEmpty: Bool {
        gpus.isEmpty && hostdevs.isEmpty && lookingGlass == nil && !scream && evdev == nil && tuning.isEmpty
            && overrides.isEmpty && laptopGPUs.isEmpty && mdevs.isEmpty
    }
}

/// The result of merging a request into a domain.
public struct DomainChange: Sendable {
    /// The new document's bytes.
    public var bytes: [UInt8]
    /// Whether they differ from the input.
    public var changed: Bool
    /// What the user should know or do, one line each.
    public var notes: [String]
    /// Lines for `/etc/libvirt/qemu.conf` that the result needs, when any.
    public var qemuConf: String?
    /// Parts detach was asked for that hold nothing of vfioctl's: nothing changed for them.
    public var unowned: [GuestPart] = []
    /// Whether the domain held no record of what vfioctl added (an older vfioctl wrote it, or nothing did):
    /// detach then removes only what is vfioctl's beyond doubt.
    public var isUnrecorded = false
}
