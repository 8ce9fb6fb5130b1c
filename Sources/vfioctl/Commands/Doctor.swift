import ArgumentParser
import Devices

extension VFIOCtl {
    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check everything GPU passthrough needs, one line each: OK, WARN or FAIL with the fix.",
            discussion: """
                Checks the IOMMU, interrupt remapping, the kernel command line, KVM, the vfio modules, \
                hugepages, every GPU's IOMMU group, ROM and reset, QEMU/libvirt and OVMF, and whether \
                qemu.conf lets QEMU open the keyboard and mouse. It only reads; nothing on the host changes.

                Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: ArgumentHelp("Check evdev access for this user.", valueName: "name"))
        var user: String?

        func run() throws {
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
    }
}
