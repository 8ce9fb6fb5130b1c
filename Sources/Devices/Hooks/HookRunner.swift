import Glibc
import SystemPackage

/// What a guest's prepare did, kept under /run until its release undoes it.
struct HookState: Codable, Sendable {
    var displayManagerStopped = false
    var vtconsoles: [String] = []
    var framebuffers: [String] = []
    var modules: [String] = []
    var functions: [String] = []
    var hugepagesFile: String?
    var hugepagesBefore: Int?
    var slices: [String] = []
    var allCPUs: String?
}

extension Host {
    /// Module stacks to unload, top first, for the GPU drivers a single-GPU guest takes the card from.
    static let gpuModules: [String: [String]] = [
        "nvidia": ["nvidia_drm", "nvidia_modeset", "nvidia_uvm", "nvidia"], "amdgpu": ["amdgpu"],
        "radeon": ["radeon"], "nouveau": ["nouveau"], "i915": ["i915"], "xe": ["xe"],
    ]

    /// The slices whose tasks move off the guest's CPUs.
    static let hostSlices = ["system.slice", "user.slice", "init.scope"]

    /// Runs a guest's hook the way libvirt calls it (`GUEST OPERATION PHASE`): `prepare begin` prepares the
    /// host, `release end` undoes exactly what prepare did (also after a crashed guest, and twice is harmless);
    /// every other call does nothing.
    /// - Parameters:
    ///   - guest: the guest's name.
    ///   - operation: libvirt's operation (`prepare`, `release`, …).
    ///   - phase: `begin` or `end`.
    ///   - domainXML: the definition libvirt passes on stdin.
    ///   - io: kernel attribute access.
    ///   - commands: `systemctl` and `modprobe`.
    ///   - log: receives one line per step.
    /// - Throws: `DevicesError` when the host cannot be prepared (after undoing what was done), so libvirt does
    ///   not start the guest.
    public func runHook(
        guest: String, operation: String, phase: String, domainXML: [UInt8], io: (any HostIO)? = nil,
        commands: any CommandRunner, log: @escaping (String) -> Void
    ) throws {
        let io = io ?? self.io
        try HookConfig.checkName(guest)
        let files = self.files
        let statePath = files.path(HostPaths.hookState.appending(guest + ".json"))
        var runner = HookSteps(host: self, guest: guest, io: io, commands: commands, statePath: statePath, log: log)
        switch (operation, phase) {
        case ("prepare", "begin"):
            let configPath = files.path(HookConfig.path(for: guest))
            guard let text = try files.readText(configPath) else { return }
            let config = try HookConfig(text: text, source: HookConfig.path(for: guest).string)
            try HostLock.withLock(files, timeout: .seconds(60)) {
                if try runner.loadState() != nil {
                    log("\(guest): undoing an earlier prepare that was never released")
                    try runner.release()
                }
                let domain = try XMLDocument(bytes: domainXML, source: "the definition of \(guest) on stdin").root
                try runner.prepare(config, domain: domain)
            }
        case ("release", "end"):
            // From the state alone: a configuration removed while the guest ran must not strand the host.
            try HostLock.withLock(files, timeout: .seconds(60)) { try runner.release() }
        default:
            return
        }
    }

    /// The guard refusals for a single-GPU hook of a guest with this definition: its PCI hostdevs, checked as
    /// bind checks them, less the display (the hook frees the console and its GPU on purpose).
    /// - Throws: `DevicesError` for a definition that cannot be parsed or passes no PCI device.
    public func singleGPURefusals(domainXML: [UInt8], guest: String, io: (any HostIO)? = nil) throws
        -> [GuardRefusal]
    {
        let io = io ?? self.io
        let domain = try XMLDocument(bytes: domainXML, source: "the definition of \(guest)").root
        let addresses = HookSteps.hostdevAddresses(domain)
        guard !addresses.isEmpty else {
            throw DevicesError(code: .invalidData, message: "\(guest) passes no PCI device through")
        }
        let options = BindOptions(only: true, force: true, waive: HookSteps.waived)
        let plan = try planBind(addresses.map { BindTarget.device(.address($0)) }, options: options, io: io)
        return plan.forced
    }

    /// Whether a guest's hook has prepared the host and not yet released it.
    public func isHookPrepared(guest: String) -> Bool {
        files.exists(files.path(HostPaths.hookState.appending(guest + ".json")))
    }
}

