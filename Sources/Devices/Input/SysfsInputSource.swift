import SystemPackage

/// Where input devices come from: sysfs files under a sysroot, or libudev and libevdev on the real host.
protocol InputSource {
    /// Every evdev event node with its identity and capabilities, plus warnings naming paths.
    func devices() throws -> (devices: [RawInputDevice], warnings: [String])
}

/// Input devices read from sysfs: `/sys/class/input/eventN/device/{name,phys,uniq,id/*,capabilities/*}`.
///
/// Works on any tree, so it serves fake hosts in tests and saved host trees; it also backs the libudev source
/// when an event node cannot be opened.
struct SysfsInputSource: InputSource {
    let files: HostFiles

    func devices() throws -> (devices: [RawInputDevice], warnings: [String]) {
        let classDir = files.path(HostPaths.inputClass)
        guard let entries = try files.list(classDir) else { return ([], []) }
        var devices: [RawInputDevice] = []
        var warnings: [String] = []
        for entry in entries where entry.hasPrefix("event") {
            do {
                if let device = try read(entry) {
                    devices.append(device)
                } else {
                    warnings.append("skipping \(entry): \(classDir.appending(entry)) has no device (removed?)")
                }
            } catch let error as DevicesError {
                warnings.append("skipping \(entry): \(error.message)")
            }
        }
        return (devices, warnings)
    }

    /// Reads one event node's input device, or nil when its links dangle.
    func read(_ eventName: String) throws -> RawInputDevice? {
        let link = files.path(HostPaths.inputClass.appending(eventName).appending("device"))
        guard let inputDir = files.realPath(link) else { return nil }
        func text(_ name: String) throws -> String? {
            try files.readText(inputDir.pushing(FilePath(name)))
        }
        func hex(_ name: String) throws -> UInt16? {
            try text(name).flatMap { UInt16($0, radix: 16) }
        }
        let capabilities = try readCapabilities(inputDir)
        let physical = physicalDevice(of: inputDir)
        return RawInputDevice(
            eventName: eventName,
            name: try text("name") ?? eventName,
            phys: try text("phys").flatMap { $0.isEmpty ? nil : $0 },
            uniq: try text("uniq").flatMap { $0.isEmpty ? nil : $0 },
            bustype: try hex("id/bustype"),
            vendor: try hex("id/vendor"),
            product: try hex("id/product"),
            capabilities: capabilities,
            physicalDevice: files.hostPath(physical).string,
            sysfsPath: files.hostPath(inputDir).string,
            udevKinds: nil,
            udevBus: nil)
    }

    /// The capability bitmaps of an input device directory.
    func readCapabilities(_ inputDir: FilePath) throws -> InputCapabilities {
        var capabilities = InputCapabilities()
        func bitmap(_ name: String) throws -> BitSet {
            let path = inputDir.pushing(FilePath(name))
            guard let text = try files.readText(path), !text.isEmpty else { return BitSet() }
            guard let bits = BitSet(sysfsBitmap: text) else {
                throw DevicesError(code: .invalidData, message: "\(path) holds \"\(text.prefix(40))\", not a bitmap")
            }
            return bits
        }
        capabilities.events = try bitmap("capabilities/ev")
        capabilities.keys = try bitmap("capabilities/key")
        capabilities.relative = try bitmap("capabilities/rel")
        capabilities.absolute = try bitmap("capabilities/abs")
        capabilities.switches = try bitmap("capabilities/sw")
        capabilities.properties = try bitmap("properties")
        return capabilities
    }

    /// The physical device of an input device directory: the USB device it hangs off (the ancestor with
    /// `idVendor`), else its parent (a virtio device, a serio port, a platform device).
    func physicalDevice(of inputDir: FilePath) -> FilePath {
        let devicesRoot = files.path(HostPaths.sysDevices)
        var current = inputDir.removingLastComponent()
        while current.starts(with: devicesRoot) && current != devicesRoot {
            if files.exists(current.appending("idVendor")) && files.exists(current.appending("idProduct")) {
                return current
            }
            current = current.removingLastComponent()
        }
        return inputDir.removingLastComponent()
    }
}
