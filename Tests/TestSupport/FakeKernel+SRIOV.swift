import Devices
import Foundation
import SystemPackage

extension FakeKernel {
    /// `sriov_numvfs` as the PCI core handles it: the same count is a no-op, more than `sriov_totalvfs` is ERANGE, a
    /// change between two non-zero counts is EBUSY, no driver is ENOENT; 0 removes every VF (unbinding it), a count
    /// makes the VFs at the addresses `sriov_offset` and `sriov_stride` give, each in a new IOMMU group, probed by
    /// the physical function's driver only while `sriov_drivers_autoprobe` is 1.
    func setVirtualFunctions(_ text: String, physicalFunction pf: String, path: FilePath) throws {
        guard let root, let wanted = Int(text), wanted >= 0 else { throw error(path, .invalidArgument) }
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: device(pf)).resolvingSymlinksInPath().path
        func number(_ name: String) -> Int {
            Int(
                ((try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "")
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let current = number("sriov_numvfs")
        if wanted == current { return }
        if wanted > number("sriov_totalvfs") { throw error(path, .outOfRange) }
        if wanted != 0 && current != 0 { throw error(path, .resourceBusy) }
        if wanted == 0 {
            for name in (try fm.contentsOfDirectory(atPath: dir)).filter({ $0.hasPrefix("virtfn") }) {
                let vfDir = URL(fileURLWithPath: dir + "/" + name).resolvingSymlinksInPath().path
                let vf = (vfDir as NSString).lastPathComponent
                if let driver = driverOf(vf) { try unbind(vf, from: driver) }
                if let group = try? fm.destinationOfSymbolicLink(atPath: vfDir + "/iommu_group") {
                    try? fm.removeItem(
                        atPath: root + "/sys/kernel/iommu_groups/" + (group as NSString).lastPathComponent)
                }
                try fm.removeItem(atPath: vfDir)
                try fm.removeItem(atPath: root + "/sys/bus/pci/devices/" + vf)
                try fm.removeItem(atPath: dir + "/" + name)
                lock.withLock { natural[vf] = nil }
            }
            try "0\n".write(toFile: dir + "/sriov_numvfs", atomically: false, encoding: .utf8)
            return
        }
        guard let driver = driverOf(pf) else { throw error(path, .noSuchFileOrDirectory) }
        if lock.withLock({ refuseSRIOV.contains(pf) }) { throw error(path, .ioError) }
        guard let address = PCIAddress(pf) else { throw error(path, .invalidArgument) }
        let offset = number("sriov_offset")
        let stride = max(number("sriov_stride"), 1)
        let vfDevice =
            ((try? String(contentsOfFile: dir + "/sriov_vf_device", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let autoprobe = number("sriov_drivers_autoprobe") != 0
        var groups = (try fm.contentsOfDirectory(atPath: root + "/sys/kernel/iommu_groups")).compactMap { Int($0) }
        let rid = Int(address.bus) << 8 | Int(address.device) << 3 | Int(address.function)
        for index in 0..<wanted {
            let vfRID = rid + offset + index * stride
            let vf = String(
                format: "%04x:%02x:%02x.%x", Int(address.domain), vfRID >> 8, (vfRID >> 3) & 0x1f, vfRID & 7)
            let vfDir = (dir as NSString).deletingLastPathComponent + "/" + vf
            try fm.createDirectory(atPath: vfDir, withIntermediateDirectories: true)
            for name in ["vendor", "class", "revision", "numa_node", "resource"] {
                try fm.copyItem(atPath: dir + "/" + name, toPath: vfDir + "/" + name)
            }
            try "0x\(vfDevice)\n".write(toFile: vfDir + "/device", atomically: false, encoding: .utf8)
            var config = try Data(contentsOf: URL(fileURLWithPath: dir + "/config"))
            if let id = UInt16(vfDevice, radix: 16), config.count > 3 {
                config[2] = UInt8(id & 0xff)
                config[3] = UInt8(id >> 8)
            }
            try config.write(to: URL(fileURLWithPath: vfDir + "/config"))
            try "(null)\n".write(toFile: vfDir + "/driver_override", atomically: false, encoding: .utf8)
            try fm.createSymbolicLink(atPath: vfDir + "/physfn", withDestinationPath: "../" + pf)
            try fm.createSymbolicLink(atPath: dir + "/virtfn\(index)", withDestinationPath: "../" + vf)
            try fm.createSymbolicLink(
                atPath: root + "/sys/bus/pci/devices/" + vf,
                withDestinationPath: relativeLink(from: root + "/sys/bus/pci/devices/" + vf, to: vfDir))
            let group = (groups.max() ?? 0) + 1
            groups.append(group)
            let groupDir = root + "/sys/kernel/iommu_groups/\(group)"
            try fm.createDirectory(atPath: groupDir + "/devices", withIntermediateDirectories: true)
            try fm.createSymbolicLink(
                atPath: vfDir + "/iommu_group",
                withDestinationPath: relativeLink(from: vfDir + "/iommu_group", to: groupDir))
            try fm.createSymbolicLink(
                atPath: groupDir + "/devices/" + vf,
                withDestinationPath: relativeLink(from: groupDir + "/devices/" + vf, to: vfDir))
            lock.withLock { natural[vf] = driver }
            if autoprobe { try bind(vf, to: driver, path: path) }
        }
        try "\(wanted)\n".write(toFile: dir + "/sriov_numvfs", atomically: false, encoding: .utf8)
    }
}
