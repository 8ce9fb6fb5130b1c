import Foundation

/// One `mdev_supported_types` entry of a fake parent.
public struct FakeMdevType: Sendable {
    /// The type's directory name.
    public var id: String
    /// `name`.
    public var name: String?
    /// `description`.
    public var description: String?
    /// `available_instances`.
    public var available: Int
    /// `device_api`.
    public var deviceAPI: String

    /// Creates a type.
    public init(_ id: String, name: String?, description: String?, available: Int, deviceAPI: String = "vfio-pci") {
        self.id = id
        self.name = name
        self.description = description
        self.available = available
        self.deviceAPI = deviceAPI
    }

    /// GVT-g's types on a 9th-gen iGPU, as i915 lays them out (no `name` file, a multi-line description).
    public static let gvtg: [FakeMdevType] = [
        FakeMdevType(
            "i915-GVTg_V5_4", name: nil,
            description: "low_gm_size: 128MB\nhigh_gm_size: 512MB\nfence: 4\nresolution: 1920x1200\nweight: 4\n",
            available: 1),
        FakeMdevType(
            "i915-GVTg_V5_8", name: nil,
            description: "low_gm_size: 64MB\nhigh_gm_size: 384MB\nfence: 4\nresolution: 1024x768\nweight: 2\n",
            available: 2),
    ]

    /// NVIDIA's classic vGPU types (GRID drivers before Linux 6.8): a `name`, a one-line description.
    public static let nvidia: [FakeMdevType] = [
        FakeMdevType(
            "nvidia-259", name: "GRID T4-2Q",
            description: "num_heads=4, frl_config=60, framebuffer=2048M, max_resolution=7680x4320, max_instance=8",
            available: 8),
        FakeMdevType(
            "nvidia-222", name: "GRID T4-1B",
            description: "num_heads=4, frl_config=45, framebuffer=1024M, max_resolution=5120x2880, max_instance=16",
            available: 0),
    ]
}

extension FakeHost {
    /// The sysfs directory of a function added with `add`.
    public func deviceDirectory(_ address: String) -> String { "/sys/devices/pci0000:00/\(address)" }

    /// Gives a function the SR-IOV attributes of a physical function with no VFs enabled.
    public func addSRIOV(
        _ address: String, totalVFs: Int, vfDevice: UInt16, offset: Int = 1, stride: Int = 1, autoprobe: Bool = true
    ) throws {
        let dir = deviceDirectory(address)
        try write(dir + "/sriov_totalvfs", "\(totalVFs)\n")
        try write(dir + "/sriov_numvfs", "0\n")
        try write(dir + "/sriov_drivers_autoprobe", autoprobe ? "1\n" : "0\n")
        try write(dir + "/sriov_offset", "\(offset)\n")
        try write(dir + "/sriov_stride", "\(stride)\n")
        try write(dir + "/sriov_vf_device", String(vfDevice, radix: 16) + "\n")
    }

    /// Gives a function `mdev_supported_types`.
    public func addMdevTypes(_ address: String, _ types: [FakeMdevType]) throws {
        let base = deviceDirectory(address) + "/mdev_supported_types"
        for type in types {
            let dir = base + "/" + type.id
            if let name = type.name { try write(dir + "/name", name + "\n") }
            if let description = type.description { try write(dir + "/description", description) }
            try write(dir + "/available_instances", "\(type.available)\n")
            try write(dir + "/device_api", type.deviceAPI + "\n")
            try write(dir + "/create", "")
            try FileManager.default.createDirectory(atPath: path(dir + "/devices"), withIntermediateDirectories: true)
        }
    }

    /// Adds a mediated device of `type` under `parent`, as the kernel does after a write to `create`: its directory
    /// beside the parent's attributes, the type's `devices/` entry, `/sys/bus/mdev/devices/<uuid>`, and its own
    /// IOMMU group.
    public func addMdev(_ uuid: String, parent: String, type: String, group: Int) throws {
        let dir = deviceDirectory(parent) + "/" + uuid
        let typeDir = deviceDirectory(parent) + "/mdev_supported_types/" + type
        try write(dir + "/remove", "")
        try link(dir + "/mdev_type", to: typeDir)
        try link(typeDir + "/devices/" + uuid, to: dir)
        try link("/sys/bus/mdev/devices/" + uuid, to: dir)
        try FileManager.default.createDirectory(
            atPath: path("/sys/kernel/iommu_groups/\(group)/devices"), withIntermediateDirectories: true)
        try link(dir + "/iommu_group", to: "/sys/kernel/iommu_groups/\(group)")
        try link("/sys/kernel/iommu_groups/\(group)/devices/\(uuid)", to: dir)
    }

    /// Gives a virtual function NVIDIA's vGPU attributes (Linux 6.8+ drivers).
    public func addNVIDIAVGPU(_ address: String, creatable: [(Int, String)], current: Int) throws {
        let dir = deviceDirectory(address) + "/nvidia"
        let lines = ["ID    : vGPU Name"] + creatable.map { "\($0.0)   : \($0.1)" }
        try write(dir + "/creatable_vgpu_types", lines.joined(separator: "\n") + "\n")
        try write(dir + "/current_vgpu_type", "\(current)\n")
    }

    /// Makes a running guest whose live definition is `xml`: libvirt's state file and pid file, and a process.
    public func addRunningGuest(_ name: String, pid: Int, xml: String) throws {
        try write("/run/libvirt/qemu/\(name).xml", xml)
        try write("/run/libvirt/qemu/\(name).pid", "\(pid)\n")
        try write("/proc/\(pid)/comm", "qemu-system-x86\n")
    }
}
