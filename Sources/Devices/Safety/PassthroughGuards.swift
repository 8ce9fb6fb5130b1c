import SystemPackage

/// Why handing a device to vfio-pci (now, at the next boot, or at a guest's start) would hurt the host.
public struct GuardRefusal: Sendable, Hashable, Codable {
    /// The kinds of refusal, for waiving some of them (a single-GPU hook takes the boot GPU on purpose).
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// The IOMMU is off.
        case iommuOff
        /// The GPU the firmware booted on.
        case bootGPU
        /// The GPU a framebuffer console is on.
        case consoleGPU
        /// A GPU whose DRM nodes a process (a compositor) has open.
        case gpuInUse
        /// A controller whose block devices are in use.
        case storageInUse
        /// A NIC that carries a default route.
        case defaultRoute
        /// An IOMMU group that would not be viable.
        case groupNotViable
        /// A virtual function that would be removed is on vfio-pci or held open by a process (a guest).
        case virtualFunctionInUse
        /// A mediated device that would be removed is used by a running guest.
        case mediatedDeviceInUse
    }

    /// What uses a block device.
    public enum StorageUse: Sendable, Hashable, Codable {
        /// A filesystem mounted at this path.
        case mounted(String)
        /// Active swap.
        case swap
        /// Claimed by the kernel (a RAID, LVM, LUKS, multipath, ZFS or btrfs member); the filesystem type udev
        /// recorded, when known.
        case claimed(String?)
    }

    /// A block device on the controller and what uses it, through any stacked devices in between.
    public struct BlockUse: Sendable, Hashable, Codable {
        /// The chain from the controller's disk up to the user: `sda2`, then `dm-0` and so on.
        public var chain: [BlockLayer]
        /// What uses the last device of the chain.
        public var use: StorageUse
    }

    /// One block device in a chain.
    public struct BlockLayer: Sendable, Hashable, Codable {
        /// The kernel's name (`sda2`, `dm-0`, `md0`).
        public var name: String
        /// What it is when it is a stacked device: `lvm`, `luks`, `multipath`, `dm`, `md`; nil for a disk or
        /// partition.
        public var stack: String?
        /// Its friendlier name when there is one (the device-mapper name `vg-root`).
        public var label: String?
    }

    /// A network interface and how a default route reaches it.
    public struct RouteUse: Sendable, Hashable, Codable {
        /// The NIC's own interface, then each upper device (bridge, bond, VLAN) up to the one with the route.
        public var chain: [String]
        /// `4` or `6`.
        public var family: Int
    }

    /// A group member that keeps the group from being viable.
    public struct Member: Sendable, Hashable, Codable {
        /// The function.
        public var address: PCIAddress
        /// Its driver, nil for none.
        public var driver: String?
        /// Its class name from pci.ids, or the class code.
        public var className: String
    }

    /// A process holding a device node.
    public struct Holder: Sendable, Hashable, Codable {
        /// Its command name.
        public var name: String
        /// Its process ID.
        public var pid: Int
    }

    /// Why, with the details the words need.
    public enum Reason: Sendable, Hashable, Codable {
        /// The IOMMU is off.
        case iommuOff
        /// The boot GPU.
        case bootGPU
        /// These framebuffers (`fb0`) are on the GPU.
        case consoleGPU([String])
        /// These processes have the GPU's DRM nodes open.
        case gpuInUse([Holder])
        /// These block devices are in use.
        case storageInUse([BlockUse])
        /// These interfaces carry a default route.
        case defaultRoute([RouteUse])
        /// The group would keep these members on drivers that do not let vfio own it; `chipset` when they are
        /// chipset functions (no binding helps), `bridge` when one is a bridge on its driver.
        case groupNotViable(group: Int, members: [Member], chipset: Bool, bridge: PCIAddress?)
        /// A virtual function that would be removed is on this driver (vfio-pci) or its `/dev/vfio` group is held
        /// by these processes.
        case virtualFunctionInUse(driver: String?, holders: [Holder])
        /// A mediated device that would be removed is named by this running guest, or its group is held by these
        /// processes.
        case mediatedDeviceInUse(uuid: String, guest: String?, holders: [Holder])
    }

    /// The device refused; nil for a refusal of the whole request (the IOMMU is off).
    public var device: PCIAddress?
    /// Why.
    public var reason: Reason

    /// The kind of the reason.
    public var kind: Kind {
        switch reason {
        case .iommuOff: .iommuOff
        case .bootGPU: .bootGPU
        case .consoleGPU: .consoleGPU
        case .gpuInUse: .gpuInUse
        case .storageInUse: .storageInUse
        case .defaultRoute: .defaultRoute
        case .groupNotViable: .groupNotViable
        case .virtualFunctionInUse: .virtualFunctionInUse
        case .mediatedDeviceInUse: .mediatedDeviceInUse
        }
    }
}

