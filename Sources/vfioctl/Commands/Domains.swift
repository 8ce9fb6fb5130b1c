import ArgumentParser
import Devices

extension VFIOCtl {
    struct Domains: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "domains",
            abstract: "List libvirt guests with the devices, shared memory, evdev input and tuning each one has.",
            discussion: """
                Reads every guest's persistent definition through libvirt (--connect, default qemu:///system, \
                or LIBVIRT_DEFAULT_URI) and shows what passthrough it carries and whether vfioctl manages any \
                of it.
                """)

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            try global.requireNoHostTree("domains")
        }

        func run() throws {
            try reportingFailures {
                let connection = try LibvirtConnection(uri: global.uri)
                var summaries: [DomainSummary] = []
                for domain in try connection.domains() {
                    summaries.append(try DomainSummary(name: domain.name, isActive: domain.isActive, xml: domain.xml))
                }
                if global.json {
                    try printJSON(DomainsDocument(uri: global.uri, domains: summaries))
                    return
                }
                guard !summaries.isEmpty else {
                    print("no guests at \(global.uri)")
                    return
                }
                var table = Table("NAME", "STATE", "VFIOCTL", "HOSTDEVS", "SHMEM", "EVDEV", "TUNING")
                for summary in summaries {
                    table.add([
                        summary.name, summary.isActive ? "running" : "shut off", summary.managedByVfioctl ? "yes" : "-",
                        summary.hostdevs.isEmpty ? "-" : summary.hostdevs.map(\.description).joined(separator: " "),
                        summary.sharedMemory.isEmpty
                            ? "-"
                            : summary.sharedMemory.map { region in
                                region.sizeMiB.map { "\(region.name) (\($0) MiB)" } ?? region.name
                            }.joined(separator: ", "),
                        summary.evdev.isEmpty ? "-" : String(summary.evdev.count),
                        summary.tuning.isEmpty ? "-" : summary.tuning.map(\.rawValue).joined(separator: ","),
                    ])
                }
                print(table.render())
            }
        }
    }
}
