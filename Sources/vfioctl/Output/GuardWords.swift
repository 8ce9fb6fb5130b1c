import Devices

/// The one wording of every guard refusal, shared by bind, persist, attach, xml and hooks.
enum GuardWords {
    /// One line: the device, what uses it, and what would fix it.
    static func describe(_ refusal: GuardRefusal) -> String {
        let device = refusal.device?.description ?? "the host"
        switch refusal.reason {
        case .iommuOff:
            return "the IOMMU is off, so vfio-pci cannot isolate devices for a guest (`vfioctl doctor` says how to "
                + "turn it on)"
        case .bootGPU:
            return "\(device) is the boot GPU the host displays on; taking it blanks the console (for a single-GPU "
                + "host: `vfioctl hooks install GUEST --single-gpu`)"
        case .consoleGPU(let framebuffers):
            return "\(device) carries the console (\(framebuffers.joined(separator: ", "))); taking it blanks the "
                + "host's display"
        case .gpuInUse(let holders):
            return "\(device) is in use by \(holders.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")); "
                + "stop them first"
        case .storageInUse(let uses):
            return "\(device) holds \(uses.map(describe).joined(separator: ", ")): taking it pulls the disk from "
                + "under the host"
        case .defaultRoute(let routes):
            var families: [String: Set<Int>] = [:]
            for route in routes { families[route.chain.joined(separator: " → "), default: []].insert(route.family) }
            let names = families.keys.sorted().map { chain in
                chain + " (" + (families[chain] ?? []).sorted().map { "IPv\($0)" }.joined(separator: ", ") + ")"
            }
            return "\(device) carries the default route over \(names.joined(separator: ", ")): taking it cuts the "
                + "host's network"
        case .groupNotViable(let group, let members, let chipset, let bridge):
            let names = members.map { "\($0.address) (\($0.className), \($0.driver ?? "no driver"))" }
                .joined(separator: ", ")
            if let bridge, let member = members.first(where: { $0.address == bridge }) {
                return "IOMMU group \(group) would not be viable: bridge \(bridge) is bound to "
                    + "\(member.driver ?? "a driver"), which does not let vfio own the group; unbind it first"
            }
            if chipset {
                return "IOMMU group \(group) also holds chipset devices \(names): this slot shares a group with the "
                    + "chipset and cannot be passed through; move the card to another slot"
            }
            return "IOMMU group \(group) would not be viable: \(names) must come along; add --group (or name them too)"
        case .virtualFunctionInUse(let driver, let holders):
            if !holders.isEmpty {
                return "virtual function \(device) is in use by "
                    + holders.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
                    + ": stop the guest before removing it"
            }
            return "virtual function \(device) is on \(driver ?? "a driver"): `vfioctl unbind \(device)` (or detach it "
                + "from its guest) before removing it"
        case .mediatedDeviceInUse(let uuid, let guest, let holders):
            let users =
                (guest.map { ["guest \($0)"] } ?? []) + holders.map { "\($0.name) (pid \($0.pid))" }
            return "mediated device \(uuid) on \(device) is in use by \(users.joined(separator: ", ")): stop the guest "
                + "before removing it"
        }
    }

    /// `sda2 → dm-0 (LVM vg-root) mounted on /`.
    static func describe(_ use: GuardRefusal.BlockUse) -> String {
        let chain = use.chain.map { layer -> String in
            guard let stack = layer.stack else { return layer.name }
            let kind =
                switch stack {
                case "lvm": "LVM"
                case "luks": "LUKS"
                case "md": "RAID"
                case "multipath": "multipath"
                default: "device-mapper"
                }
            return "\(layer.name) (\(kind)\(layer.label.map { " " + $0 } ?? ""))"
        }.joined(separator: " → ")
        switch use.use {
        case .mounted(let point): return "\(chain) mounted on \(point)"
        case .swap: return "\(chain) as swap"
        case .claimed(let type?): return "\(chain) (a \(type) in use)"
        case .claimed(nil): return "\(chain) (claimed by the kernel)"
        }
    }

    /// Prints each refusal as one line on stderr, as a warning when forced.
    static func print(_ refusals: [GuardRefusal], forced: Bool) {
        for refusal in refusals {
            if forced {
                Console.note("warning: forced: \(describe(refusal))")
            } else {
                printError("vfioctl: refusing: \(describe(refusal)) (--force does it anyway)")
            }
        }
    }
}