/// A request refused by the guards; nothing was changed.
public struct GuardFailure: Error, Sendable, CustomStringConvertible {
    /// Every refusal, in device order.
    public var refusals: [GuardRefusal]

    /// A failure carrying these refusals.
    public init(refusals: [GuardRefusal]) {
        self.refusals = refusals
    }

    /// The kinds refused, for a log line; the CLI words each refusal.
    public var description: String {
        "refused: "
            + refusals.map { ($0.device?.description ?? "host") + " " + $0.kind.rawValue }.joined(
                separator: ", ")
    }
}

/// The one set of checks every path that hands devices to vfio-pci goes through: `bind`, `persist`, `attach` and
/// `xml` with managed hostdevs, `hooks install`, and the hook at a guest's start.
public struct PassthroughGuards: Sendable {
    let files: HostFiles
    let io: any HostIO

    /// Every refusal for taking `functions` (the whole set that moves) from the host.
    /// - Parameters:
    ///   - functions: the functions that would be on vfio-pci afterwards.
    ///   - report: the host as it is now.
    ///   - waiving: kinds not checked (the single-GPU hook frees the boot GPU itself).
    /// - Returns: the refusals, the request's first, then per device in address order.
    /// - Throws: `DevicesError` when the host's state cannot be read.
    func refusals(for functions: [PCIAddress], report: HostReport, waiving: Set<GuardRefusal.Kind> = [])
        throws -> [GuardRefusal]
    {
        var result: [GuardRefusal] = []
        func add(_ device: PCIAddress?, _ reason: GuardRefusal.Reason) {
            let refusal = GuardRefusal(device: device, reason: reason)
            if !waiving.contains(refusal.kind) { result.append(refusal) }
        }
        if !report.iommu.enabled { add(nil, .iommuOff) }
        let storage = try BlockDevices(files: files, io: io)
        let network = NetworkRoutes(files: files)
        let defaultRoutes = try network.defaultRouteInterfaces()
        for address in functions.sorted() {
            guard let device = report.device(at: address) else { continue }
            if device.isBootVGA { add(address, .bootGPU) }
            if device.pciClass.isDisplay {
                let framebuffers = try consoleFramebuffers(of: address)
                if !framebuffers.isEmpty { add(address, .consoleGPU(framebuffers)) }
                let holders = try drmHolders(of: address)
                if !holders.isEmpty { add(address, .gpuInUse(holders)) }
            }
            let uses = try storage.uses(under: address)
            if !uses.isEmpty { add(address, .storageInUse(uses)) }
            let routes = try network.routes(of: address, defaults: defaultRoutes)
            if !routes.isEmpty { add(address, .defaultRoute(routes)) }
        }
        for refusal in try groupRefusals(functions, report: report) { add(refusal.device, refusal.reason) }
        return result
    }

