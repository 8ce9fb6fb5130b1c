/// How a function can be reset between guests: what the kernel will do, what config space offers, and the AMD
/// reset bug.
public struct ResetReport: Sendable, Codable, Hashable {
    /// The kernel's `reset_method`, in the order it tries them (5.15+); empty when absent.
    public var methods: [String]
    /// PCIe function-level reset (DevCap bit 28), unless a kernel quirk disables it.
    public var flr: Bool
    /// FLR through the Advanced Features capability.
    public var afFLR: Bool
    /// The kernel never uses FLR on this device (`quirk_no_flr`: it hangs).
    public var flrDisabledByQuirk: Bool
    /// A D3hot→D0 power-management reset is possible (PM capability with `NoSoftRst` clear, and not an AMD GPU,
    /// which the kernel marks `NO_PM_RESET`).
    public var pmReset: Bool
    /// A secondary-bus reset of only this function is possible: it is alone on a non-root bus.
    public var busReset: Bool
    /// The vendor-reset family, when the device is in vendor-reset's table.
    public var vendorResetFamily: String?
    /// The udev rule vendor-reset needs on this kernel, when the device is in its table.
    public var vendorResetRule: String?
    /// What it means, one line each.
    public var summary: [String]

    /// The report for `device`, given the other functions on its bus and the running kernel.
    init(device: PCIDevice, busSiblings: Int, functionsInSlot: Int, kernel: KernelVersion?) {
        let quirk = ResetQuirks.hasNoFLRQuirk(vendor: device.vendor, device: device.device)
        let isAMDDisplay = device.vendor == ResetQuirks.amdGPUVendor && device.pciClass.isDisplay
        methods = device.resetMethods
        flr = device.supportsFLR && !quirk
        afFLR = device.supportsAFFLR && !quirk
        flrDisabledByQuirk = quirk && (device.supportsFLR || device.supportsAFFLR)
        pmReset = device.pmNoSoftReset == false && !isAMDDisplay
        busReset = device.address.bus != 0 && busSiblings == 0
        let family = ResetQuirks.vendorResetFamilies.first { $0.name == device.vendorResetFamily }
        vendorResetFamily = family?.name
        let modern = kernel.map { $0 >= .resetMethodAttribute } ?? true
        if family != nil {
            let id = "0x" + device.deviceID.description.uppercased()
            vendorResetRule =
                "ACTION==\"add\", SUBSYSTEM==\"pci\", ATTR{vendor}==\"0x1002\", ATTR{device}==\"\(id)\", "
                + (modern
                    ? "RUN+=\"/bin/sh -c '/sbin/modprobe vendor-reset; echo device_specific > /sys$env{DEVPATH}/reset_method'\""
                    : "RUN+=\"/sbin/modprobe vendor-reset\"")
        }
        var lines: [String] = []
        if !methods.isEmpty {
            lines.append("kernel reset methods: " + methods.joined(separator: ", "))
        } else if device.hasResetAttribute {
            lines.append("the kernel can reset it (no reset_method list: kernel before 5.15)")
        } else {
            lines.append("the kernel offers no reset for it: a guest reboot may leave it in a bad state")
        }
        if flrDisabledByQuirk {
            lines.append("FLR is disabled by a kernel quirk (quirk_no_flr: it hangs this device)")
        } else if flr || afFLR {
            lines.append("supports function-level reset (FLR)")
        }
        if isAMDDisplay && device.pmNoSoftReset == false {
            lines.append("PM reset is not trusted: the kernel marks AMD GPUs NO_PM_RESET (it has no effect on them)")
        } else if pmReset {
            lines.append("supports a power-management (D3hot) reset")
        }
        if let family {
            lines.append(
                "AMD reset bug (\(family.name): \(family.products)): install vendor-reset and load it before "
                    + "vfio-pci (softdep vfio-pci pre: vendor-reset, or first in the initramfs modules)"
                    + (modern
                        ? "; on this kernel (5.15+) also set reset_method to device_specific with the udev rule"
                        : ""))
        } else if isAMDDisplay {
            lines.append("not in the vendor-reset table: no known reset fix applies if it fails to come back")
        }
        if !flr && !afFLR && functionsInSlot > 1 {
            lines.append(
                "no FLR: vfio-pci resets the card with a bus reset, which needs every function of it "
                    + "(\(functionsInSlot)) given to the guest")
        }
        summary = lines
    }
}
