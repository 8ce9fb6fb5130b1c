import SystemPackage

/// How one PCI function can be split between guests: SR-IOV virtual functions, mediated device types, and NVIDIA
/// vGPU types on a virtual function.
public struct Sharing: Sendable, Codable, Hashable {
    /// The SR-IOV state of a physical function; nil for a function without the capability.
    public var sriov: SRIOV?
    /// The physical function of a virtual function (its `physfn` link); nil for anything else.
    public var physicalFunction: PCIAddress?
    /// The mediated device types the parent driver offers (`mdev_supported_types`), by type ID.
    public var mdevTypes: [MdevType]
    /// The mediated devices that exist on this parent, by UUID.
    public var mediatedDevices: [MediatedDevice]
    /// NVIDIA's vGPU types on a virtual function (Linux 6.8+ drivers), when the driver exposes them.
    public var vgpu: NVIDIAVGPU?

    /// Whether there is anything to say.
    var isEmpty: Bool {
        sriov == nil && physicalFunction == nil && mdevTypes.isEmpty && mediatedDevices.isEmpty && vgpu == nil
    }
}

/// The SR-IOV attributes of a physical function.
public struct SRIOV: Sendable, Codable, Hashable {
    /// One virtual function.
    public struct VirtualFunction: Sendable, Codable, Hashable {
        /// Its address.
        public var address: PCIAddress
        /// Its IOMMU group.
        public var iommuGroup: Int?
        /// Its driver.
        public var driver: String?
    }

    /// `sriov_totalvfs`: the most virtual functions the device offers.
    public var totalVFs: Int
    /// `sriov_numvfs`: how many exist now.
    public var numVFs: Int
    /// `sriov_drivers_autoprobe`: whether drivers probe new virtual functions; nil when the file is missing.
    public var driversAutoprobe: Bool?
    /// `sriov_vf_device`: the device ID the virtual functions have, lowercase hex.
    public var vfDeviceID: String?
    /// The virtual functions (`virtfnN` links), in index order.
    public var virtualFunctions: [VirtualFunction]
}

/// One entry of `mdev_supported_types`.
public struct MdevType: Sendable, Codable, Hashable {
    /// The type's directory name (`i915-GVTg_V5_4`, `nvidia-259`): what `create` is called on.
    public var id: String
    /// `name`, when the driver gives one.
    public var name: String?
    /// `description`, its lines joined with `; `.
    public var description: String?
    /// `available_instances`: how many more can be created.
    public var availableInstances: Int?
    /// `device_api`: `vfio-pci`, `vfio-ccw`, `vfio-ap`.
    public var deviceAPI: String?
    /// The UUIDs of the instances of this type (`devices/`).
    public var instances: [String]
}

/// A mediated device that exists.
public struct MediatedDevice: Sendable, Codable, Hashable {
    /// Its UUID, lowercase.
    public var uuid: String
    /// The parent function.
    public var parent: PCIAddress
    /// Its type ID (the `mdev_type` link).
    public var type: String?
    /// Its IOMMU group.
    public var iommuGroup: Int?
    /// The running guest whose live definition names it, from libvirt's state files.
    public var guest: String?
}

/// The vGPU types an NVIDIA virtual function offers, and the one it has.
public struct NVIDIAVGPU: Sendable, Codable, Hashable {
    /// One vGPU type.
    public struct VGPUType: Sendable, Codable, Hashable {
        /// The numeric type ID `current_vgpu_type` takes.
        public var id: Int
        /// Its name (`NVIDIA A40-8Q`).
        public var name: String
    }

    /// `nvidia/creatable_vgpu_types`: what can be set now.
    public var creatableTypes: [VGPUType]
    /// `nvidia/current_vgpu_type`; nil for 0 (none).
    public var currentType: Int?
}

/// Reads the sharing attributes of one function.
struct SharingReader {
    let files: HostFiles

    /// The sharing facts of the function whose folder is open; nil when it has none.
    ///
    /// Most functions share nothing: the four entries that could say otherwise are looked up by name in the open
    /// folder, and only a function that has one of them is read further.
    func read(_ folder: borrowing OpenFolder, warnings: inout [String]) throws -> Sharing? {
        guard
            folder.entryExists("sriov_totalvfs") || folder.entryExists("physfn")
                || folder.entryExists("mdev_supported_types") || folder.entryExists("nvidia")
        else { return nil }
        return try read(folder.path, warnings: &warnings)
    }

    /// The sharing facts of the function in `dir`; nil when it has none.
    func read(_ dir: FilePath, warnings: inout [String]) throws -> Sharing? {
        let types = try mdevTypes(dir, warnings: &warnings)
        // Only a parent (a function with mdev_supported_types) has mediated devices in its folder.
        let sharing = Sharing(
            sriov: try sriov(dir), physicalFunction: files.linkName(dir.appending("physfn")).flatMap(PCIAddress.init),
            mdevTypes: types, mediatedDevices: types.isEmpty ? [] : try mediatedDevices(dir), vgpu: try vgpu(dir))
        return sharing.isEmpty ? nil : sharing
    }