    /// Every refusal for removing virtual functions: one on vfio-pci or whose group a process holds (a guest), and
    /// what would hurt the host as taking it would (its disks in use, its default route, a display on it).
    /// - Throws: `DevicesError` when the host's state cannot be read.
    func removalRefusals(for functions: [PCIAddress], report: HostReport) throws -> [GuardRefusal] {
        var result: [GuardRefusal] = []
        let storage = try BlockDevices(files: files, io: io)
        let network = NetworkRoutes(files: files)
        let defaultRoutes = try network.defaultRouteInterfaces()
        let processes = ProcessTable(files: files)
        for address in functions.sorted() {
            guard let device = report.device(at: address) else { continue }
            let holders =
                try device.iommuGroup.map {
                    try processes.holders(of: [HostPaths.vfioDevices.appending(String($0)).string])
                } ?? []
            if ViabilityRule.isVFIODriver(device.driver) || !holders.isEmpty {
                result.append(
                    GuardRefusal(
                        device: address, reason: .virtualFunctionInUse(driver: device.driver, holders: holders)))
            }
            if device.pciClass.isDisplay {
                let framebuffers = try consoleFramebuffers(of: address)
                if !framebuffers.isEmpty {
                    result.append(GuardRefusal(device: address, reason: .consoleGPU(framebuffers)))
                }
                let users = try drmHolders(of: address)
                if !users.isEmpty { result.append(GuardRefusal(device: address, reason: .gpuInUse(users))) }
            }
            let uses = try storage.uses(under: address)
            if !uses.isEmpty { result.append(GuardRefusal(device: address, reason: .storageInUse(uses))) }
            let routes = try network.routes(of: address, defaults: defaultRoutes)
            if !routes.isEmpty { result.append(GuardRefusal(device: address, reason: .defaultRoute(routes))) }
        }
        return result
    }

    /// Groups that would not be viable with `functions` on vfio-pci: their other members must come along or be
    /// on a driver that lets vfio own the group.
    func groupRefusals(_ functions: [PCIAddress], report: HostReport) throws -> [GuardRefusal] {
        let chosen = Set(functions)
        var result: [GuardRefusal] = []
        for id in Set(functions.compactMap { report.device(at: $0)?.iommuGroup }).sorted() {
            guard let group = report.group(id) else { continue }
            var left: [PCIDevice] = []
            for member in group.devices {
                guard let address = PCIAddress(member), let device = report.device(at: address) else { continue }
                if chosen.contains(address) { continue }
                if !report.viabilityRule.accepts(driver: device.driver, isBridge: device.isBridge) {
                    left.append(device)
                }
            }
            guard !left.isEmpty else { continue }
            let first = functions.filter { report.device(at: $0)?.iommuGroup == id }.min()
            result.append(
                GuardRefusal(
                    device: first,
                    reason: .groupNotViable(
                        group: id,
                        members: left.map {
                            GuardRefusal.Member(
                                address: $0.address, driver: $0.driver, className: $0.className ?? $0.class)
                        },
                        chipset: left.contains { $0.pciClass.isChipsetFunction },
                        bridge: left.first(where: \.isBridge)?.address)))
        }
        return result
    }

    /// Framebuffers (`/sys/class/graphics/fbN/device`) that live on this GPU: the console draws on them.
    func consoleFramebuffers(of address: PCIAddress) throws -> [String] {
        let graphics = files.path(HostPaths.graphicsClass)
        var result: [String] = []
        for name in try files.list(graphics) ?? [] where name.hasPrefix("fb") {
            guard let device = files.realPath(graphics.appending(name).appending("device")),
                device.lastComponent?.string == address.description
            else { continue }
            result.append(name)
        }
        return result
    }

    /// Processes with a `/dev/dri` node of this GPU open, found through `/proc/*/fd`.
    func drmHolders(of address: PCIAddress) throws -> [GuardRefusal.Holder] {
        let drm = files.path(HostPaths.pciDevices.appending(address.description).appending("drm"))
        let nodes = Set(
            (try files.list(drm) ?? []).filter { $0.hasPrefix("card") || $0.hasPrefix("renderD") }.map {
                HostPaths.driNodes.appending($0).string
            })
        return try ProcessTable(files: files).holders(of: nodes)
    }
}

