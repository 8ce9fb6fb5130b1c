/// What a guest needs for a card's large BARs: a 64-bit MMIO window that holds them, and a word when Resizable
/// BAR has grown them.
extension DomainMerger {
    /// OVMF's 64-bit MMIO window when nothing sizes it.
    static let defaultMMIOWindow: UInt64 = 32 << 30

    /// The size at which a grown Resizable BAR is worth reducing.
    static let reBARThreshold: UInt64 = 256 << 20

    mutating func attachLargeBARs(_ functions: [PCIDevice]) {
        let total = functions.flatMap(\.bars).filter { $0.is64Bit && !$0.isIO }.reduce(UInt64(0)) { $0 + $1.size }
        for function in functions {
            for bar in function.bars {
                guard let resizable = bar.resizable, resizable.currentSize > Self.reBARThreshold else { continue }
                let bit = resizable.supportedSizes.first { $0 >= Self.reBARThreshold }.flatMap(PCIBAR.resizeBit)
                notes.append(
                    "\(function.address) has Resizable BAR on (BAR \(bar.index) is \(sizeText(bar.size))): QEMU "
                        + "shows the guest only this size and some guest drivers fail with it; reduce it in the "
                        + "firmware setup or, with every driver of the card unbound, `echo \(bit.map(String.init) ?? "N") "
                        + "> /sys/bus/pci/devices/\(function.address)/resource\(bar.index)_resize`")
            }
        }
        guard total > Self.defaultMMIOWindow / 2 else { return }
        let shown = "\(functions.first.map(\.address.description) ?? "the card")'s 64-bit BARs take \(sizeText(total))"
        if let cpu = domain.child("cpu"), cpu.attribute("mode") == "host-passthrough" {
            guard cpu.child("maxphysaddr") == nil else { return }
            addElement(XMLFragment("maxphysaddr", ["mode": "passthrough"]), into: cpu)
            notes.append(
                shown + ": added <maxphysaddr mode='passthrough'/> (libvirt ≥ 8.7) so OVMF sizes its 64-bit window "
                    + "from the host's address bits")
            return
        }
        var window: UInt64 = 1 << 30
        while window < total * 2 { window <<= 1 }
        let kib = String(window >> 10)
        let roots = (devices?.children("controller") ?? []).filter {
            $0.attribute("type") == "pci" && ["pcie-root", "pci-root"].contains($0.attribute("model") ?? "")
        }
        if let root = roots.first {
            guard root.child("pcihole64") == nil else { return }
            addElement(XMLFragment("pcihole64", ["unit": "KiB"], text: kib), into: root)
        } else {
            addDevice(
                XMLFragment(
                    "controller", ["type": "pci", "index": "0", "model": isQ35 ? "pcie-root" : "pci-root"],
                    children: [XMLFragment("pcihole64", ["unit": "KiB"], text: kib)]),
                after: nil)
        }
        notes.append(
            shown + ": gave the guest a \(sizeText(window)) 64-bit PCI hole (<pcihole64>); with a host-passthrough "
                + "CPU, <maxphysaddr mode='passthrough'/> does it from the host's address bits")
    }
}
