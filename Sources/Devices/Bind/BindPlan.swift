import SystemPackage

/// What the user names for binding: a device selector or the Nth GPU of `list --gpus` (`gpu:N`, from 1).
public enum BindTarget: Sendable, Hashable, CustomStringConvertible {
    /// An address or vendor:device.
    case device(DeviceSelector)
    /// The Nth GPU.
    case gpu(Int)

    /// Parses `0000:01:00.0`, `01:00.0`, `10de:2484` or `gpu:1`; nil otherwise.
    public init?(_ text: String) {
        if text.hasPrefix("gpu:") {
            guard let index = Int(text.dropFirst(4)), index >= 1 else { return nil }
            self = .gpu(index)
        } else if let selector = DeviceSelector(text) {
            self = .device(selector)
        } else {
            return nil
        }
    }

    /// The target as typed.
    public var description: String {
        switch self {
        case .device(let selector): selector.description
        case .gpu(let index): "gpu:\(index)"
        }
    }
}

/// How to bind.
public struct BindOptions: Sendable, Hashable {
    /// Also bind every other endpoint of each IOMMU group.
    public var group = false
    /// Do not bring a GPU's companion functions.
    public var only = false
    /// Bind even the boot GPU, a GPU in use, a disk controller with mounted filesystems, the default-route NIC.
    public var force = false
    /// How long one driver `unbind` may take.
    public var unbindTimeout: Duration = .seconds(10)

    /// Default options.
    public init(group: Bool = false, only: Bool = false, force: Bool = false, unbindTimeout: Duration = .seconds(10)) {
        self.group = group
        self.only = only
        self.force = force
        self.unbindTimeout = unbindTimeout
    }
}

/// One step a bind or unbind takes, exactly as it will happen.
public struct SysfsStep: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `write`, `modprobe` or `verify`.
    public var kind: String
    /// The attribute written (host path), the module loaded, or the device verified.
    public var target: String
    /// What is written, or what is expected.
    public var value: String

    /// The step as a shell line (`echo vfio-pci > …`, `modprobe vfio-pci`) or a comment for checks.
    public var description: String {
        switch kind {
        case "write": value.isEmpty ? "echo > \(target)" : "echo \(value) > \(target)"
        case "modprobe": "modprobe \(target)"
        default: "# check: \(target) \(value)"
        }
    }
}

/// The functions a bind takes and the writes it makes, checked before anything is touched.
public struct BindPlan: Sendable, Hashable, Codable {
    /// Functions to bind, in order.
    public var functions: [PCIAddress]
    /// Functions already on vfio-pci (nothing to do).
    public var alreadyBound: [PCIAddress]
    /// The driver each function has now (nil: none).
    public var originalDrivers: [String: String]
    /// Each function's IOMMU group.
    public var groups: [String: Int]
    /// Whether vfio-pci must be loaded first.
    public var loadsModule: Bool
    /// Every step, in order.
    public var steps: [SysfsStep]
    /// Things the user should know (forced refusals, companions brought along).
    public var notes: [String]
}

