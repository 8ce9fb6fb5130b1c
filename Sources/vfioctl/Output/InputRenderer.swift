import Devices

/// Renders the input report as text.
struct InputRenderer {
    let report: InputReport

    func render() -> String {
        guard !report.devices.isEmpty else {
            return "no evdev input devices found (is the evdev module loaded? `modprobe evdev`)"
        }
        var table = Table("EVENT", "AUTO", "KINDS", "BUS", "PATH FOR A GUEST", "NAME")
        for device in report.devices {
            table.add([
                device.eventPath, device.autoSelected ? "yes" : "-",
                device.kinds.isEmpty ? "-" : device.kinds.joined(separator: ","), device.bus ?? "-",
                device.stablePath ?? "(none: \(device.eventPath))", device.name,
            ])
        }
        var lines = [table.render()]
        let noted = report.devices.filter { !$0.notes.isEmpty }
        if !noted.isEmpty {
            lines.append("")
            for device in noted {
                for note in device.notes { lines.append("\(device.eventPath): \(note)") }
            }
        }
        lines.append("")
        switch (report.keyboard, report.mouse) {
        case (let keyboard?, let mouse?):
            lines.append("--evdev auto takes keyboard \(keyboard.stablePath ?? keyboard.eventPath)")
            lines.append("                 and mouse \(mouse.stablePath ?? mouse.eventPath)")
            lines.append("QEMU arguments (press both Ctrl keys to switch between host and guest):")
            lines.append("  " + report.qemuArguments.joined(separator: " "))
            let denied = [keyboard, mouse].filter { $0.allowedByQEMUConf == false }
            if !denied.isEmpty {
                lines.append(
                    "qemu.conf's cgroup_device_acl does not list "
                        + denied.map { $0.stablePath ?? $0.eventPath }.joined(separator: " and ")
                        + ": add them there (with libvirt's defaults) for the qemu:commandline style")
            }
        case (nil, _):
            lines.append("--evdev auto finds no keyboard (one reporting keys Esc to S) to pass")
        case (_, nil):
            lines.append("--evdev auto finds no mouse (one reporting relative X/Y and a left button) to pass")
        }
        if let user = report.user, report.userInInputGroup == false {
            lines.append("\(user) is not in the input group: `usermod -aG input \(user)` to read event devices")
        }
        return lines.joined(separator: "\n")
    }
}