/// The steps of one hook run, saving what was done after every step.
struct HookSteps {
    let host: Host
    let guest: String
    let io: any HostIO
    let commands: any CommandRunner
    let statePath: FilePath
    let log: (String) -> Void
    var state = HookState()

    init(
        host: Host, guest: String, io: any HostIO, commands: any CommandRunner, statePath: FilePath,
        log: @escaping (String) -> Void
    ) {
        self.host = host
        self.guest = guest
        self.io = io
        self.commands = commands
        self.statePath = statePath
        self.log = log
    }

    var files: HostFiles { host.files }

    mutating func loadState() throws -> HookState? {
        guard let bytes = try files.read(statePath) else { return nil }
        guard let loaded = try? JSONCoding.decode(HookState.self, from: bytes) else {
            throw DevicesError(code: .invalidData, message: "\(statePath) is not a vfioctl hook state: remove it")
        }
        state = loaded
        return loaded
    }

    func save() throws {
        try AtomicFile.write(
            JSONCoding.encode(state), to: statePath, mode: 0o600, backup: false, within: host.sysroot)
    }

    // MARK: Prepare

    mutating func prepare(_ config: HookConfig, domain: XMLElement) throws {
        do {
            try Interruption.check()
            if config.isolateCPUs { try isolate(domain) }
            try Interruption.check()
            if config.hugepages { try reserveHugepages(domain) }
            try Interruption.check()
            if config.singleGPU { try freeGPU(domain) }
            log("\(guest): host prepared")
        } catch {
            log("\(guest): preparing failed, undoing what was done")
            try? release()
            throw error
        }
    }

    mutating func isolate(_ domain: XMLElement) throws {
        let guestCPUs = (domain.child("cputune")?.children("vcpupin") ?? []).flatMap {
            CPUList.parse($0.attribute("cpuset") ?? "") ?? []
        }
        guard !guestCPUs.isEmpty else {
            throw DevicesError(
                code: .invalidData,
                message: "\(guest) pins no vCPUs, so there is nothing to keep the host off", object: .request(.pin))
        }
        let online = try files.readText(files.path(HostPaths.cpus.appending("online"))).flatMap(CPUList.parse) ?? []
        let hostCPUs = online.filter { !guestCPUs.contains($0) }
        guard !hostCPUs.isEmpty else {
            throw DevicesError(code: .invalidData, message: "\(guest) pins every CPU of the host: leave the host some")
        }
        state.allCPUs = CPUList.format(online)
        for slice in Host.hostSlices {
            state.slices.append(slice)
            try save()
            try systemctl(["set-property", "--runtime", "--", slice, "AllowedCPUs=\(CPUList.format(hostCPUs))"])
        }
        log("\(guest): host tasks restricted to CPUs \(CPUList.format(hostCPUs))")
    }

    mutating func reserveHugepages(_ domain: XMLElement) throws {
        guard let kib = try DomainMerger.memoryKiB(of: domain) else {
            throw DevicesError(code: .invalidData, message: "\(guest) has no <memory> to size its hugepages by")
        }
        let page = domain.child("memoryBacking")?.child("hugepages")?.child("page")
        let pageKiB = try page.map(DomainMerger.pageKiB(of:)) ?? 2048
        let directory = HostPaths.hugepages.appending("hugepages-\(pageKiB)kB")
        let countFile = directory.appending("nr_hugepages")
        guard let current = try files.readText(files.path(countFile)).flatMap({ Int($0) }) else {
            throw DevicesError(code: .unavailable, message: "the host has no \(pageKiB) KiB hugepages (\(countFile))")
        }
        let free = try files.readText(files.path(directory.appending("free_hugepages"))).flatMap { Int($0) } ?? 0
        let needed = kib / pageKiB + (kib % pageKiB == 0 ? 0 : 1)
        guard free < needed else {
            log("\(guest): \(free) hugepages of \(pageKiB) KiB are free, \(needed) needed: nothing to reserve")
            return
        }
        // Freeing the page cache and compacting memory first makes room for large pages.
        try? io.write("3", to: files.path(HostPaths.dropCaches))
        try? io.write("1", to: files.path(HostPaths.compactMemory))
        let (target, overflow) = current.addingReportingOverflow(needed - max(free, 0))
        guard !overflow, current >= 0 else {
            throw DevicesError(
                code: .invalidData,
                message: "\(countFile) holds \(current): \(needed) more hugepages cannot be added to that count")
        }
        state.hugepagesFile = countFile.string
        state.hugepagesBefore = current
        try save()
        try io.write(String(target), to: files.path(countFile))
        let now = try files.readText(files.path(countFile)).flatMap { Int($0) } ?? current
        guard now >= target else {
            throw DevicesError(
                code: .unavailable,
                message:
                    "could reserve only \(now - current) of \(needed - free) hugepages of \(pageKiB) KiB for \(guest): "
                    + "free memory first, or reserve them at boot (hugepages=\(needed) on the kernel command line)")
        }
        log("\(guest): reserved \(needed - free) hugepages of \(pageKiB) KiB (\(current) → \(now))")
    }

