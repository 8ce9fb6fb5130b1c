import Devices
import Glibc
import SystemPackage

/// The value of `--NAME VALUE` or `--NAME=VALUE` among the words typed so far.
private func typedValue(_ words: [String], _ names: [String]) -> String? {
    for (index, word) in words.enumerated() {
        for name in names {
            if word == name, index + 1 < words.count { return words[index + 1] }
            if word.hasPrefix(name + "=") { return String(word.dropFirst(name.count + 1)) }
        }
    }
    return nil
}

/// Device targets of the host the typed words name: addresses, vendor:device pairs and gpu:N.
@Sendable func completeTargets(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
    let root = typedValue(words, ["--sysroot"]) ?? getenv("VFIOCTL_SYSROOT").map { String(cString: $0) } ?? "/"
    let host = Host(sysroot: Sysroot(FilePath(root.isEmpty ? "/" : root)))
    guard let report = try? host.report() else { return [] }
    var names = report.devices.filter { !$0.isBridge }.map(\.address.description)
    names += (report.gpus.indices).map { "gpu:\($0 + 1)" }
    names += Set(report.devices.filter { !$0.isBridge }.map(\.ids)).sorted()
    return names.filter { $0.hasPrefix(prefix) }
}

/// The guests of the libvirt the typed words name (`-c`/`--connect`, else `LIBVIRT_DEFAULT_URI`), as virsh
/// completes them.
@Sendable func completeDomains(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
    let uri =
        typedValue(words, ["--connect", "-c"]) ?? getenv("LIBVIRT_DEFAULT_URI").map { String(cString: $0) }
        ?? "qemu:///system"
    guard let connection = try? LibvirtConnection(uri: uri), let domains = try? connection.domains() else { return [] }
    return domains.map(\.name).filter { $0.hasPrefix(prefix) }.sorted()
}
