import Foundation
import TestSupport
import Testing

@testable import Devices

/// Sequences of `persist` and `--remove` over one host: whatever came before, a full `--remove` leaves every file of
/// the tree as it was, and after each step the files name exactly the devices persisted.
@Suite struct PersistSequenceTests {
    /// One call of `persist`.
    enum Step: Sendable, CustomTestStringConvertible {
        case persist(String, PersistMethod?, only: Bool)
        case remove(String?)

        var testDescription: String {
            switch self {
            case .persist(let target, let method, let only):
                "persist \(target)" + (method.map { " --method \($0)" } ?? "") + (only ? " --only" : "")
            case .remove(let target): "persist --remove" + (target.map { " " + $0 } ?? "")
            }
        }
    }

    /// The host's initramfs tool and what the user had before vfioctl.
    enum Setup: String, Sendable, CaseIterable {
        /// initramfs-tools and GRUB, the user's modules file and a modprobe.d file of theirs.
        case debian
        /// The same, the modules file without a final newline, and a file of the user's at vfioctl.conf's place.
        case debianWithUserFileAtVfioctlPlace
        /// dracut with a drop-in of the user's, and GRUB.
        case fedora
    }

    /// One sequence, always ending with a full `--remove`.
    struct Sequence: Sendable, CustomTestStringConvertible {
        var setup: Setup
        var steps: [Step]

        var testDescription: String {
            "\(setup): " + steps.map(\.testDescription).joined(separator: "; ")
        }
    }

    static let nvidia = "01:00.0"
    static let amd = "02:00.0"
    static let twin = "0a:00.0"

    /// The functions each target names as persist resolves it (a GPU brings its companions).
    static func functions(of target: String, only: Bool = false) -> Set<String> {
        switch target {
        case nvidia, "gpu:2": ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"]
        case amd: only ? ["0000:02:00.0"] : ["0000:02:00.0", "0000:02:00.1"]
        case twin: ["0000:0a:00.0"]
        case "10de:1f08": functions(of: nvidia).union(functions(of: twin))
        default: []
        }
    }

    /// The sequences named in the report of the bug, and others drawn from a fixed seed.
    static let sequences: [Sequence] = {
        let named: [[Step]] = [
            [.persist(nvidia, nil, only: false), .persist(amd, nil, only: false), .remove(nil)],
            [
                .persist(nvidia, nil, only: false), .persist(amd, nil, only: false), .persist(nvidia, nil, only: false),
                .remove(nil),
            ],
            [.persist(nvidia, .override, only: false), .persist(nvidia, .ids, only: false), .remove(nil)],
            [.persist(amd, .ids, only: false), .persist(amd, .override, only: false), .remove(nil)],
            [
                .persist(nvidia, nil, only: false), .persist(amd, nil, only: false), .remove(amd), .remove(nvidia),
                .remove(nil),
            ],
            [
                .persist(twin, nil, only: false), .persist("gpu:2", nil, only: false), .remove("10de:1f08"),
                .remove(nil),
            ],
            [.persist(amd, nil, only: true), .persist(amd, nil, only: false), .remove(nvidia), .remove(nil)],
        ]
        let pool: [Step] = [
            .persist(nvidia, nil, only: false), .persist(nvidia, .override, only: false),
            .persist(nvidia, .ids, only: false), .persist("gpu:2", nil, only: false), .persist(amd, nil, only: false),
            .persist(amd, nil, only: true), .persist(amd, .override, only: false), .persist(twin, nil, only: false),
            .persist(twin, .ids, only: false), .remove(nvidia), .remove(amd), .remove(twin), .remove("10de:1f08"),
            .remove(nil),
        ]
        var random = SplitMix64(seed: 0x7666_696f_6374_6c)
        var drawn: [[Step]] = []
        for _ in 0..<9 {
            let count = 1 + Int(random.next() % 6)
            drawn.append((0..<count).map { _ in pool[Int(random.next() % UInt64(pool.count))] } + [.remove(nil)])
        }
        return (named + drawn).enumerated().map { index, steps in
            Sequence(setup: Setup.allCases[index % Setup.allCases.count], steps: steps)
        }
    }()

