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
    /// Bind even what the guards refuse (the refusals are kept in the plan as warnings).
    public var force = false
    /// Guards not checked at all (the single-GPU hook takes the boot GPU on purpose).
    public var waive: Set<GuardRefusal.Kind> = []
    /// Who the journal names as having moved the devices.
    public var owner: BindingOwner = .user
    /// How long one driver `unbind` may take.
    public var unbindTimeout: Duration = .seconds(10)
    /// How long to wait for another vfioctl that holds the host lock.
    public var lockTimeout: Duration = .seconds(30)

    /// Default options.
    public init(
        group: Bool = false, only: Bool = false, force: Bool = false, waive: Set<GuardRefusal.Kind> = [],
        owner: BindingOwner = .user, unbindTimeout: Duration = .seconds(10), lockTimeout: Duration = .seconds(30)
    ) {
        self.group = group
        self.only = only
        self.force = force
        self.waive = waive
        self.owner = owner
        self.unbindTimeout = unbindTimeout
        self.lockTimeout = lockTimeout
    }
}

/// One step a bind or unbind takes, exactly as it will happen.
public struct SysfsStep: Sendable, Hashable, Codable, CustomStringConvertible {
    /// What the step does.
    public var kind: Kind

    /// The kinds of step.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Write `value` to the attribute `target`.
        case write
        /// Load the module `target`.
        case modprobe
        /// Check that `target` is `value`.
        case verify
    }
    /// The attribute written (host path), the module loaded, or the device verified.
    public var target: String
    /// What is written, or what is expected.
    public var value: String

    /// The step as a shell line (`echo vfio-pci > …`, `modprobe vfio-pci`) or a comment for checks.
    public var description: String {
        switch kind {
        case .write: value.isEmpty ? "echo > \(target)" : "echo \(value) > \(target)"
        case .modprobe: "modprobe \(target)"
        case .verify: "# check: \(target) \(value)"
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
    public var originalDrivers: [PCIAddress: String]
    /// Each function's IOMMU group.
    public var groups: [PCIAddress: Int]
    /// Whether vfio-pci must be loaded first.
    public var loadsModule: Bool
    /// Every step, in order.
    public var steps: [SysfsStep]
    /// Things the user should know (companions brought along).
    public var notes: [String]
    /// What the guards refused and `force` overrode.
    public var forced: [GuardRefusal] = []
}

extension Host {
    /// Resolves targets to functions and checks that binding them is safe, before anything is touched.
    /// - Parameters:
    ///   - targets: what the user named.
    ///   - options: group, only, force, waived guards.
    ///   - io: the kernel (asked whether block devices are claimed).
    /// - Returns: the plan, with every write in order.
    /// - Throws: `GuardFailure` with every refusal, or `DevicesError` naming a target that cannot be bound.
    public func planBind(_ targets: [BindTarget], options: BindOptions, io: (any HostIO)? = nil) throws
        -> BindPlan
    {
        let io = io ?? self.io
        let report = try report()
        var byAddress: [PCIAddress: PCIDevice] = [:]
        for device in report.devices { byAddress[device.address] = device }
        var chosen: Set<PCIAddress> = []
        var notes: [String] = []
        for target in targets {
            let named = try report.devices(named: target)
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
        let refusals = try PassthroughGuards(files: files, io: io).refusals(
            for: functions, report: report, waiving: options.waive)
        // A group shared with the chipset cannot be passed through at all: no force helps.
        let chipset = refusals.filter {
            if case .groupNotViable(_, _, true, _) = $0.reason { return true }
            return false
        }
        if !chipset.isEmpty && options.force { throw GuardFailure(refusals: chipset) }
        if !refusals.isEmpty && !options.force { throw GuardFailure(refusals: refusals) }
        var plan = BindPlan(
            functions: [], alreadyBound: [], originalDrivers: [:], groups: [:],
            loadsModule: !files.exists(files.path(HostPaths.modules.appending("vfio_pci"))), steps: [], notes: notes,
            forced: refusals)
        if plan.loadsModule { plan.steps.append(SysfsStep(kind: .modprobe, target: "vfio-pci", value: "")) }
        for address in functions {
            guard let device = byAddress[address] else { continue }
            plan.groups[address] = device.iommuGroup
            if device.driver == "vfio-pci" {
                plan.alreadyBound.append(address)
                continue
            }
            plan.functions.append(address)
            if let driver = device.driver { plan.originalDrivers[address] = driver }
            plan.steps.append(contentsOf: bindSteps(address, driver: device.driver, group: device.iommuGroup))
        }
        return plan
    }

    /// The writes that move one function to vfio-pci (the driverctl sequence, never `new_id`).
    func bindSteps(_ address: PCIAddress, driver: String?, group: Int?) -> [SysfsStep] {
        let device = HostPaths.pciDevices.appending(address.description)
        var steps = [SysfsStep(kind: .write, target: device.appending("driver_override").string, value: "vfio-pci")]
        if let driver {
            steps.append(
                SysfsStep(
                    kind: .write, target: HostPaths.pciDrivers.appending(driver).appending("unbind").string,
                    value: address.description))
        }
        steps.append(SysfsStep(kind: .write, target: HostPaths.pciDriversProbe.string, value: address.description))
        steps.append(SysfsStep(kind: .verify, target: device.appending("driver").string, value: "-> vfio-pci"))
        if let group {
            steps.append(
                SysfsStep(
                    kind: .verify, target: HostPaths.vfioDevices.appending(String(group)).string, value: "exists"))
        }
        return steps
    }
}
