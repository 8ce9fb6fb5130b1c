import ArgumentParser
import Devices

/// The one wording of a device that cannot be parsed, for every command that takes devices.
func target(_ text: String) throws -> BindTarget {
    guard let target = BindTarget(text) else {
        throw ValidationError(
            "'\(text)' is not a device: use an address (0000:01:00.0, 01:00.0), vendor:device (10de:2484) or gpu:N")
    }
    return target
}

/// Parses several targets.
func targets(_ texts: [String]) throws -> [BindTarget] {
    try texts.map(target)
}

extension Host {
    /// The address of the one device `text` names on this host.
    func address(named text: String) throws -> PCIAddress {
        try report().device(named: target(text)).address
    }
}