/// Processes and the device nodes they hold open.
struct ProcessTable {
    let files: HostFiles

    /// Processes with one of `nodes` (host paths) open, by `/proc/<pid>/fd`.
    func holders(of nodes: Set<String>) throws -> [GuardRefusal.Holder] {
        guard !nodes.isEmpty else { return [] }
        var holders: [GuardRefusal.Holder] = []
        let proc = files.path(HostPaths.processes)
        for pid in try files.list(proc) ?? [] where !pid.isEmpty && pid.allSatisfy(\.isNumber) {
            let fdDir = proc.appending(pid).appending("fd")
            guard let descriptors = try? files.list(fdDir) else { continue }
            if descriptors.contains(where: { files.readLink(fdDir.appending($0)).map(nodes.contains) ?? false }) {
                let name = (try? files.readText(proc.appending(pid).appending("comm"))) ?? nil
                holders.append(GuardRefusal.Holder(name: name ?? "?", pid: Int(pid) ?? 0))
            }
        }
        return holders
    }
}

/// Block devices, what is stacked on them, and what uses them.
struct BlockDevices {
    let files: HostFiles
    let io: any HostIO
    /// Mount points by device number (`major:minor`) and by source path.
    private var mountsByNumber: [String: [String]] = [:]
    private var mountsBySource: [String: [String]] = [:]
    private var swaps: Set<String> = []

    init(files: HostFiles, io: any HostIO) throws {
        self.files = files
        self.io = io
        for line in (try files.readText(files.path(HostPaths.mountinfo)) ?? "").split(separator: "\n") {
            // id parent major:minor root mountpoint … - fstype source options
            let fields = line.split(separator: " ")
            guard fields.count >= 5 else { continue }
            mountsByNumber[String(fields[2]), default: []].append(Self.unescape(fields[4]))
            if let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count {
                mountsBySource[Self.unescape(fields[dash + 2]), default: []].append(Self.unescape(fields[4]))
            }
        }
        for line in (try files.readText(files.path(HostPaths.mounts)) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, fields[0].hasPrefix("/dev/") else { continue }
            let mountPoint = Self.unescape(fields[1])
            if !(mountsBySource[Self.unescape(fields[0])] ?? []).contains(mountPoint) {
                mountsBySource[Self.unescape(fields[0]), default: []].append(mountPoint)
            }
        }
        for line in (try files.readText(files.path(HostPaths.swaps)) ?? "").split(separator: "\n").dropFirst() {
            guard let device = line.split(separator: " ").first else { continue }
            swaps.insert(String(device))
        }
    }

    /// `/proc/mounts` writes a space as `\040`.
    static func unescape(_ field: Substring) -> String {
        String(field).replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
    }

    /// Every use of a block device that lives under this PCI function (disks and partitions of a controller, a
    /// USB stick behind a USB controller), followed through holders (LVM, LUKS, md, multipath).
    func uses(under address: PCIAddress) throws -> [GuardRefusal.BlockUse] {
        let blockClass = files.path(HostPaths.blockClass)
        let marker = "/" + address.description + "/"
        var result: [GuardRefusal.BlockUse] = []
        for name in try files.list(blockClass) ?? [] {
            guard let resolved = files.realPath(blockClass.appending(name)), resolved.string.contains(marker) else {
                continue
            }
            var seen: Set<String> = []
            result += try uses(of: [layer(name)], seen: &seen)
        }
        return result
    }

