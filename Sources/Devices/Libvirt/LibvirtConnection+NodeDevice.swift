import CVirt
import Glibc

extension LibvirtConnection {
    /// Fails, naming the libvirt release a missing node-device call came with.
    private func require<T>(_ function: T?, _ name: String, since release: String) throws -> T {
        guard let function else {
            throw DevicesError(
                code: .unavailable,
                message: "the libvirt library here lacks \(name): mediated devices through libvirt need libvirt "
                    + "\(release) or newer; nothing was changed",
                object: .library("libvirt \(release)"))
        }
        return function
    }

    private func nodeDeviceFailure(_ what: String, _ name: String) -> DevicesError {
        let code = cvirt_last_error_code(api)
        return DevicesError(
            code: code == Int32(VIR_ERR_NO_NODE_DEVICE.rawValue)
                ? .notFound : code == Int32(VIR_ERR_NO_SUPPORT.rawValue) ? .unavailable : .io,
            message: "libvirt at \(uri), node device \(name): \(what): \(Self.lastError(api))")
    }

    /// Defines a mediated device in libvirt and starts it, with autostart when `persistent`; a failure at any step
    /// undoes the steps before it.
    /// - Returns: the name libvirt gave it.
    /// - Throws: `DevicesError` when the library lacks the calls (libvirt 7.3, 7.8 for autostart) or libvirt
    ///   refuses a step.
    public func defineMdev(_ device: MdevNodeDevice, persistent: Bool) throws -> String {
        let table = api.pointee
        let define = try require(table.nodeDeviceDefineXML, "virNodeDeviceDefineXML", since: "7.3")
        let create = try require(table.nodeDeviceCreate, "virNodeDeviceCreate", since: "7.3")
        let undefine = try require(table.nodeDeviceUndefine, "virNodeDeviceUndefine", since: "7.3")
        let free = try require(table.nodeDeviceFree, "virNodeDeviceFree", since: "7.3")
        let destroy = try require(table.nodeDeviceDestroy, "virNodeDeviceDestroy", since: "7.3")
        let autostart =
            persistent ? try require(table.nodeDeviceSetAutostart, "virNodeDeviceSetAutostart", since: "7.8") : nil
        guard let handle = define(connection, device.xml, 0) else {
            throw nodeDeviceFailure("libvirt refused the definition, nothing changed", device.name)
        }
        defer { _ = free(handle) }
        let name = table.nodeDeviceGetName?(handle).map { String(cString: $0) } ?? device.name
        guard create(handle, 0) == 0 else {
            let failure = nodeDeviceFailure("libvirt defined it but could not start it", name)
            let undone = undefine(handle, 0) == 0
            throw DevicesError(
                code: failure.code,
                message: failure.message
                    + (undone ? "; its definition was removed again" : "; removing its definition failed too"))
        }
        if let autostart, autostart(handle, 1) != 0 {
            let failure = nodeDeviceFailure("cannot set it to start at boot", name)
            let undone = destroy(handle) == 0 && undefine(handle, 0) == 0
            throw DevicesError(
                code: failure.code,
                message: failure.message
                    + (undone ? "; it was stopped and undefined again" : "; stopping and undefining it failed too"))
        }
        return name
    }

    /// Stops a mediated device libvirt knows and removes its definition.
    /// - Returns: the name libvirt knew it by.
    /// - Throws: `DevicesError` (`.notFound`) when libvirt knows no mediated device with that UUID, or libvirt's
    ///   refusal.
    public func removeMdev(uuid: String) throws -> String {
        let table = api.pointee
        let list = try require(table.connectListAllNodeDevices, "virConnectListAllNodeDevices", since: "0.10.2")
        let free = try require(table.nodeDeviceFree, "virNodeDeviceFree", since: "0.5")
        let getName = try require(table.nodeDeviceGetName, "virNodeDeviceGetName", since: "0.5")
        let destroy = try require(table.nodeDeviceDestroy, "virNodeDeviceDestroy", since: "0.6.5")
        let undefine = try require(table.nodeDeviceUndefine, "virNodeDeviceUndefine", since: "7.3")
        var devices: UnsafeMutablePointer<virNodeDevicePtr?>?
        let count = list(connection, &devices, UInt32(VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV.rawValue))
        guard count >= 0, let devices else {
            throw DevicesError(
                code: .unavailable,
                message: "libvirt at \(uri): cannot list the mediated devices: \(Self.lastError(api))")
        }
        defer {
            for index in 0..<Int(count) { if let device = devices[index] { _ = free(device) } }
            cvirt_free(devices)
        }
        let prefix = MdevNodeDevice.namePrefix(uuid: uuid)
        for index in 0..<Int(count) {
            guard let device = devices[index], let raw = getName(device) else { continue }
            let name = String(cString: raw)
            guard name == prefix || name.hasPrefix(prefix + "_") else { continue }
            // A defined device that is not running has nothing to stop.
            let active = table.nodeDeviceIsActive?(device) ?? 1
            if active == 1, destroy(device) != 0 { throw nodeDeviceFailure("cannot stop it", name) }
            guard undefine(device, 0) == 0 else {
                throw nodeDeviceFailure(
                    active == 1 ? "stopped, but cannot remove its definition" : "cannot remove its definition", name)
            }
            return name
        }
        throw DevicesError(
            code: .notFound, message: "libvirt at \(uri) knows no mediated device \(uuid.lowercased())",
            object: .request(.mdevLibvirt))
    }
}