    /// The guards a single-GPU hook does not apply: it lets go of the console and its GPU itself.
    static let waived: Set<GuardRefusal.Kind> = [.bootGPU, .consoleGPU, .gpuInUse]

    /// The host addresses of a definition's PCI hostdevs.
    static func hostdevAddresses(_ domain: XMLElement) -> [PCIAddress] {
        (domain.child("devices")?.children("hostdev") ?? []).filter { $0.attribute("type") == "pci" }
            .compactMap { $0.child("source")?.child("address").flatMap(GuestPCIAddress.init) }
            .compactMap {
                PCIAddress(
                    domain: UInt32($0.domain), bus: UInt8($0.bus), device: UInt8($0.slot), function: UInt8($0.function))
            }
    }

    mutating func freeGPU(_ domain: XMLElement) throws {
        let addresses = Self.hostdevAddresses(domain)
        guard !addresses.isEmpty else {
            throw DevicesError(
                code: .invalidData, message: "\(guest) passes no PCI device through", object: .request(.gpuMissing))
        }
        let report = try host.report()
        let drivers = Set(addresses.compactMap { report.device(at: $0)?.driver })
        // 1. The display manager lets go of the GPU.
        if host.files.program("systemctl") != nil {
            if try commands.run("systemctl", ["is-active", "--quiet", "display-manager.service"]).status == 0 {
                state.displayManagerStopped = true
                try save()
                try systemctl(["stop", "display-manager.service"])
                log("\(guest): stopped the display manager")
            }
        } else {
            log("\(guest): no systemctl: no display manager to stop")
        }
        // 2. Virtual consoles and 3. the firmware framebuffer let go of it too.
        for name in (try files.list(files.path(HostPaths.vtconsoles)) ?? []).sorted() where name.hasPrefix("vtcon") {
            let bind = HostPaths.vtconsoles.appending(name).appending("bind")
            guard try files.readText(files.path(bind)) == "1" else { continue }
            state.vtconsoles.append(bind.string)
            try save()
            try io.write("0", to: files.path(bind))
        }
        for driver in ["efi-framebuffer", "simple-framebuffer", "vesa-framebuffer"] {
            let directory = HostPaths.platformDrivers.appending(driver)
            for entry in (try files.list(files.path(directory)) ?? []).sorted() where entry.hasPrefix(driver + ".") {
                state.framebuffers.append(driver + "/" + entry)
                try save()
                try io.write(entry, to: files.path(directory.appending("unbind")))
            }
        }
        if !state.vtconsoles.isEmpty || !state.framebuffers.isEmpty {
            log(
                "\(guest): released \(state.vtconsoles.count) console(s) and \(state.framebuffers.count) framebuffer(s)"
            )
        }
        // 4. The GPU driver goes away, top module first.
        for driver in drivers.sorted() {
            for module in Host.gpuModules[driver] ?? []
            where files.exists(files.path(HostPaths.modules.appending(module))) {
                try Interruption.check()
                state.modules.append(module)
                try save()
                let result = try commands.run("modprobe", ["-r", module])
                guard result.status == 0 else {
                    throw DevicesError(
                        code: .conflict,
                        message: "cannot unload \(module) for \(guest): "
                            + result.output.trimmingWhitespace().split(separator: "\n").joined(separator: " ")
                            + " (something still uses the GPU)")
                }
                log("\(guest): unloaded \(module)")
            }
        }
        // 5. vfio-pci takes every function.
        // The same guards as bind, less the display: the console and its GPU were let go of above, on purpose.
        let targets = addresses.map { BindTarget.device(.address($0)) }
        let options = BindOptions(only: true, waive: Self.waived, owner: .guest(guest))
        let plan = try host.planBind(targets, options: options, io: io)
        state.functions = plan.functions.map(\.description)
        try save()
        _ = try host.bind(plan, options: options, io: io)
        log("\(guest): bound \(plan.functions.map(\.description).joined(separator: ", ")) to vfio-pci")
    }