    /// The workstation with a second card of the NVIDIA GPU's IDs (so ids= would take it too) and the user's files.
    private func host(_ setup: Setup) throws -> FakeHost {
        let fake = try FakeHost.workstation()
        try fake.add([
            FakePCIDevice(
                "0000:0a:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000, driver: "nvidia", group: 30)
        ])
        try fake.write("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"\n")
        try fake.write("/usr/sbin/update-grub", "")
        try fake.write(
            "/etc/modprobe.d/nvidia.conf", "options nvidia-drm modeset=1\nsoftdep snd_hda_intel pre: nvidia\n")
        switch setup {
        case .debian:
            try fake.write("/usr/sbin/update-initramfs", "")
            try fake.write("/etc/initramfs-tools/modules", "# List of modules for the initramfs.\nloop\n")
        case .debianWithUserFileAtVfioctlPlace:
            try fake.write("/usr/sbin/update-initramfs", "")
            try fake.write("/etc/initramfs-tools/modules", "# List of modules for the initramfs.\nloop")
            try fake.write("/etc/modprobe.d/vfioctl.conf", "# the user's own, from before vfioctl\n")
        case .fedora:
            try fake.write("/usr/bin/dracut", "")
            try fake.write("/etc/dracut.conf.d/lvm.conf", "add_dracutmodules+=\" lvm \"\n")
        }
        return fake
    }

    @Test("after any sequence a full --remove leaves the tree as it was", arguments: sequences)
    func sequence(_ sequence: Sequence) throws {
        let fake = try host(sequence.setup)
        let host = fake.host
        let original = try fake.snapshot()
        var model: Set<String> = []
        for step in sequence.steps {
            let before = try fake.snapshot()
            let plan: PersistPlan
            switch step {
            case .persist(let target, let method, let only):
                plan = try host.planPersist(
                    [try #require(BindTarget(target))], options: BindOptions(only: only), method: method, remove: false)
                model.formUnion(Self.functions(of: target, only: only))
            case .remove(let target?):
                let named = Self.functions(of: target).intersection(model)
                guard !named.isEmpty else {
                    #expect(throws: DevicesError.self, "\(step.testDescription)") {
                        try host.planPersist(
                            [try #require(BindTarget(target))], options: BindOptions(), method: nil, remove: true)
                    }
                    continue
                }
                plan = try host.planPersist(
                    [try #require(BindTarget(target))], options: BindOptions(), method: nil, remove: true)
                model.subtract(named)
            case .remove(nil):
                plan = try host.planPersist([], options: BindOptions(), method: nil, remove: true)
                model = []
            }
            #expect(FakeHost.differences(before, try fake.snapshot()) == [], "planning wrote: \(step.testDescription)")
            #expect(Set(plan.persisted.map(\.address.description)) == model, "\(step.testDescription)")
            _ = try host.applyPersist(plan)
            try checkFiles(fake, plan: plan, step: step, original: original)
        }
        let after = try fake.snapshot()
        #expect(FakeHost.differences(original, after) == [])
        for case (let path, .file(let bytes)) in after {
            #expect(!String(decoding: bytes, as: UTF8.self).contains("vfio-pci ids="), "\(path)")
        }
    }

    /// The files name exactly the persisted functions: the ids= line the IDs persisted by ID, the udev rule the
    /// addresses persisted by address; nothing of vfioctl's is left when nothing is persisted.
    private func checkFiles(
        _ fake: FakeHost, plan: PersistPlan, step: Step, original: [String: TreeEntry]
    ) throws {
        let current = try fake.snapshot()
        for path in current.keys where path.hasSuffix(".bak") || (path as NSString).lastPathComponent.hasPrefix(".") {
            Issue.record("\(path) left by \(step.testDescription)")
        }
        guard !plan.persisted.isEmpty else {
            #expect(FakeHost.differences(original, current) == [], "\(step.testDescription)")
            return
        }
        let modprobe = try #require(text(current["/etc/modprobe.d/vfioctl.conf"]))
        let ids = Set(plan.persisted.filter { $0.method == .ids }.map(\.idsText))
        let line = modprobe.split(separator: "\n").first { $0.hasPrefix("options vfio-pci ids=") }
        #expect(Set(line?.dropFirst(21).split(separator: ",").map(String.init) ?? []) == ids, "\(step.testDescription)")
        let rule = text(current["/etc/udev/rules.d/80-vfioctl.rules"]) ?? ""
        for function in plan.persisted {
            #expect(modprobe.contains("#   \(function.address) "))
            #expect(rule.contains("KERNEL==\"\(function.address)\"") == (function.method == .override))
        }
        for address in ["0000:01:00.0", "0000:02:00.0", "0000:0a:00.0"]
        where !plan.persisted.contains(where: { $0.address.description == address }) {
            #expect(!modprobe.contains(address) && !rule.contains(address), "\(address) after \(step.testDescription)")
        }
    }

    private func text(_ entry: TreeEntry?) -> String? {
        guard case .file(let bytes) = entry else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A small deterministic generator (Steele, Lea and Flood's SplitMix64), so every run draws the same sequences.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
