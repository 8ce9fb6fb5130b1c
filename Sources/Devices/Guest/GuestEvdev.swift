import SystemPackage

extension DomainMerger {
    /// One evdev device to give the guest.
    struct EvdevDevice {
        var path: String
        var isKeyboard: Bool
        var id: String
    }

    /// The devices an evdev request names: `auto`'s keyboard and mouse, or the given paths, classified.
    mutating func evdevDevices(_ request: GuestRequest.Evdev) throws -> [EvdevDevice] {
        let inventory = try host.inputDevices()
        if request.paths.isEmpty {
            guard let keyboard = inventory.keyboard, let mouse = inventory.mouse else {
                throw DevicesError(
                    code: .notFound,
                    message: "no " + (inventory.keyboard == nil ? "keyboard" : "mouse")
                        + " found to share with the guest", object: .request(.evdev))
            }
            for device in [keyboard, mouse] where device.stablePath == nil {
                notes.append("\(device.eventPath) has no stable link: its number may change at the next boot")
            }
            return [
                EvdevDevice(path: keyboard.stablePath ?? keyboard.eventPath, isKeyboard: true, id: "vfioctl-kbd"),
                EvdevDevice(path: mouse.stablePath ?? mouse.eventPath, isKeyboard: false, id: "vfioctl-mouse"),
            ]
        }
        var result: [EvdevDevice] = []
        for path in request.paths {
            guard path.hasPrefix("/dev/input/") else {
                throw DevicesError(
                    code: .invalidArgument,
                    message: "'\(path)' is not an input device path (/dev/input/by-id/…)", object: .inputDevice(path))
            }
            guard host.files.entryExists(host.files.path(FilePath(path))) else {
                throw DevicesError(
                    code: .notFound, message: "no input device \(path)", object: .inputDevice(path))
            }
            let match = inventory.devices.first {
                $0.eventPath == path || $0.stablePath == path || $0.byID.contains(path) || $0.byPath.contains(path)
            }
            if match?.stablePath == nil || path.hasPrefix("/dev/input/event") {
                if let stable = match?.stablePath, stable != path {
                    notes.append("\(path) changes between boots: \(stable) names the same device for good")
                }
            }
            let isKeyboard = match?.kinds.contains("keyboard") ?? false
            result.append(EvdevDevice(path: path, isKeyboard: isKeyboard, id: ""))
        }
        // The keyboard carries the grab toggle and grab_all; without one, the first device carries them.
        let toggler = result.firstIndex(where: \.isKeyboard) ?? 0
        if !result.contains(where: \.isKeyboard) {
            notes.append(
                "none of the devices is a keyboard: the grab toggle goes on \(result[0].path); make sure a keyboard "
                    + "stays with the host")
        }
        var keyboards = 0
        var others = 0
        for index in result.indices {
            if index == toggler {
                result[index].isKeyboard = true
                result[index].id = keyboards == 0 ? "vfioctl-kbd" : "vfioctl-kbd\(keyboards)"
                keyboards += 1
            } else {
                result[index].isKeyboard = false
                result[index].id = others == 0 ? "vfioctl-mouse" : "vfioctl-input\(others)"
                others += 1
            }
        }
        return result
    }

    /// Whether an argument value is one of vfioctl's `input-linux` objects.
    static func isEvdevArgument(_ value: String) -> Bool {
        value.hasPrefix("input-linux,") && (objectID(value)?.hasPrefix("vfioctl-") ?? false)
    }

    /// The evdev path of an `input-linux` argument value (commas undoubled).
    static func evdevPath(_ value: String) -> String? {
        guard value.hasPrefix("input-linux,"), let range = value.firstRange(of: ",evdev=") else { return nil }
        var path = ""
        var rest = value[range.upperBound...]
        while let character = rest.first {
            rest = rest.dropFirst()
            if character == "," {
                guard rest.first == "," else {
                    break
                }
                path.append(",")
                rest = rest.dropFirst()
            } else {
                path.append(character)
            }
        }
        return path
    }

    /// Native evdev inputs vfioctl added (their alias starts with `ua-vfioctl-`).
    var nativeEvdevInputs: [XMLElement] {
        (devices?.children("input") ?? []).filter {
            $0.attribute("type") == "evdev" && ($0.child("alias")?.attribute("name")?.hasPrefix("ua-vfioctl-") ?? false)
        }
    }

