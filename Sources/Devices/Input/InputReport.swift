import SystemPackage

/// The host's evdev input devices and what a guest should take.
public struct InputReport: Sendable, Codable, Hashable {
    /// Every event node, in event-number order.
    public var devices: [InputDevice]
    /// The user the permission checks are for, when given.
    public var user: String?
    /// Whether that user is in the `input` group (`/etc/group`); nil when unknown.
    public var userInInputGroup: Bool?
    /// The QEMU arguments (`-object input-linux,…`) that pass the auto-selected keyboard and mouse, with the grab
    /// toggle; empty when there is no keyboard or mouse to pass.
    public var qemuArguments: [String]
    /// Things that went wrong while reading, each naming a path.
    public var warnings: [String]

    /// The auto-selected keyboard, if any.
    public var keyboard: InputDevice? { devices.first { $0.autoSelected && $0.kinds.contains("keyboard") } }
    /// The auto-selected mouse, if any.
    public var mouse: InputDevice? { devices.first { $0.autoSelected && $0.kinds.contains("mouse") } }
}

/// Builds the input report: links, grouping, selection and permissions on top of an `InputSource`.
struct InputInventory {
    let files: HostFiles
    let source: any InputSource

    func report(user: String?) throws -> InputReport {
        let (raws, warnings) = try source.devices()
        let byID = try links(HostPaths.inputByID)
        let byPath = try links(HostPaths.inputByPath)
        let acl = try qemuDeviceACL()
        var devices: [InputDevice] = raws.map { raw in
            let kinds = raw.capabilities.kinds
            let ids = byID[raw.eventName] ?? []
            let paths = byPath[raw.eventName] ?? []
            let stable = Self.pick(ids, for: kinds) ?? Self.pick(paths, for: kinds)
            let bus = Self.busName(raw)
            let eventPath = HostPaths.inputNodes.appending(raw.eventName).string
            // uinput devices (remappers, virtual keyboards) live under /sys/devices/virtual; so do Bluetooth LE
            // keyboards and mice, which bluez creates through uhid, and those are real.
            let isVirtual =
                raw.sysfsPath.hasPrefix(HostPaths.virtualDevices.string + "/") && !raw.sysfsPath.contains("/misc/uhid/")
            var notes: [String] = []
            if bus == "bluetooth" {
                notes.append(
                    "Bluetooth devices get no /dev/input/by-id link (udev skips them)"
                        + (stable == nil ? "" : "; using its by-path link"))
            }
            if stable == nil {
                notes.append("no stable link: \(eventPath) can change at the next boot; find it again by its name")
            }
            if isVirtual {
                notes.append("a virtual device (uinput or a remapper), not hardware")
            }
            return InputDevice(
                eventPath: eventPath, stablePath: stable, name: raw.name, kinds: kinds, udevKinds: raw.udevKinds,
                bus: bus, physicalDevice: raw.physicalDevice, autoSelected: false, byID: ids, byPath: paths,
                phys: raw.phys, uniq: raw.uniq, vendorID: raw.vendor.map { hex($0, width: 4) },
                productID: raw.product.map { hex($0, width: 4) }, isVirtual: isVirtual,
                allowedByQEMUConf: acl.map { $0.contains(stable ?? eventPath) }, notes: notes,
                capabilitiesFrom: raw.capabilitiesFrom)
        }
        let siblings = Dictionary(grouping: devices.indices, by: { devices[$0].physicalDevice })
        for index in devices.indices {
            let others = (siblings[devices[index].physicalDevice] ?? []).filter { $0 != index }
            guard !others.isEmpty else { continue }
            let described = others.map { "\(devices[$0].eventPath) (\(devices[$0].kinds.joined(separator: "+")))" }
            devices[index].notes.append("same physical device as " + described.joined(separator: ", "))
        }
        if let keyboard = select("keyboard", avoiding: "mouse", in: devices, siblings: siblings) {
            devices[keyboard].autoSelected = true
        }
        if let mouse = select("mouse", avoiding: "keyboard", in: devices, siblings: siblings) {
            devices[mouse].autoSelected = true
        }
        var report = InputReport(
            devices: devices, user: user, userInInputGroup: try user.flatMap(isInInputGroup), qemuArguments: [],
            warnings: warnings)
        if let keyboard = report.keyboard, let mouse = report.mouse {
            report.qemuArguments =
                EvdevArguments(
                    keyboard: keyboard.stablePath ?? keyboard.eventPath, mouse: mouse.stablePath ?? mouse.eventPath
                ).commandLine
        }
        return report
    }

