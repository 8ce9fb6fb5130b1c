import ArgumentParser
import Devices

extension VFIOCtl {
    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "doctor",
            abstract: "Check everything GPU passthrough needs, one line each: OK, WARN or FAIL with the fix.",
            discussion: """
                Checks the IOMMU, interrupt remapping, the kernel command line, KVM, the vfio modules, \
                hugepages, every GPU's IOMMU group, ROM and reset, QEMU/libvirt and OVMF, and whether \
                qemu.conf lets QEMU open the keyboard and mouse. It only reads; nothing on the host changes.

                With --domain it judges one guest on this host instead: its hostdevs (present, group viable \
                at start, the card's companion functions, ROM file, boot framebuffer in a BAR, config space, \
                reset, large BARs), x-vga, hugepages, pinning, evdev inputs, shared memory, KVM hiding and the \
                IOMMU. --domain takes a libvirt guest's name, or a file (a path with / or ending in .xml, or - \
                for standard input). Over a remote --connect URI only what the XML shows is checked; each line \
                that needs the host says so.

                Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Check evdev access for this user.", valueName: "name"))
        var user: String?

        @Option(
            name: .customLong("domain"),
            help: ArgumentHelp(
                "Judge this guest (a libvirt name, or a domain XML file) on this host.", valueName: "name|file"),
            completion: .custom(completeDomains))
        var domain: String?

        @Option(
            name: .long,
            help: ArgumentHelp("With --domain: the guest's display resolution for Looking Glass.", valueName: "WxH"))
        var resolution: String?

        func validate() throws {
            if domain == nil, global.connect != nil { throw ValidationError("--connect goes with --domain NAME") }
            if domain == nil, resolution != nil { throw ValidationError("--resolution goes with --domain") }
        }

        func run() throws {
            if let domain {
                try runGuest(domain)
                return
            }
            var worst = Diagnosis.Status.ok
            try reportingFailures {
                let diagnosis = try global.host.diagnose(user: user ?? invokingUser())
                printWarnings(diagnosis.warnings)
                worst = diagnosis.worst
                if global.json {
                    try printJSON(diagnosis)
                } else {
                    print(DiagnosisRenderer(diagnosis: diagnosis, verbose: global.verbose).render())
                }
            }
            if worst == .fail { throw ExitCode(1) }
        }

        private func runGuest(_ domain: String) throws {
            var worst = Diagnosis.Status.ok
            try reportingFailures {
                let size = try resolution.map(SharedMemory.resolution)
                let isFile = domain == DomainFile.standardStream || domain.contains("/") || domain.hasSuffix(".xml")
                let diagnosis: GuestDiagnosis
                let fixTarget: String
                if isFile {
                    let document = try DomainFile.read(domain)
                    diagnosis = try global.host.diagnose(guest: document, resolution: size)
                    fixTarget = domain == DomainFile.standardStream ? "FILE --in-place" : "\(domain) --in-place"
                } else {
                    let uri = global.uri
                    let connection = try LibvirtConnection(uri: uri)
                    let document = try XMLDocument(
                        bytes: try connection.inactiveXML(of: domain), source: "domain \(domain) at \(uri)")
                    if let remote = remoteHost(uri) {
                        diagnosis = try GuestDiagnosis.domainOnly(
                            document, reason: "the host \(remote) is remote; vfioctl reads only the machine it runs on",
                            resolution: size)
                    } else {
                        diagnosis = try global.host.diagnose(guest: document, resolution: size)
                    }
                    fixTarget = "--domain \(domain)" + (global.connect.map { " --connect \($0)" } ?? "")
                }
                worst = diagnosis.worst
                let report = GuestDoctorReport(diagnosis, fixTarget: fixTarget)
                if global.json {
                    try printJSON(report)
                } else {
                    print(report.render())
                }
            }
            if worst == .fail { throw ExitCode(1) }
        }
    }
}

/// The host part of a libvirt URI (`qemu+ssh://host/system`), nil for a local one (`qemu:///system`).
func remoteHost(_ uri: String) -> String? {
    let parts = uri.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
    guard parts.count >= 3, parts[0].hasSuffix(":"), parts[1].isEmpty else { return nil }
    let authority = parts[2].prefix { $0 != "/" && $0 != "?" }
    let host = authority.split(separator: "@").last.map(String.init) ?? ""
    return host.isEmpty || host == "localhost" ? nil : host
}

/// `doctor --domain` as printed: one line per check, the fix beneath.
struct GuestDoctorReport: Encodable {
    /// One line.
    struct Line: Encodable {
        var id: String
        var status: String
        /// The host device, empty for the guest as a whole.
        var device: String
        var message: String
        /// The exact fix, empty when there is nothing to do.
        var fix: String
    }

    var domain: String
    var checks: [Line]
    var worst: String

    init(_ diagnosis: GuestDiagnosis, fixTarget: String) {
        domain = diagnosis.domain
        worst = diagnosis.worst.rawValue
        checks = diagnosis.checks.map { check in
            var fixes: [String] = []
            if let fix = check.fix { fixes.append(fix) }
            if !check.attach.isEmpty {
                fixes.append("`vfioctl attach \(fixTarget) " + check.attach.map(\.flag).joined(separator: " ") + "`")
            }
            if !check.bind.isEmpty {
                fixes.append("`vfioctl bind " + check.bind.map(\.description).joined(separator: " ") + "`")
            }
            return Line(
                id: check.id.rawValue, status: check.status.rawValue, device: check.device?.description ?? "",
                message: check.message, fix: check.status == .ok ? "" : fixes.joined(separator: "; or "))
        }
    }

    func render() -> String {
        let count = { (status: Diagnosis.Status) in self.checks.filter { $0.status == status.rawValue }.count }
        var lines = [
            "vfioctl doctor \(domain): \(count(.ok)) OK, \(count(.warn)) WARN, \(count(.fail)) FAIL", "",
        ]
        let width = checks.map(\.id.count).max() ?? 0
        for check in checks {
            let label = check.status.uppercased()
            let device = check.device.isEmpty ? "" : check.device + "  "
            lines.append(
                label + String(repeating: " ", count: 6 - label.count) + check.id
                    + String(repeating: " ", count: width - check.id.count + 2) + device + check.message)
            if !check.fix.isEmpty { lines.append("      fix: " + check.fix) }
        }
        return lines.joined(separator: "\n")
    }
}