    private func uses(of chain: [GuardRefusal.BlockLayer], seen: inout Set<String>) throws
        -> [GuardRefusal.BlockUse]
    {
        guard let last = chain.last, seen.insert(last.name).inserted else { return [] }
        var result: [GuardRefusal.BlockUse] = []
        let entry = files.path(HostPaths.blockClass.appending(last.name))
        let number = try files.readText(entry.appending("dev"))
        var names = ["/dev/" + last.name]
        if let label = last.label, last.stack != nil, last.stack != "md" { names.append("/dev/mapper/" + label) }
        if last.stack == "md" { names.append("/dev/md/" + (last.label ?? last.name)) }
        var mountPoints: [String] = []
        if let number { mountPoints += mountsByNumber[number] ?? [] }
        for name in names { mountPoints += mountsBySource[name] ?? [] }
        for point in Array(Set(mountPoints)).sorted() { result.append(.init(chain: chain, use: .mounted(point))) }
        if names.contains(where: swaps.contains) { result.append(.init(chain: chain, use: .swap)) }
        for holder in try files.list(entry.appending("holders")) ?? [] {
            let stacked = try layer(holder)
            let above = try uses(of: chain + [stacked], seen: &seen)
            if above.isEmpty {
                result.append(.init(chain: chain + [stacked], use: .claimed(nil)))
            } else {
                result += above
            }
        }
        if result.isEmpty, chain.count == 1 {
            let udev = try udevProperties(number: number)
            if io.isClaimed(blockDevice: files.path(HostPaths.deviceNodes.appending(last.name))) == true
                || isActiveMember(udev)
            {
                result.append(.init(chain: chain, use: .claimed(udev["ID_FS_TYPE"])))
            }
        }
        return result
    }

    /// A ZFS member of an imported pool (`/proc/spl/kstat/zfs/<pool>`, the pool being the label udev recorded) or a
    /// btrfs member of a mounted filesystem (`/sys/fs/btrfs/<uuid>`): in use although nothing is stacked on it.
    private func isActiveMember(_ udev: [String: String]) -> Bool {
        switch udev["ID_FS_TYPE"] {
        case "zfs_member":
            guard let pool = udev["ID_FS_LABEL"], !pool.isEmpty, !pool.contains("/") else { return false }
            return files.exists(files.path(FilePath("/proc/spl/kstat/zfs").appending(pool)))
        case "btrfs":
            guard let uuid = udev["ID_FS_UUID"], !uuid.isEmpty, !uuid.contains("/") else { return false }
            return files.exists(files.path(FilePath("/sys/fs/btrfs").appending(uuid)))
        default:
            return false
        }
    }

    /// A block device with its stacking kind and device-mapper or md name.
    private func layer(_ name: String) throws -> GuardRefusal.BlockLayer {
        let entry = files.path(HostPaths.blockClass.appending(name))
        if let dmName = try files.readText(entry.appending("dm").appending("name")) {
            let uuid = try files.readText(entry.appending("dm").appending("uuid")) ?? ""
            let stack =
                uuid.hasPrefix("LVM-")
                ? "lvm" : uuid.hasPrefix("CRYPT-") ? "luks" : uuid.hasPrefix("mpath-") ? "multipath" : "dm"
            return .init(name: name, stack: stack, label: dmName)
        }
        if files.exists(entry.appending("md")) {
            let label = try files.readText(entry.appending("md").appending("metadata_name"))
            return .init(name: name, stack: "md", label: label)
        }
        return .init(name: name, stack: nil, label: nil)
    }

    /// udev's properties of a block device (`E:KEY=VALUE` lines of `/run/udev/data/b<major>:<minor>`).
    private func udevProperties(number: String?) throws -> [String: String] {
        guard let number else { return [:] }
        var result: [String: String] = [:]
        let data = try files.readText(files.path(HostPaths.udevData.appending("b" + number))) ?? ""
        for line in data.split(separator: "\n") where line.hasPrefix("E:") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[line.index(line.startIndex, offsetBy: 2)..<equals])] = String(
                line[line.index(after: equals)...])
        }
        return result
    }
}

/// Default routes and the interfaces stacked on a NIC.
struct NetworkRoutes {
    let files: HostFiles

