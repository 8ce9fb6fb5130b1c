import SystemPackage

/// What on the host is using a device right now.
///
/// Processes holding its DRM nodes, mounted filesystems on its disks, the default route through its network
/// interfaces: binding such a device takes it away from the host.
struct HostUsage {
    let files: HostFiles

    /// Processes with a `/dev/dri` node of this GPU open, as `name (pid N)`, found through `/proc/*/fd`.
    func drmHolders(of address: PCIAddress) throws -> [String] {
        let drm = files.path(HostPaths.pciDevices.appending(address.description).appending("drm"))
        let nodes = Set(
            (try files.list(drm) ?? []).filter { $0.hasPrefix("card") || $0.hasPrefix("renderD") }.map {
                HostPaths.driNodes.appending($0).string
            })
        guard !nodes.isEmpty else { return [] }
        var holders: [String] = []
        let proc = files.path(HostPaths.processes)
        for pid in try files.list(proc) ?? [] where pid.allSatisfy(\.isNumber) {
            let fdDir = proc.appending(pid).appending("fd")
            guard let descriptors = try? files.list(fdDir) else { continue }
            if descriptors.contains(where: { files.readLink(fdDir.appending($0)).map(nodes.contains) ?? false }) {
                let name = (try? files.readText(proc.appending(pid).appending("comm"))) ?? nil
                holders.append("\(name ?? "?") (pid \(pid))")
            }
        }
        return holders
    }

    /// Mounted filesystems and swap on this controller's disks, as `/dev/sda1 on /`.
    func mountedStorage(on address: PCIAddress) throws -> [String] {
        let blockClass = files.path(HostPaths.blockClass)
        let marker = "/" + address.description + "/"
        var names: Set<String> = []
        for name in try files.list(blockClass) ?? [] {
            guard let resolved = files.realPath(blockClass.appending(name)), resolved.string.contains(marker) else {
                continue
            }
            names.insert(name)
        }
        guard !names.isEmpty else { return [] }
        var used: [String] = []
        for line in (try files.readText(files.path(HostPaths.mounts)) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, fields[0].hasPrefix("/dev/") else { continue }
            if names.contains(String(fields[0].dropFirst(5))) { used.append("\(fields[0]) on \(fields[1])") }
        }
        for line in (try files.readText(files.path(HostPaths.swaps)) ?? "").split(separator: "\n").dropFirst() {
            guard let device = line.split(separator: " ").first, device.hasPrefix("/dev/") else { continue }
            if names.contains(String(device.dropFirst(5))) { used.append("\(device) as swap") }
        }
        return used
    }

    /// This NIC's interfaces that carry the default route.
    func defaultRouteInterfaces(of address: PCIAddress) throws -> [String] {
        let net = files.path(HostPaths.pciDevices.appending(address.description).appending("net"))
        let interfaces = Set(try files.list(net) ?? [])
        guard !interfaces.isEmpty else { return [] }
        var carrying: [String] = []
        for line in (try files.readText(files.path(HostPaths.routes)) ?? "").split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, fields[1] == "00000000", interfaces.contains(String(fields[0])) else { continue }
            carrying.append(String(fields[0]))
        }
        return Array(Set(carrying)).sorted()
    }
}