extension Host {
    /// Resolves targets to functions and checks that binding them is safe, before anything is touched.
    /// - Parameters:
    ///   - targets: what the user named.
    ///   - options: `--group`, `--only`, `--force`.
    /// - Returns: the plan, with every write in order.
    /// - Throws: `DevicesError` naming the device and why it cannot be bound (and how to proceed).
    public func planBind(_ targets: [BindTarget], options: BindOptions) throws -> BindPlan {
        let report = try report()
        guard report.iommu.enabled else {
            throw DevicesError(
                code: .unavailable,
                message: "the IOMMU is off, so vfio-pci cannot give devices to guests: "
                    + (report.iommu.advice.first ?? "enable it in the firmware"))
        }
        var byAddress: [PCIAddress: PCIDevice] = [:]
        for device in report.devices { byAddress[device.address] = device }
        var chosen: Set<PCIAddress> = []
        var notes: [String] = []
        for target in targets {
            var named: [PCIDevice]
            switch target {
            case .device(let selector):
                named = try report.devices(matching: selector)
            case .gpu(let index):
                guard index <= report.gpus.count else {
                    throw DevicesError(
                        code: .notFound,
                        message: "there is no gpu:\(index): this host has \(report.gpus.count) GPU"
                            + (report.gpus.count == 1 ? "" : "s") + " (`vfioctl list --gpus`)")
                }
                named = [byAddress[report.gpus[index - 1].address]].compactMap { $0 }
            }
            for device in named {
                if device.isBridge {
                    throw DevicesError(
                        code: .invalidArgument,
                        message:
                            "\(device.address) is a bridge: bridges stay on their driver (vfio-pci takes endpoints)")
                }
                chosen.insert(device.address)
                if device.pciClass.isDisplay && !options.only,
                    let gpu = report.gpus.first(where: { $0.address == device.address })
                {
                    for companion in gpu.companions where !chosen.contains(companion.address) {
                        chosen.insert(companion.address)
                        notes.append("\(companion.address) (\(companion.role)) comes along with GPU \(device.address)")
                    }
                }
            }
        }
        if options.group {
            for address in chosen {
                guard let id = byAddress[address]?.iommuGroup, let group = report.group(id) else { continue }
                for member in group.devices.compactMap(PCIAddress.init) where !chosen.contains(member) {
                    guard let device = byAddress[member], !device.isBridge else { continue }
                    chosen.insert(member)
                    notes.append("\(member) comes along with IOMMU group \(id)")
                }
            }
        }
        let functions = chosen.sorted()
        try checkGroups(functions, report: report, byAddress: byAddress)
        let usage = HostUsage(files: files)
        var refusals: [String] = []
        for address in functions {
            guard let device = byAddress[address] else { continue }
            if device.isBootVGA {
                refusals.append(
                    "\(address) is the boot GPU the host displays on; binding it blanks the console (use the "
                        + "single-GPU hooks, or --force)")
            }
            if device.pciClass.isDisplay {
                let holders = try usage.drmHolders(of: address)
                if !holders.isEmpty {
                    refusals.append(
                        "\(address) is in use by \(holders.joined(separator: ", ")); stop them first (or --force)")
                }
            }
            if device.pciClass.isStorage {
                let mounted = try usage.mountedStorage(on: address)
                if !mounted.isEmpty {
                    refusals.append(
                        "\(address) holds \(mounted.joined(separator: ", ")): binding it would pull the disk from under "
                            + "the host (or --force)")
                }
            }
            if device.pciClass.isNetwork {
                let interfaces = try usage.defaultRouteInterfaces(of: address)
                if !interfaces.isEmpty {
                    refusals.append(
                        "\(address) carries the default route (\(interfaces.joined(separator: ", "))): binding it cuts "
                            + "the host's network (or --force)")
                }
            }
        }
        if !refusals.isEmpty {
            guard options.force else {
                throw DevicesError(code: .conflict, message: "refusing to bind: " + refusals.joined(separator: "; "))
            }
            notes.append(contentsOf: refusals.map { "forced: " + $0 })
        }
        var plan = BindPlan(
            functions: [], alreadyBound: [], originalDrivers: [:], groups: [:],
            loadsModule: !files.exists(files.path(HostPaths.modules.appending("vfio_pci"))), steps: [], notes: notes)
        if plan.loadsModule { plan.steps.append(SysfsStep(kind: "modprobe", target: "vfio-pci", value: "")) }
        for address in functions {
            guard let device = byAddress[address] else { continue }
            plan.groups[address.description] = device.iommuGroup
            if device.driver == "vfio-pci" {
                plan.alreadyBound.append(address)
                continue
            }
            plan.functions.append(address)
            if let driver = device.driver { plan.originalDrivers[address.description] = driver }
            plan.steps.append(contentsOf: bindSteps(address, driver: device.driver, group: device.iommuGroup))
        }
        return plan
    }

    /// The writes that move one function to vfio-pci (the driverctl sequence, never `new_id`).
    func bindSteps(_ address: PCIAddress, driver: String?, group: Int?) -> [SysfsStep] {
        let device = HostPaths.pciDevices.appending(address.description)
        var steps = [SysfsStep(kind: "write", target: device.appending("driver_override").string, value: "vfio-pci")]
        if let driver {
            steps.append(
                SysfsStep(
                    kind: "write", target: HostPaths.pciDrivers.appending(driver).appending("unbind").string,
                    value: address.description))
        }
        steps.append(SysfsStep(kind: "write", target: HostPaths.pciDriversProbe.string, value: address.description))
        steps.append(SysfsStep(kind: "verify", target: device.appending("driver").string, value: "-> vfio-pci"))
        if let group {
            steps.append(
                SysfsStep(
                    kind: "verify", target: HostPaths.vfioDevices.appending(String(group)).string, value: "exists"))
        }
        return steps
    }

    /// Refuses a bind that would leave a group not viable, naming the devices that must come along.
    private func checkGroups(_ functions: [PCIAddress], report: HostReport, byAddress: [PCIAddress: PCIDevice]) throws {
        let chosen = Set(functions)
        let rule = report.viabilityRule
        for id in Set(functions.compactMap { byAddress[$0]?.iommuGroup }).sorted() {
            guard let group = report.group(id) else { continue }
            var left: [PCIDevice] = []
            for member in group.devices {
                guard let address = PCIAddress(member), let device = byAddress[address] else { continue }
                if chosen.contains(address) { continue }
                if !rule.accepts(driver: device.driver, isBridge: device.isBridge) { left.append(device) }
            }
            guard !left.isEmpty else { continue }
            let names = left.map { "\($0.address) (\($0.className ?? $0.class), \($0.driver ?? "no driver"))" }
            if let bridge = left.first(where: \.isBridge) {
                throw DevicesError(
                    code: .conflict,
                    message: "IOMMU group \(id) would not be viable: bridge \(bridge.address) is bound to "
                        + "\(bridge.driver ?? "a driver"), which does not let vfio own the group; unbind it first")
            }
            let chipset = left.filter { $0.pciClass.isChipsetFunction }
            if !chipset.isEmpty {
                throw DevicesError(
                    code: .conflict,
                    message: "IOMMU group \(id) also holds chipset devices \(names.joined(separator: ", ")): this slot "
                        + "shares a group with the chipset and cannot be passed through; move the card to another slot")
            }
            throw DevicesError(
                code: .conflict,
                message: "IOMMU group \(id) would not be viable: \(names.joined(separator: ", ")) must come along; "
                    + "add --group (or name them too)")
        }
    }
}