    /// Chooses the device a guest should take for `kind`: real hardware, a stable link, and a physical device
    /// that is not mainly the other kind (a gaming mouse's keyboard interface is not the keyboard).
    private func select(
        _ kind: String, avoiding other: String, in devices: [InputDevice], siblings: [String: [Int]]
    ) -> Int? {
        let candidates = devices.indices.filter { devices[$0].kinds.contains(kind) && !devices[$0].isVirtual }
        func score(_ index: Int) -> Int {
            let device = devices[index]
            var score = 0
            if device.stablePath != nil { score += 8 }
            let physicalKinds = (siblings[device.physicalDevice] ?? []).flatMap { devices[$0].kinds }
            if !physicalKinds.contains(other) { score += 4 }
            if let link = device.byID.first, !link.contains("-if") { score += 2 }
            if device.bus == "usb" || device.bus == "bluetooth" || device.bus == "i8042" { score += 1 }
            return score
        }
        return candidates.max { score($0) < score($1) || (score($0) == score($1) && $0 > $1) }
    }

    /// The best link of several for a device of these kinds: the one udev named after the kind.
    static func pick(_ links: [String], for kinds: [String]) -> String? {
        let suffix = kinds.contains("keyboard") ? "-event-kbd" : kinds.contains("mouse") ? "-event-mouse" : nil
        if let suffix, let match = links.first(where: { $0.hasSuffix(suffix) }) { return match }
        return links.first
    }

    /// The bus a node sits on, in words.
    static func busName(_ raw: RawInputDevice) -> String? {
        if let bus = raw.udevBus, !bus.isEmpty { return bus }
        if raw.sysfsPath.contains("/virtio") { return "virtio" }
        guard let bustype = raw.bustype else { return nil }
        switch bustype {
        case 0x01: return "pci"
        case 0x03: return "usb"
        case 0x05: return "bluetooth"
        case 0x06: return "virtual"
        case 0x10: return "isa"
        case 0x11: return "i8042"
        case 0x18: return "i2c"
        case 0x19: return "host"
        case 0x1C: return "spi"
        default: return "0x" + hex(bustype, width: 2)
        }
    }

    /// Maps `eventN` to the links in `directory` that point at it.
    private func links(_ directory: FilePath) throws -> [String: [String]] {
        let rooted = files.path(directory)
        guard let names = try files.list(rooted) else { return [:] }
        var map: [String: [String]] = [:]
        for name in names {
            guard let target = files.linkName(rooted.appending(name)), target.hasPrefix("event") else { continue }
            map[target, default: []].append(directory.appending(name).string)
        }
        return map
    }

    /// The device paths `cgroup_device_acl` in qemu.conf allows; nil without a qemu.conf.
    private func qemuDeviceACL() throws -> Set<String>? {
        guard let text = try files.readText(files.path(HostPaths.libvirtQEMUConf)) else { return nil }
        return QEMUConf.deviceACL(text) ?? []
    }

    private func isInInputGroup(_ user: String) throws -> Bool? {
        guard let text = try files.readText(files.path(HostPaths.groups)) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, fields[0] == "input" else { continue }
            return fields[3].split(separator: ",").contains { $0 == user }
        }
        return false
    }
}

/// What vfioctl reads from libvirt's `qemu.conf`.
enum QEMUConf {
    /// The entries of an uncommented `cgroup_device_acl = [ … ]`, or nil when none is set.
    static func deviceACL(_ text: String) -> Set<String>? {
        var active = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            active += code + "\n"
        }
        guard let start = active.firstRange(of: "cgroup_device_acl") else { return nil }
        let rest = active[start.upperBound...]
        guard let open = rest.firstIndex(of: "["), let close = rest[open...].firstIndex(of: "]") else { return nil }
        let body = rest[rest.index(after: open)..<close]
        var entries: Set<String> = []
        for piece in body.split(separator: ",") {
            let trimmed = piece.trimmingCharacters()
            guard trimmed.count >= 2, trimmed.first == "\"", trimmed.last == "\"" else { continue }
            entries.insert(String(trimmed.dropFirst().dropLast()))
        }
        return entries
    }
}

extension Host {
    /// The host's evdev input devices: libudev and libevdev on the real host, sysfs files under another sysroot.
    /// - Parameter user: the user whose `input` group membership to check.
    /// - Returns: every event node, the auto-selected keyboard and mouse, and the QEMU arguments for them.
    /// - Throws: `DevicesError` when the sysroot or an input directory cannot be read.
    public func inputDevices(user: String? = nil) throws -> InputReport {
        try validate()
        let files = self.files
        let source: any InputSource =
            sysroot.isHostRoot ? UdevInputSource(files: files) : SysfsInputSource(files: files)
        return try InputInventory(files: files, source: source).report(user: user)
    }
}