    mutating func attachEvdev(_ request: GuestRequest.Evdev) throws {
        guard EvdevArguments.grabToggles.contains(request.grabToggle) else {
            throw DevicesError(
                code: .invalidArgument,
                message: "'\(request.grabToggle)' is not a grab toggle QEMU knows: "
                    + EvdevArguments.grabToggles.joined(separator: ", "))
        }
        var chosen = try evdevDevices(request)
        // A device the user already passes (their own input-linux object or <input type='evdev'>) is not added
        // twice: two grabs of one device fail.
        var userPaths: [String: String] = [:]
        for argument in arguments {
            let value = argument.attribute("value") ?? ""
            if !Self.isEvdevArgument(value), let path = Self.evdevPath(value) {
                userPaths[path] = "the <qemu:arg> \(Self.objectID(value).map { "id=\($0)" } ?? value)"
            }
        }
        for input in devices?.children("input") ?? [] where input.attribute("type") == "evdev" {
            let alias = input.child("alias")?.attribute("name") ?? ""
            if !alias.hasPrefix("ua-vfioctl-"), let path = input.child("source")?.attribute("dev") {
                userPaths[path] = "an <input type='evdev'> (line \(input.line))"
            }
        }
        chosen = chosen.filter { device in
            guard let owner = userPaths[device.path] else { return true }
            notes.append("\(device.path) is already given to the guest by \(owner): not added twice")
            return false
        }
        switch request.style {
        case .commandline:
            for input in nativeEvdevInputs { dropElement(input) }
            var values: [String] = []
            for device in chosen {
                var value = "input-linux,id=\(device.id),evdev=\(EvdevArguments.escape(device.path))"
                if device.isKeyboard { value += ",grab_all=on,repeat=on,grab-toggle=\(request.grabToggle)" }
                values += ["-object", value]
            }
            // Objects vfioctl added earlier that are no longer chosen go.
            let ids = Set(chosen.map(\.id))
            removeArguments { Self.isEvdevArgument($0) && !ids.contains(Self.objectID($0) ?? "") }
            setArguments(values, matching: Self.isEvdevArgument)
            // qemu.conf advice only while its cgroup_device_acl lacks a chosen device (doctor's evdev-acl check).
            let acl = try existingACL()
            if chosen.contains(where: { !(acl?.contains($0.path) ?? false) }) {
                qemuConf = QEMUConf.aclBlock(existing: acl, adding: chosen.map(\.path))
                notes.append(
                    "QEMU opens the devices itself: add them to cgroup_device_acl in \(HostPaths.libvirtQEMUConf) "
                        + "(block below) and restart libvirt; press \(request.grabToggle) to switch between host and "
                        + "guest")
            } else {
                notes.append("press \(request.grabToggle) to switch keyboard and mouse between host and guest")
            }
        case .native:
            removeArguments(matching: Self.isEvdevArgument)
            let existing = nativeEvdevInputs
            let lastInput = devices?.children("input").last
            for device in chosen {
                let source =
                    device.isKeyboard
                    ? XMLFragment(
                        "source", ["dev": device.path, "grab": "all", "repeat": "on", "grabToggle": request.grabToggle])
                    : XMLFragment("source", ["dev": device.path])
                let alias = "ua-\(device.id)"
                let fragment = XMLFragment(
                    "input", ["type": "evdev"], children: [source, XMLFragment("alias", ["name": alias])])
                if let current = existing.first(where: { $0.child("alias")?.attribute("name") == alias }) {
                    // An input with vfioctl's alias is vfioctl's, recorded or not.
                    if !Self.matches(current, fragment), editor.replace(current, with: fragment) {
                        record(Record(.added, path(of: current)))
                    }
                } else {
                    addDevice(fragment, after: lastInput)
                }
            }
            let aliases = Set(chosen.map { "ua-\($0.id)" })
            for input in existing where !aliases.contains(input.child("alias")?.attribute("name") ?? "") {
                dropElement(input)
            }
            notes.append(
                "native evdev needs libvirt ≥ 7.6 (grabToggle) and cannot be hot-plugged; press \(request.grabToggle) "
                    + "to switch between host and guest")
        }
    }
}