    /// Interfaces with a default route, and the address families of those routes.
    func defaultRouteInterfaces() throws -> [String: Set<Int>] {
        var result: [String: Set<Int>] = [:]
        // Iface Destination Gateway Flags RefCnt Use Metric Mask …
        for line in (try files.readText(files.path(HostPaths.routes)) ?? "").split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000",
                let flags = UInt32(fields[3], radix: 16), flags & 0x1 != 0
            else { continue }
            result[String(fields[0]), default: []].insert(4)
        }
        // destination prefix source prefix next-hop metric refcnt use flags iface
        for line in (try files.readText(files.path(HostPaths.ipv6Routes)) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10, fields[0].allSatisfy({ $0 == "0" }), fields[1] == "00",
                let flags = UInt32(fields[8], radix: 16), flags & 0x1 != 0, flags & 0x200 == 0, fields[9] != "lo"
            else { continue }
            result[String(fields[9]), default: []].insert(6)
        }
        return result
    }

    /// The default routes that run over this NIC: on its own interfaces, or on a bridge, bond, team, VLAN or
    /// macvlan stacked on them.
    func routes(of address: PCIAddress, defaults: [String: Set<Int>]) throws -> [GuardRefusal.RouteUse] {
        guard !defaults.isEmpty else { return [] }
        let net = files.path(HostPaths.pciDevices.appending(address.description).appending("net"))
        var result: [GuardRefusal.RouteUse] = []
        for interface in try files.list(net) ?? [] {
            var queue: [[String]] = [[interface]]
            var seen: Set<String> = [interface]
            while !queue.isEmpty {
                let chain = queue.removeFirst()
                guard let last = chain.last else { continue }
                for family in (defaults[last] ?? []).sorted() {
                    result.append(GuardRefusal.RouteUse(chain: chain, family: family))
                }
                for upper in try uppers(of: last) where seen.insert(upper).inserted {
                    queue.append(chain + [upper])
                }
            }
        }
        return result
    }

    /// The devices stacked directly on an interface: its `master` and every `upper_<name>` link.
    private func uppers(of interface: String) throws -> [String] {
        let entry = files.path(HostPaths.netClass.appending(interface))
        var names: [String] = []
        if let master = files.linkName(entry.appending("master")) { names.append(master) }
        for name in try files.list(entry) ?? [] where name.hasPrefix("upper_") {
            names.append(String(name.dropFirst("upper_".count)))
        }
        return Array(Set(names)).sorted()
    }
}

extension Host {
    /// The guard refusals for a guest that takes these GPUs (with their companion functions) and these single
    /// functions as `managed='yes'` hostdevs: libvirt detaches them from the host at every start.
    /// - Parameters:
    ///   - gpus: GPU targets; each brings the other functions of its card.
    ///   - hostdevs: single functions.
    ///   - io: the kernel (asked whether block devices are claimed).
    /// - Returns: every refusal; empty when the guest may take them.
    /// - Throws: `DevicesError` for a target that names nothing, `GuardFailure` for a group shared with the chipset.
    public func passthroughRefusals(gpus: [BindTarget], hostdevs: [BindTarget], io: (any HostIO)? = nil)
        throws -> [GuardRefusal]
    {
        let io = io ?? self.io
        guard !gpus.isEmpty || !hostdevs.isEmpty else { return [] }
        var functions: Set<PCIAddress> = []
        if !gpus.isEmpty {
            let plan = try planBind(gpus, options: BindOptions(force: true), io: io)
            functions.formUnion(plan.functions + plan.alreadyBound)
        }
        if !hostdevs.isEmpty {
            let plan = try planBind(hostdevs, options: BindOptions(only: true, force: true), io: io)
            functions.formUnion(plan.functions + plan.alreadyBound)
        }
        return try PassthroughGuards(files: files, io: io).refusals(for: functions.sorted(), report: report())
    }
}
