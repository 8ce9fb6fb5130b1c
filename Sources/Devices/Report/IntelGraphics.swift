import SystemPackage

/// What an Intel integrated GPU's host driver has in effect, for SR-IOV (Gen 11+/Xe), GVT-g (5th–10th gen Core) and
/// whole-GPU passthrough (GVT-d).
public struct IntelGraphics: Sendable, Codable, Hashable {
    /// Which driver family the device is on, or which is loaded when it is on none.
    public enum Driver: String, Sendable, Codable, Hashable, CaseIterable {
        /// The i915 driver (SR-IOV needs GuC submission, `enable_guc=3`, and `max_vfs`).
        case i915
        /// The xe driver (Xe2 and later; SR-IOV without extra options on Linux 6.12+).
        case xe
        /// vfio-pci: the whole GPU goes to a guest.
        case vfio = "vfio-pci"
        /// No driver.
        case none
        /// Another driver.
        case other
    }

    /// The device's driver family.
    public var driver: Driver
    /// i915's `enable_guc` as the module has it (`/sys/module/i915/parameters/enable_guc`); nil when unknown.
    public var enableGuC: Int?
    /// i915's `max_vfs`; nil when the module has no such parameter.
    public var maxVFs: Int?
    /// i915's `enable_gvt`; nil when the module has no such parameter.
    public var enableGVT: Bool?
    /// The `kvmgt` module (GVT-g's host side) is loaded.
    public var kvmgtLoaded: Bool
    /// The GPU sits at 00:02.0, where the guest must see it for GVT-d (its OpRegion and stolen memory are tied to
    /// that address).
    public var isAtIGDAddress: Bool

    /// Whether SR-IOV is set up as far as the host can tell: xe, or i915 with GuC submission and `max_vfs` > 0.
    public var sriovReady: Bool {
        switch driver {
        case .xe: true
        case .i915: (enableGuC ?? 0) & 1 == 1 && (maxVFs ?? 0) > 0
        default: false
        }
    }

    /// Reads the module parameters for the Intel iGPU `device`.
    static func read(_ device: PCIDevice, files: HostFiles) throws -> IntelGraphics {
        let i915 = HostPaths.modules.appending("i915").appending("parameters")
        func parameter(_ name: String) throws -> String? { try files.readText(files.path(i915.appending(name))) }
        let driver: Driver =
            switch device.driver {
            case "i915": .i915
            case "xe": .xe
            case "vfio-pci": .vfio
            case nil: .none
            default: .other
            }
        let gvt = try parameter("enable_gvt")
        return IntelGraphics(
            driver: driver, enableGuC: try parameter("enable_guc").flatMap { Int($0) },
            maxVFs: try parameter("max_vfs").flatMap { Int($0) },
            enableGVT: gvt.map { $0 == "Y" || $0 == "1" },
            kvmgtLoaded: files.exists(files.path(HostPaths.modules.appending("kvmgt"))),
            isAtIGDAddress: device.address.domain == 0 && device.address.bus == 0 && device.address.device == 2
                && device.address.function == 0)
    }
}