    private func number(_ path: FilePath) throws -> Int? {
        try files.readText(path).flatMap { Int($0.trimmingWhitespace()) }
    }

    private func sriov(_ dir: FilePath) throws -> SRIOV? {
        guard let total = try number(dir.appending("sriov_totalvfs")) else { return nil }
        let entries = try files.list(dir) ?? []
        let links = entries.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("virtfn"), let index = Int(name.dropFirst("virtfn".count)) else { return nil }
            return (index, name)
        }.sorted { $0.0 < $1.0 }
        var functions: [SRIOV.VirtualFunction] = []
        for (_, name) in links {
            guard let target = files.linkName(dir.appending(name)), let address = PCIAddress(target) else { continue }
            let vf = files.path(HostPaths.pciDevices.appending(address.description))
            functions.append(
                SRIOV.VirtualFunction(
                    address: address, iommuGroup: files.linkName(vf.appending("iommu_group")).flatMap { Int($0) },
                    driver: files.linkName(vf.appending("driver"))))
        }
        let autoprobe = try number(dir.appending("sriov_drivers_autoprobe"))
        let vfDevice = try files.readText(dir.appending("sriov_vf_device")).flatMap { parseHex($0, bits: 16) }
        return SRIOV(
            totalVFs: total, numVFs: try number(dir.appending("sriov_numvfs")) ?? functions.count,
            driversAutoprobe: autoprobe.map { $0 != 0 }, vfDeviceID: vfDevice.map { hex($0, width: 4) },
            virtualFunctions: functions)
    }

    private func mdevTypes(_ dir: FilePath, warnings: inout [String]) throws -> [MdevType] {
        let typesDir = dir.appending("mdev_supported_types")
        guard let names = try files.list(typesDir) else { return [] }
        var types: [MdevType] = []
        for id in names.sorted() {
            let typeDir = typesDir.appending(id)
            guard files.isDirectory(typeDir) else { continue }
            let description = try files.readText(typeDir.appending("description")).map {
                $0.split(separator: "\n").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
                    .joined(separator: "; ")
            }
            let available = try files.readText(typeDir.appending("available_instances"))
            if let available, Int(available.trimmingWhitespace()) == nil {
                warnings.append(
                    "ignoring \(typeDir.appending("available_instances")): \"\(available.prefix(40))\" is not a number")
            }
            types.append(
                MdevType(
                    id: id, name: try files.readText(typeDir.appending("name"))?.trimmingWhitespace(),
                    description: description, availableInstances: available.flatMap { Int($0.trimmingWhitespace()) },
                    deviceAPI: try files.readText(typeDir.appending("device_api"))?.trimmingWhitespace(),
                    instances: (try files.list(typeDir.appending("devices")) ?? []).filter(MdevUUID.isValid).sorted()))
        }
        return types
    }

    private func mediatedDevices(_ dir: FilePath) throws -> [MediatedDevice] {
        guard let parent = dir.lastComponent.flatMap({ PCIAddress($0.string) }) else { return [] }
        var found: [MediatedDevice] = []
        for name in (try files.list(dir) ?? []).sorted() where MdevUUID.isValid(name) {
            let mdev = dir.appending(name)
            guard files.readLink(mdev.appending("mdev_type")) != nil || files.isDirectory(mdev) else { continue }
            found.append(
                MediatedDevice(
                    uuid: name.lowercased(), parent: parent, type: files.linkName(mdev.appending("mdev_type")),
                    iommuGroup: files.linkName(mdev.appending("iommu_group")).flatMap { Int($0) }, guest: nil))
        }
        return found
    }

    private func vgpu(_ dir: FilePath) throws -> NVIDIAVGPU? {
        guard let text = try files.readText(dir.appending("nvidia").appending("creatable_vgpu_types")) else {
            return nil
        }
        let current = try number(dir.appending("nvidia").appending("current_vgpu_type"))
        return NVIDIAVGPU(
            creatableTypes: NVIDIAVGPU.parse(text), currentType: current == 0 ? nil : current)
    }
}

extension NVIDIAVGPU {
    /// Parses `creatable_vgpu_types`: a header line `ID    : vGPU Name`, then `557   : NVIDIA A40-1Q` per type.
    static func parse(_ text: String) -> [VGPUType] {
        text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":"),
                let id = Int(line[..<colon].trimmingWhitespace())
            else { return nil }
            let name = line[line.index(after: colon)...].trimmingWhitespace()
            return name.isEmpty ? nil : VGPUType(id: id, name: name)
        }
    }
}

/// Mediated device UUIDs: 8-4-4-4-12 hex digits.
public enum MdevUUID {
    /// Whether `text` is a UUID in its canonical text form.
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return false }
        return parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }
}

extension Substring {
    func trimmingWhitespace() -> String { String(self).trimmingWhitespace() }
}
