import Foundation

/// A host the guards must protect: one way a device is in use, the device to name, and the kind of refusal.
public struct GuardScenario: Sendable, CustomStringConvertible {
    /// What the scenario is.
    public var name: String
    /// The target to bind, persist or pass.
    public var target: String
    /// Whether the target is a GPU (attach passes it with `--gpu`).
    public var isGPU: Bool
    /// The refusal kind, as the library names it.
    public var kind: String
    /// A phrase the refusal's one line must hold.
    public var phrase: String
    /// Builds the situation on a workstation with a SATA controller (04:00.0) and a NIC (05:00.0).
    public var build: @Sendable (FakeHost) throws -> Void

    /// The name.
    public var description: String { name }

    /// Every scenario the guards cover.
    public static let all: [GuardScenario] = [
        GuardScenario(
            name: "root on LVM", target: "04:00.0", isGPU: false, kind: "storageInUse",
            phrase: "sda2 → dm-0 (LVM vg-root) mounted on /"
        ) { host in
            try host.addDisk("sda2", number: "8:2")
            try host.write("/sys/devices/virtual/block/dm-0/dev", "253:0\n")
            try host.write("/sys/devices/virtual/block/dm-0/dm/name", "vg-root\n")
            try host.write("/sys/devices/virtual/block/dm-0/dm/uuid", "LVM-abcdef\n")
            try host.link("/sys/class/block/dm-0", to: "/sys/devices/virtual/block/dm-0")
            try host.link(
                "/sys/devices/pci0000:00/0000:04:00.0/ata1/host0/block/sda/sda2/holders/dm-0",
                to: "/sys/devices/virtual/block/dm-0")
            try host.write(
                "/proc/self/mountinfo", "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw\n")
        },
        GuardScenario(
            name: "md RAID", target: "04:00.0", isGPU: false, kind: "storageInUse",
            phrase: "sda1 → md0 (RAID data) mounted on /srv"
        ) { host in
            try host.addDisk("sda1", number: "8:1")
            try host.write("/sys/devices/virtual/block/md0/dev", "9:0\n")
            try host.write("/sys/devices/virtual/block/md0/md/metadata_name", "data\n")
            try host.link("/sys/class/block/md0", to: "/sys/devices/virtual/block/md0")
            try host.link(
                "/sys/devices/pci0000:00/0000:04:00.0/ata1/host0/block/sda/sda1/holders/md0",
                to: "/sys/devices/virtual/block/md0")
            try host.write("/proc/mounts", "/dev/md0 /srv ext4 rw 0 0\n")
        },
        GuardScenario(
            name: "swap on a partition", target: "04:00.0", isGPU: false, kind: "storageInUse",
            phrase: "sda3 as swap"
        ) { host in
            try host.addDisk("sda3", number: "8:3")
            try host.write(
                "/proc/swaps",
                "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/sda3  partition\t8388604\t\t0\t\t-2\n")
        },
        GuardScenario(
            name: "ZFS pool member", target: "04:00.0", isGPU: false, kind: "storageInUse",
            phrase: "sda1 (a zfs_member in use)"
        ) { host in
            try host.addDisk("sda1", number: "8:1")
            try host.write("/run/udev/data/b8:1", "E:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL=tank\n")
            try host.write("/proc/spl/kstat/zfs/tank/state", "ONLINE\n")
        },
        GuardScenario(
            name: "default route on a bridge", target: "05:00.0", isGPU: false, kind: "defaultRoute",
            phrase: "enp5s0 → br0 (IPv4)"
        ) { host in
            try host.addInterface("enp5s0")
            try host.write("/sys/devices/virtual/net/br0/address", "52:54:00:00:00:01\n")
            try host.link("/sys/class/net/br0", to: "/sys/devices/virtual/net/br0")
            try host.link("/sys/devices/pci0000:00/0000:05:00.0/net/enp5s0/master", to: "/sys/devices/virtual/net/br0")
            try host.writeRoute4("br0")
        },
        GuardScenario(
            name: "default route on a bond", target: "05:00.0", isGPU: false, kind: "defaultRoute",
            phrase: "enp5s0 → bond0 (IPv4)"
        ) { host in
            try host.addInterface("enp5s0")
            try host.write("/sys/devices/virtual/net/bond0/address", "52:54:00:00:00:02\n")
            try host.link("/sys/class/net/bond0", to: "/sys/devices/virtual/net/bond0")
            try host.link(
                "/sys/devices/pci0000:00/0000:05:00.0/net/enp5s0/upper_bond0", to: "/sys/devices/virtual/net/bond0")
            try host.writeRoute4("bond0")
        },
        GuardScenario(
            name: "default route on a VLAN", target: "05:00.0", isGPU: false, kind: "defaultRoute",
            phrase: "enp5s0 → enp5s0.10 (IPv4)"
        ) { host in
            try host.addInterface("enp5s0")
            try host.write("/sys/devices/virtual/net/enp5s0.10/address", "52:54:00:00:00:03\n")
            try host.link("/sys/class/net/enp5s0.10", to: "/sys/devices/virtual/net/enp5s0.10")
            try host.link(
                "/sys/devices/pci0000:00/0000:05:00.0/net/enp5s0/upper_enp5s0.10",
                to: "/sys/devices/virtual/net/enp5s0.10")
            try host.writeRoute4("enp5s0.10")
        },
        GuardScenario(
            name: "IPv6-only default route", target: "05:00.0", isGPU: false, kind: "defaultRoute",
            phrase: "enp5s0 (IPv6)"
        ) { host in
            try host.addInterface("enp5s0")
            try host.write(
                "/proc/net/route",
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
            let zero = String(repeating: "0", count: 32)
            try host.write(
                "/proc/net/ipv6_route",
                "\(zero) 00 \(zero) 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003   enp5s0\n"
                    + "\(zero) 00 \(zero) 00 \(zero) ffffffff 00000001 00000000 00200200       lo\n")
        },
        GuardScenario(
            name: "boot GPU", target: "00:02.0", isGPU: true, kind: "bootGPU", phrase: "0000:00:02.0 is the boot GPU"
        ) { _ in },
        GuardScenario(
            name: "non-viable group", target: "01:00.0", isGPU: false, kind: "groupNotViable",
            phrase: "IOMMU group 2 would not be viable: 0000:01:00.1"
        ) { _ in },
    ]
}

extension FakeHost {
    /// A workstation with an AHCI controller (04:00.0, group 6) and an e1000e NIC (05:00.0, group 7).
    public static func server() throws -> FakeHost {
        let host = try FakeHost.workstation()
        try host.add([
            FakePCIDevice(
                "0000:04:00.0", vendor: 0x8086, device: 0xa352, classCode: 0x010601, driver: "ahci", group: 6),
            FakePCIDevice(
                "0000:05:00.0", vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: "e1000e", group: 7),
        ])
        return host
    }

    /// A partition of `sda` on the SATA controller, with its device number.
    public func addDisk(_ partition: String, number: String) throws {
        let directory = "/sys/devices/pci0000:00/0000:04:00.0/ata1/host0/block/sda/\(partition)"
        try write(directory + "/dev", number + "\n")
        try link("/sys/class/block/\(partition)", to: directory)
    }

    /// An interface of the NIC.
    public func addInterface(_ name: String) throws {
        try write("/sys/devices/pci0000:00/0000:05:00.0/net/\(name)/address", "52:54:00:12:34:56\n")
        try link("/sys/class/net/\(name)", to: "/sys/devices/pci0000:00/0000:05:00.0/net/\(name)")
    }

    /// An IPv4 default route on `interface`.
    public func writeRoute4(_ interface: String) throws {
        try write(
            "/proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                + "\(interface)\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n")
    }
}
