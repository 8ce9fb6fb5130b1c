import Devices
import Foundation
import SystemPackage

extension FakeKernel {
    /// A write of a UUID to a type's `create`, as the mdev core handles it: EEXIST for a UUID in use, ENOSPC when
    /// `available_instances` is 0; otherwise the device's directory beside the parent's attributes, its `mdev_type`
    /// and `iommu_group` (a new group), the type's `devices/` entry and `/sys/bus/mdev/devices/<uuid>`.
    func createMdev(_ uuid: String, type typePath: FilePath) throws {
        guard let root else { return }
        let fm = FileManager.default
        let typeDir = URL(fileURLWithPath: typePath.string).resolvingSymlinksInPath().path
        let parentDir = ((typeDir as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let create = FilePath(typeDir + "/create")
        guard MdevUUID.isValid(uuid) else { throw error(create, .invalidArgument) }
        let bus = root + "/sys/bus/mdev/devices/" + uuid
        if (try? fm.destinationOfSymbolicLink(atPath: bus)) != nil { throw error(create, .fileExists) }
        let availableFile = typeDir + "/available_instances"
        let available =
            Int(
                ((try? String(contentsOfFile: availableFile, encoding: .utf8)) ?? "0")
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        guard available > 0 else { throw error(create, .noSpace) }
        try "\(available - 1)\n".write(toFile: availableFile, atomically: false, encoding: .utf8)
        let dir = parentDir + "/" + uuid
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = fm.createFile(atPath: dir + "/remove", contents: Data())
        try fm.createSymbolicLink(
            atPath: dir + "/mdev_type", withDestinationPath: relativeLink(from: dir + "/mdev_type", to: typeDir))
        try fm.createDirectory(atPath: typeDir + "/devices", withIntermediateDirectories: true)
        try fm.createSymbolicLink(
            atPath: typeDir + "/devices/" + uuid,
            withDestinationPath: relativeLink(from: typeDir + "/devices/" + uuid, to: dir))
        try fm.createDirectory(atPath: root + "/sys/bus/mdev/devices", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: bus, withDestinationPath: relativeLink(from: bus, to: dir))
        let groups = (try fm.contentsOfDirectory(atPath: root + "/sys/kernel/iommu_groups")).compactMap { Int($0) }
        let groupDir = root + "/sys/kernel/iommu_groups/\((groups.max() ?? 0) + 1)"
        try fm.createDirectory(atPath: groupDir + "/devices", withIntermediateDirectories: true)
        try fm.createSymbolicLink(
            atPath: dir + "/iommu_group", withDestinationPath: relativeLink(from: dir + "/iommu_group", to: groupDir))
        try fm.createSymbolicLink(
            atPath: groupDir + "/devices/" + uuid,
            withDestinationPath: relativeLink(from: groupDir + "/devices/" + uuid, to: dir))
    }

    /// A write to a mediated device's `remove`: everything `createMdev` made goes, and the type has one more
    /// instance available.
    func removeMdev(at path: FilePath) throws {
        guard let root else { return }
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: path.string).resolvingSymlinksInPath().path
        let uuid = (dir as NSString).lastPathComponent
        let typeDir = URL(fileURLWithPath: dir + "/mdev_type").resolvingSymlinksInPath().path
        if let group = try? fm.destinationOfSymbolicLink(atPath: dir + "/iommu_group") {
            try? fm.removeItem(atPath: root + "/sys/kernel/iommu_groups/" + (group as NSString).lastPathComponent)
        }
        try? fm.removeItem(atPath: typeDir + "/devices/" + uuid)
        try? fm.removeItem(atPath: root + "/sys/bus/mdev/devices/" + uuid)
        try fm.removeItem(atPath: dir)
        let availableFile = typeDir + "/available_instances"
        let available =
            Int(
                ((try? String(contentsOfFile: availableFile, encoding: .utf8)) ?? "0")
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        try "\(available + 1)\n".write(toFile: availableFile, atomically: false, encoding: .utf8)
    }
}
