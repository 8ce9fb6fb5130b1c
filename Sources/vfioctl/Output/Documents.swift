import Devices

// The JSON documents of the commands whose result is not one library value. Every command prints exactly one
// object under --json; the README lists each one's top-level keys.

/// `show --json`: the devices the target names, the GPU verdicts among them and their IOMMU groups.
struct ShowDocument: Encodable {
    var devices: [PCIDevice]
    var gpus: [GPU]
    var groups: [IOMMUGroup]
}

/// `bind --json` and `unbind --json`: the writes (planned or made) and where each function ended up.
struct BindDocument: Encodable {
    /// True for --dry-run: nothing was changed.
    var dryRun: Bool
    /// The sysfs steps, in order.
    var steps: [SysfsStep]
    /// What happened to each function (absent for --dry-run).
    var functions: [FunctionOutcome]?
    /// Notes about the plan.
    var notes: [String]
    /// Guard refusals passed over with --force, one line each.
    var forced: [String]
}

/// `domains --json`.
struct DomainsDocument: Encodable {
    var uri: String
    var domains: [DomainSummary]
}

/// `vbios dump --json`.
struct ROMDumpDocument: Encodable {
    var device: PCIAddress
    var file: String
    var bytes: Int
    var check: VBIOSCheck
}

/// `vbios patch --json`.
struct ROMPatchDocument: Encodable {
    var input: String
    var output: String
    var strippedBytes: Int
    var check: VBIOSCheck
}

/// `attach`, `detach` and `xml` with --json: what changed and where it went.
struct GuestChangeDocument: Encodable {
    /// Whether the result differs from the original.
    var changed: Bool
    /// Where the result went: a file, `domain NAME at URI`, or standard output; absent when only printed.
    var destination: String?
    /// The backup of the previous file, when one was kept.
    var backup: String?
    /// Notes about the change.
    var notes: [String]
    /// Lines qemu.conf needs for the evdev devices, when any.
    var qemuConf: [String]?
    /// The unified diff, with --print-diff.
    var diff: String?
    /// The resulting XML, with --print-xml.
    var xml: String?
    /// The fragments of `xml`, each with where it goes.
    var sections: [Section]?

    /// One fragment of `xml`.
    struct Section: Encodable {
        /// Where it goes, as its comment says: `in <devices>`, `in <domain>, in place of its own <cpu> if it has one`.
        var place: String
        /// The fragment; empty for an attribute of `<domain>` itself, which `place` names.
        var xml: String
    }
}

/// `hooks install --json`: the files written (or that would be) and notes.
struct HookDocument: Encodable {
    struct File: Encodable {
        var path: String
        var content: String?
    }
    var guest: String
    var dryRun: Bool
    var removed: Bool
    var files: [File]
    var notes: [String]
}

/// `persist --json` (not a dry run): the plan and what was written and removed.
struct PersistDocument: Encodable {
    var plan: PersistPlan
    var written: [String]
    var removed: [String]
}

/// `mdev create --connect` and `mdev remove --connect` with --json: the node device libvirt defined or removed.
struct MdevNodeDeviceDocument: Encodable {
    var uri: String
    var name: String
    var uuid: String
    var parent: PCIAddress?
    var type: String?
    var autostart: Bool?
}
