/// The CPU facts vfioctl reads from `/proc/cpuinfo`: the vendor and the first processor's flags.
struct CPUInfo {
    /// `intel`, `amd` (Hygon too), another `vendor_id`, or nil.
    var vendor: String?
    /// The first processor's flags.
    var flags: Set<String>
    /// The `hypervisor` flag is set.
    var isVirtualMachine: Bool { flags.contains("hypervisor") }

    init(files: HostFiles) throws {
        let text = try files.readText(files.path(HostPaths.cpuinfo)) ?? ""
        flags = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters()
            let value = parts[1].trimmingCharacters()
            if key == "vendor_id", vendor == nil {
                vendor =
                    switch value {
                    case "GenuineIntel": "intel"
                    case "AuthenticAMD", "HygonGenuine": "amd"
                    default: value
                    }
            }
            if key == "flags" {
                flags = Set(value.split(separator: " ").map(String.init))
                break
            }
        }
    }
}