    func systemctl(_ arguments: [String]) throws {
        let result = try commands.run("systemctl", arguments)
        guard result.status == 0 else {
            throw DevicesError(
                code: .unavailable,
                message: "systemctl \(arguments.joined(separator: " ")) failed: "
                    + result.output.trimmingWhitespace().split(separator: "\n").joined(separator: " "))
        }
    }

    // MARK: Release

    /// Undoes the recorded steps in reverse (the GPU's driver is loaded before the card returns to it); every
    /// step is tried even when one fails, a step undone leaves the record, and the steps that failed stay in it
    /// for the next release or `recover`.
    mutating func release() throws {
        guard try loadState() != nil || !isEmpty else {
            log("\(guest): nothing to release")
            return
        }
        var problems: [String] = []
        func attempt(_ what: String, _ body: () throws -> Void) -> Bool {
            do {
                try body()
                return true
            } catch let error as DevicesError {
                problems.append("\(what): \(error.message)")
            } catch { problems.append("\(what): \(error)") }
            return false
        }
        for module in state.modules.reversed() {
            let loaded = attempt("load \(module)") {
                let result = try commands.run("modprobe", [module])
                if result.status != 0 {
                    throw DevicesError(code: .unavailable, message: result.output.trimmingWhitespace())
                }
            }
            if loaded { state.modules.removeAll { $0 == module } }
        }
        try? save()
        // The functions the hook recorded, and any the journal names as this guest's (a prepare killed mid-bind).
        var functions = state.functions.compactMap(PCIAddress.init)
        for record in (try? Journal.load(files))?.records ?? [] where record.owner == .guest(guest) {
            if !functions.contains(record.address) { functions.append(record.address) }
        }
        if !functions.isEmpty {
            _ = attempt("return the GPU") {
                let outcomes = try host.unbind(functions, io: io)
                var left: [String] = []
                for outcome in outcomes where outcome.result != .unbound {
                    problems.append("\(outcome.address): \(outcome.detail ?? outcome.result.rawValue)")
                    left.append(outcome.address.description)
                }
                state.functions = left
            }
        }
        try? save()
        for framebuffer in state.framebuffers.reversed() {
            let parts = framebuffer.split(separator: "/").map(String.init)
            guard parts.count == 2 else { continue }
            let bound = attempt("bind \(framebuffer)") {
                try io.write(parts[1], to: files.path(HostPaths.platformDrivers.appending(parts[0]).appending("bind")))
            }
            if bound { state.framebuffers.removeAll { $0 == framebuffer } }
        }
        for bind in state.vtconsoles.reversed() {
            if attempt("bind \(bind)", { try io.write("1", to: files.path(FilePath(bind))) }) {
                state.vtconsoles.removeAll { $0 == bind }
            }
        }
        if state.displayManagerStopped {
            if attempt("start the display manager", { try systemctl(["start", "display-manager.service"]) }) {
                state.displayManagerStopped = false
            }
        }
        if let file = state.hugepagesFile, let before = state.hugepagesBefore {
            if attempt("return the hugepages", { try io.write(String(before), to: files.path(FilePath(file))) }) {
                state.hugepagesFile = nil
                state.hugepagesBefore = nil
            }
        }
        if let all = state.allCPUs {
            for slice in state.slices.reversed() {
                let given = attempt("give \(slice) every CPU") {
                    try systemctl(["set-property", "--runtime", "--", slice, "AllowedCPUs=\(all)"])
                }
                if given { state.slices.removeAll { $0 == slice } }
            }
            if state.slices.isEmpty { state.allCPUs = nil }
        }
        guard problems.isEmpty else {
            try save()
            throw DevicesError(
                code: .io,
                message: "\(guest): released with problems (kept in \(files.hostPath(statePath))): "
                    + problems.joined(separator: "; "))
        }
        _ = files.unlink(statePath)
        state = HookState()
        log("\(guest): host restored")
    }

    var isEmpty: Bool {
        !state.displayManagerStopped && state.vtconsoles.isEmpty && state.framebuffers.isEmpty && state.modules.isEmpty
            && state.functions.isEmpty && state.hugepagesFile == nil && state.slices.isEmpty
    }
}
