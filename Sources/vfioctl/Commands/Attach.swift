import ArgumentParser
import Devices
import Glibc
import SystemPackage

/// What to add to (or remove from) a domain: shared by attach, detach and xml.
struct GuestOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("A GPU with all its functions (address, vendor:device or gpu:N).", valueName: "target"),
        completion: .custom(completeTargets))
    var gpu: [String] = []

    @Option(
        name: .long, help: ArgumentHelp("Any other PCI device (address or vendor:device).", valueName: "target"),
        completion: .custom(completeTargets))
    var hostdev: [String] = []

    @Option(
        name: .long, help: ArgumentHelp("A ROM file for the GPU (checked against it first).", valueName: "file"),
        completion: .file())
    var rom: String?

    @Option(
        name: .customLong("rom-bar"), help: ArgumentHelp("Show the GPU's ROM BAR to the guest.", valueName: "on|off"),
        completion: .list(["on", "off"]))
    var romBar: String?

    @Option(
        name: .customLong("looking-glass"), defaultAsFlag: "1920x1080", parsing: .next,
        help: ArgumentHelp("Looking Glass shared memory for this resolution (default 1920x1080).", valueName: "WxH"))
    var lookingGlass: String? = nil

    @Flag(name: .long, help: "Size Looking Glass for HDR.")
    var hdr = false

    @Option(
        name: .customLong("lg-formula"), help: ArgumentHelp("Looking Glass size formula.", valueName: "current|b7"),
        completion: .list(["current", "b7"]))
    var lgFormula: String = "current"

    @Flag(name: .customLong("looking-glass-kvmfr"), help: "Looking Glass through the kvmfr module's /dev/kvmfr0.")
    var kvmfr = false

    @Flag(name: .long, help: "Scream's IVSHMEM audio device (2 MiB, never the size of another one).")
    var scream = false

    @Option(
        name: .long,
        help: ArgumentHelp("Keyboard and mouse through evdev: auto, or device paths.", valueName: "auto|path"))
    var evdev: [String] = []

    @Option(
        name: .customLong("evdev-style"),
        help: ArgumentHelp(
            "commandline (<qemu:commandline>, default) or native (<input type='evdev'>).", valueName: "style"),
        completion: .list(["commandline", "native"]))
    var evdevStyle: String = "commandline"

    @Option(
        name: .customLong("grab-toggle"),
        help: ArgumentHelp("Keys that switch input between host and guest.", valueName: "keys"))
    var grabToggle: String = "ctrl-ctrl"

    @Flag(name: .long, help: "All of the tuning below.")
    var tune = false

    @Flag(name: .long, help: "Back guest memory with hugepages.")
    var hugepages = false

    @Flag(name: .long, help: "Pin vCPUs, emulator and I/O thread from the host's topology; host-passthrough CPU.")
    var pin = false

    @Option(name: .long, help: ArgumentHelp("How many vCPUs to pin (default: what fits).", valueName: "n"))
    var vcpus: Int?

    @Flag(name: .long, help: "Hyper-V enlightenments and the hypervclock timer.")
    var hyperv = false

    @Flag(name: .long, help: "Hide KVM (<kvm><hidden/>) and set the Hyper-V vendor_id.")
    var hidden = false

    @Flag(name: .long, help: "Copy the host's SMBIOS strings into the guest.")
    var smbios = false

    @Flag(name: .long, help: "Allow the guest to suspend (<pm>).")
    var pm = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Set a QEMU property of a passed device through <qemu:override> (libvirt ≥ 8.2): bool, number or "
                + "text (detach: ADDRESS alone removes them all).",
            valueName: "address:property=value"))
    var override: [String] = []

    @Option(
        name: .customLong("laptop-gpu"),
        help: ArgumentHelp(
            "Give a mobile GPU the host card's subsystem IDs (x-pci-sub-vendor-id/-device-id overrides).",
            valueName: "target"))
    var laptopGPU: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A mediated device (GVT-g, vGPU): its UUID, or for attach a type to create one of (i915-GVTg_V5_4).",
            valueName: "uuid|type"))
    var mdev: [String] = []

    @Option(
        name: .customLong("mdev-display"),
        help: ArgumentHelp("display='on' for the --mdev devices (the guest needs a <graphics>).", valueName: "on|off"),
        completion: .list(["on", "off"]))
    var mdevDisplay: String?

    /// The `--mdev` values that name a type, not a UUID: attach creates a device of each.
    var mdevTypes: [String] { mdev.filter { !MdevUUID.isValid($0) } }

    /// Whether `--mdev-display on` was given.
    func isMdevDisplayOn() throws -> Bool {
        guard let mdevDisplay else { return false }
        guard mdevDisplay == "on" || mdevDisplay == "off" else {
            throw ValidationError("--mdev-display takes on or off, not '\(mdevDisplay)'")
        }
        if mdev.isEmpty { throw ValidationError("--mdev-display goes with --mdev") }
        return mdevDisplay == "on"
    }

    /// Refuses `--mdev TYPE` where no device may be created (detach, xml).
    func requireMdevUUIDs(_ command: String) throws {
        if let type = mdevTypes.first {
            throw ValidationError(
                "\(command) takes a mediated device's UUID, not '\(type)' (`vfioctl show PARENT` lists the devices)")
        }
    }

    /// The request the options describe.
    func request() throws -> GuestRequest {
        var request = GuestRequest()
        let display = try isMdevDisplayOn()
        request.mdevs = mdev.filter(MdevUUID.isValid).map { GuestRequest.Mdev(uuid: $0, display: display) }
        request.gpus = try gpu.map(target)
        request.hostdevs = try hostdev.map(target)
        request.romFile = rom
        if let romBar {
            guard romBar == "on" || romBar == "off" else {
                throw ValidationError("--rom-bar takes on or off, not '\(romBar)'")
            }
            request.romBar = romBar == "on"
        }
        guard let formula = SharedMemory.Formula(rawValue: lgFormula) else {
            throw ValidationError("--lg-formula takes current or b7, not '\(lgFormula)'")
        }
        if lookingGlass != nil || kvmfr || hdr {
            let size = try SharedMemory.resolution(lookingGlass ?? "1920x1080")
            request.lookingGlass = GuestRequest.LookingGlass(
                width: size.width, height: size.height, hdr: hdr, formula: formula, kvmfr: kvmfr)
        }
        request.scream = scream
        if !evdev.isEmpty {
            guard let style = GuestRequest.EvdevStyle(rawValue: evdevStyle) else {
                throw ValidationError("--evdev-style takes commandline or native, not '\(evdevStyle)'")
            }
            let paths = evdev == ["auto"] ? [] : evdev
            if paths.contains("auto") { throw ValidationError("--evdev auto cannot be combined with paths") }
            request.evdev = GuestRequest.Evdev(paths: paths, style: style, grabToggle: grabToggle)
        }
        request.tuning =
            tune
            ? GuestRequest.Tuning.all
            : GuestRequest.Tuning(
                hugepages: hugepages, pin: pin, hyperv: hyperv, hidden: hidden, smbios: smbios, pm: pm)
        request.tuning.vcpus = vcpus
        if vcpus != nil && !request.tuning.pin { throw ValidationError("--vcpus goes with --pin or --tune") }
        request.overrides = try override.map(Self.override)
        request.laptopGPUs = try laptopGPU.map(target)
        return request
    }

    /// Parses `ADDRESS:PROPERTY=VALUE`, or `ADDRESS` alone.
    static func override(_ text: String) throws -> GuestRequest.Override {
        let usage = "--override takes ADDRESS:PROPERTY=VALUE (0000:01:00.0:x-pci-sub-vendor-id=0x1025), not '\(text)'"
        guard let equals = text.firstIndex(of: "=") else {
            guard let address = PCIAddress(text) else { throw ValidationError(usage) }
            return GuestRequest.Override(device: address)
        }
        let left = text[..<equals]
        guard let colon = left.lastIndex(of: ":"), let address = PCIAddress(String(left[..<colon])) else {
            throw ValidationError(usage)
        }
        let property = String(left[left.index(after: colon)...])
        guard !property.isEmpty, property.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ValidationError(usage)
        }
        let value = GuestRequest.Override.Value(parsing: String(text[text.index(after: equals)...]))
        return GuestRequest.Override(device: address, property: property, value: value)
    }

    /// Whether the request sets QEMU overrides.
    var overrides: Bool { !override.isEmpty || !laptopGPU.isEmpty }
}

extension VFIOCtl.Attach {
    /// Refuses `<qemu:override>` on a libvirt older than 8.2; for a file, says the version is not known.
    func checkOverrideSupport() throws {
        guard let guest = source.guest else {
            printError(
                "note: libvirt's version is unknown for a file: <qemu:override> needs libvirt ≥ "
                    + "\(LibvirtVersion.qemuOverride) (`virsh version`)")
            return
        }
        let uri = global.uri
        let version = try LibvirtConnection(uri: uri).version()
        guard version >= LibvirtVersion.qemuOverride else {
            throw DevicesError(
                code: .unavailable,
                message: "libvirt at \(uri) is \(version): <qemu:override> for \(guest) needs "
                    + "\(LibvirtVersion.qemuOverride) or newer; upgrade libvirt or set the properties with "
                    + "<qemu:commandline> -set device.ALIAS.PROPERTY=VALUE by hand")
        }
    }
}

/// Refuses managed hostdevs the guards refuse (libvirt takes them from the host at every start), or warns when
/// forced.
func checkGuards(_ request: GuestRequest, host: Host, force: Bool) throws {
    let refusals = try host.passthroughRefusals(gpus: request.gpus, hostdevs: request.hostdevs)
    guard !refusals.isEmpty else { return }
    guard force else { throw GuardFailure(refusals: refusals) }
    GuardWords.print(refusals, forced: true)
}

/// Where a merged domain goes.
struct DestinationOptions: ParsableArguments {
    @Option(
        name: .shortAndLong,
        help: ArgumentHelp("Write the result to this file (- for standard output).", valueName: "file"),
        completion: .file())
    var output: String?

    @Flag(name: .customLong("in-place"), help: "Rewrite the domain file (atomically, keeping a .bak copy).")
    var inPlace = false

    @Flag(name: .customLong("print-diff"), help: "Print a unified diff; write nothing.")
    var printDiff = false

    @Flag(name: .customLong("print-xml"), help: "Print the result; write nothing.")
    var printXML = false

    @Flag(name: .long, help: "With --domain and a --print option: print, then define the guest as well.")
    var define = false

    /// Checks the choice for a file (exactly one destination) or a libvirt guest (define, or one of -o,
    /// --print-diff and --print-xml).
    func check(forGuest: Bool, fromStandardInput: Bool = false) throws {
        let chosen = [output != nil, inPlace, printDiff, printXML].filter { $0 }.count
        if define && !forGuest { throw ValidationError("--define goes with --domain NAME") }
        if forGuest {
            if define && output != nil { throw ValidationError("--define and -o cannot be combined") }
            if inPlace {
                throw ValidationError("--in-place is for files; with --domain the result is defined in libvirt")
            }
            if chosen > 1 { throw ValidationError("choose one of -o FILE, --print-diff and --print-xml") }
            return
        }
        if inPlace, fromStandardInput {
            throw ValidationError("--in-place needs a file: the domain comes from standard input (-)")
        }
        guard chosen == 1 else {
            throw ValidationError(
                chosen == 0
                    ? "say where the result goes: -o FILE, --in-place, --print-diff or --print-xml"
                    : "choose one of -o FILE, --in-place, --print-diff and --print-xml")
        }
    }
}

/// Where the domain comes from: a file or a libvirt guest.
struct DomainSource: ParsableArguments {
    @Argument(
        help: ArgumentHelp("The domain XML file, - for standard input (or --domain NAME).", valueName: "domain.xml"),
        completion: .file(extensions: ["xml"]))
    var file: String?

    @Option(
        name: .customLong("domain"), help: ArgumentHelp("A libvirt guest instead of a file.", valueName: "name"),
        completion: .custom(completeDomains))
    var guest: String?

    func check(_ destination: DestinationOptions) throws {
        switch (file, guest) {
        case (nil, nil): throw ValidationError("name a domain: a domain.xml file or --domain NAME")
        case (.some, .some): throw ValidationError("give either a domain.xml file or --domain NAME, not both")
        default: try destination.check(forGuest: guest != nil, fromStandardInput: file == DomainFile.standardStream)
        }
    }

    /// Runs a merge on the file or the guest.
    func run(_ destination: DestinationOptions, uri: String, merge: (XMLDocument, String) throws -> DomainChange) throws
    {
        if let guest {
            try runGuestMerge(uri: uri, name: guest, destination: destination, merge: merge)
        } else if let file {
            let label = file == DomainFile.standardStream ? "standard input" : file
            try runMerge(path: file, destination: destination) { try merge($0, label) }
        }
    }
}

/// The notes of a merge, one line each.
func notes(of change: DomainChange, schema: String) -> [String] {
    var lines = change.notes
    for part in change.unowned {
        lines.append(
            "nothing of vfioctl's to remove for \(part.flag)"
                + (change.isUnrecorded
                    ? " (the domain holds no record of what vfioctl added: only hostdevs of the named devices and "
                        + "vfioctl's own root ports and evdev inputs are removed without one)"
                    : ""))
    }
    if !DomainFile.schemaAvailable(schema) {
        lines.append(
            "libvirt's schema \(schema) is not installed: the result is checked as XML only; libvirt checks "
                + "the rest when it defines the domain")
    }
    return lines
}

/// The JSON of a merge's result.
func changeDocument(
    _ change: DomainChange, schema: String, destination: String? = nil, backup: String? = nil, diff: String? = nil,
    xml: Bool = false
) -> GuestChangeDocument {
    GuestChangeDocument(
        changed: change.changed, destination: destination, backup: backup, notes: notes(of: change, schema: schema),
        qemuConf: change.qemuConf.map { $0.split(separator: "\n").map(String.init) }, diff: diff,
        xml: xml ? String(decoding: change.bytes, as: UTF8.self) : nil)
}

/// Validates a merge and prints its notes and the qemu.conf lines it needs (under --json they go into the
/// result's document instead).
func check(_ change: DomainChange, original: XMLDocument, source: String, schema: String) throws {
    try DomainFile.validate(change, original: original, source: source, schema: schema)
    guard !Console.json else { return }
    for note in notes(of: change, schema: schema) { Console.note("note: \(note)") }
    if let block = change.qemuConf {
        printError("qemu.conf needs (in \(HostPaths.libvirtQEMUConf), then restart libvirt):")
        for line in block.split(separator: "\n") { printError("  " + line) }
    }
}

extension GuestPart {
    /// The option that names the part.
    var flag: String {
        switch self {
        case .gpu(let address): "--gpu \(address)"
        case .hostdev(let address): "--hostdev \(address)"
        case .lookingGlass: "--looking-glass"
        case .scream: "--scream"
        case .evdev: "--evdev"
        case .hugepages: "--hugepages"
        case .pin: "--pin"
        case .hyperv: "--hyperv"
        case .hidden: "--hidden"
        case .smbios: "--smbios"
        case .pm: "--pm"
        case .override(let address): "--override \(address)"
        case .mdev(let uuid): "--mdev \(uuid)"
        }
    }
}

/// Prints the diff or the XML when asked; true when it did.
func printed(_ change: DomainChange, original: XMLDocument, name: String, destination: DestinationOptions) throws
    -> Bool
{
    if Console.json && (destination.printDiff || destination.printXML) {
        let diff =
            destination.printDiff
            ? UnifiedDiff.make(old: original.bytes, new: change.bytes, oldName: name, newName: name + " (merged)") : nil
        try printJSON(changeDocument(change, schema: schemaPath(), diff: diff, xml: destination.printXML))
        return true
    }
    if destination.printDiff {
        print(
            UnifiedDiff.make(old: original.bytes, new: change.bytes, oldName: name, newName: name + " (merged)"),
            terminator: "")
        return true
    }
    if destination.printXML {
        print(String(decoding: change.bytes, as: UTF8.self), terminator: "")
        return true
    }
    return false
}

/// Merges into a libvirt guest's persistent definition and defines it back (or prints or writes the result).
func runGuestMerge(
    uri: String, name: String, destination: DestinationOptions, merge: (XMLDocument, String) throws -> DomainChange
) throws {
    let schema = schemaPath()
    let connection = try LibvirtConnection(uri: uri)
    let source = "domain \(name) at \(uri)"
    let document = try XMLDocument(bytes: try connection.inactiveXML(of: name), source: source)
    let change = try merge(document, source)
    try check(change, original: document, source: source, schema: schema)
    if try printed(change, original: document, name: name, destination: destination), !destination.define { return }
    if let output = destination.output {
        if output == DomainFile.standardStream {
            if Console.json { return try printJSON(changeDocument(change, schema: schema, xml: true)) }
            writeStandardOutput(change.bytes)
            return
        }
        let outcome = try DomainFile.withLock(on: output, timeout: lockTimeout()) {
            try DomainFile.write(change.bytes, to: output)
        }
        if Console.json {
            return try printJSON(
                changeDocument(change, schema: schema, destination: output, backup: outcome.backup?.string))
        }
        printError("wrote \(output)")
        return
    }
    guard change.changed else {
        if Console.json { return try printJSON(changeDocument(change, schema: schema, destination: source)) }
        printError("\(name): already up to date")
        return
    }
    try connection.define(change.bytes, name: name)
    let running = try connection.isActive(name)
    if Console.json { return try printJSON(changeDocument(change, schema: schema, destination: source)) }
    printError("defined \(name) at \(uri)" + (running ? " (it is running: the changes apply at its next start)" : ""))
}

/// Writes bytes to standard output, all of them.
func writeStandardOutput(_ bytes: [UInt8]) {
    // A closed pipe (`| head`) ends the output; there is no one left to tell.
    _ = try? FileDescriptor.standardOutput.writeAll(bytes)
}

/// How long to wait for another run's lock on a file: `VFIOCTL_LOCK_TIMEOUT` seconds when set, else 10 s.
func lockTimeout() -> Duration {
    guard let value = getenv("VFIOCTL_LOCK_TIMEOUT"), let seconds = Double(String(cString: value)), seconds >= 0
    else { return .seconds(10) }
    return .milliseconds(Int(seconds * 1000))
}

/// libvirt's domain schema: `VFIOCTL_LIBVIRT_SCHEMA` when set (another libvirt install), else libvirt's own.
func schemaPath() -> String {
    guard let value = getenv("VFIOCTL_LIBVIRT_SCHEMA") else { return DomainFile.defaultSchema }
    let bytes = Array(UnsafeBufferPointer(start: value, count: strlen(value))).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Runs a merge on a domain file and delivers it where the options say: validated first, written atomically
/// under a lock, notes on stderr.
func runMerge(
    path: String, destination: DestinationOptions,
    merge: (XMLDocument) throws -> DomainChange
) throws {
    let schema = schemaPath()
    let target = destination.inPlace ? path : destination.output
    let name = path == DomainFile.standardStream ? "standard input" : path
    func deliver() throws {
        let document = try DomainFile.read(path)
        let change = try merge(document)
        try check(change, original: document, source: name, schema: schema)
        if try printed(change, original: document, name: name, destination: destination) { return }
        guard let target else { return }
        if target == DomainFile.standardStream {
            if Console.json { return try printJSON(changeDocument(change, schema: schema, xml: true)) }
            writeStandardOutput(change.bytes)
            return
        }
        let outcome = try DomainFile.write(change.bytes, to: target)
        if Console.json {
            return try printJSON(
                changeDocument(change, schema: schema, destination: target, backup: outcome.backup?.string))
        }
        if outcome.unchanged {
            printError("\(target): already up to date")
        } else {
            printError("wrote \(target)" + (outcome.backup.map { " (the previous version is in \($0))" } ?? ""))
        }
    }
    if let target, target != DomainFile.standardStream {
        try DomainFile.withLock(on: target, timeout: lockTimeout()) { try deliver() }
    } else {
        try deliver()
    }
}

extension VFIOCtl {
    struct Attach: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "attach",
            abstract: "Add passthrough devices, shared memory, evdev input and tuning to a libvirt domain XML.",
            discussion: """
                Merges into the file's own bytes: comments, attribute order, quoting and indentation stay, new \
                elements take their siblings' indentation, and running it twice changes nothing the second time. \
                An existing hostdev for the same source address is updated, never duplicated. The domain's own \
                settings win: an explicit enabled='no', a topology, a pinning, an enlightenment turned off stay, \
                with a note naming them. What attach adds or changes is recorded in the domain's <metadata> for \
                detach. The result is checked against libvirt's schema before anything is written.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var source: DomainSource
        @OptionGroup var what: GuestOptions
        @OptionGroup var destination: DestinationOptions

        @Flag(name: .long, help: "Also suggest a descriptive guest name.")
        var name = false

        @Flag(name: .long, help: "Pass devices even when the guards refuse them (the warnings are still printed).")
        var force = false

        func validate() throws {
            try source.check(destination)
            // A device made for the guest stays only when the result is written or defined.
            let printsOnly =
                (destination.printDiff || destination.printXML) && !destination.define
                || destination.output == DomainFile.standardStream
            if let type = what.mdevTypes.first, printsOnly {
                throw ValidationError(
                    "--mdev \(type) creates a mediated device, so the result must be written or defined (-o FILE, "
                        + "--in-place or --domain NAME); to print, give the UUID of an existing one")
            }
        }

        func run() throws {
            try reportingFailures {
                var request = try what.request()
                let host = global.host
                try checkGuards(request, host: host, force: force)
                if what.overrides { try checkOverrideSupport() }
                let types = what.mdevTypes
                // Another guest libvirt defines may have the mediated device: only a connection can tell.
                let others =
                    source.guest != nil && !what.mdev.isEmpty ? try LibvirtConnection(uri: global.uri).domains() : []
                func merge(_ created: [MediatedDevice]) throws {
                    try source.run(destination, uri: global.uri) { document, label in
                        if name {
                            printError("suggested name: " + (try host.suggestedName(for: document, request: request)))
                        }
                        var change = try host.attach(request, to: document, source: label, otherDomains: others)
                        change.notes += created.map {
                            "created mediated device \($0.uuid) (\($0.type ?? "?")) on \($0.parent) for the guest: it "
                                + "lasts until the next boot (`vfioctl mdev create --connect URI --persist` makes one "
                                + "that stays)"
                        }
                        return change
                    }
                }
                guard !types.isEmpty else { return try merge([]) }
                let display = try what.isMdevDisplayOn()
                try host.withNewMdevs(types: types) { created in
                    request.mdevs += created.map { GuestRequest.Mdev(uuid: $0.uuid, display: display) }
                    try merge(created)
                }
            }
        }
    }

    struct Detach: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "detach",
            abstract: "Remove from a libvirt domain XML exactly what attach added.",
            discussion: """
                Takes the same options as attach. attach records what it adds and changes in the domain's own \
                <metadata> (<vfioctl:ownership>); detach removes exactly that and puts back every value attach \
                changed, so attach then detach gives the original bytes back. What the domain had before is \
                never removed: for a part vfioctl did not add, detach changes nothing and says so. A domain \
                without the record (written by an older vfioctl) loses only what is vfioctl's beyond doubt: the \
                named devices' hostdevs and vfioctl's own root ports and evdev inputs.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var source: DomainSource
        @OptionGroup var what: GuestOptions
        @OptionGroup var destination: DestinationOptions

        func validate() throws {
            try source.check(destination)
            try what.requireMdevUUIDs("detach --mdev")
        }

        func run() throws {
            try reportingFailures {
                let request = try what.request()
                let host = global.host
                try source.run(destination, uri: global.uri) { document, label in
                    try host.detach(request, from: document, source: label)
                }
            }
        }
    }

    struct XML: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "xml",
            abstract: "Print the XML sections attach would add, for pasting into a domain by hand.",
            discussion: """
                Takes attach's options. The sections are generated for a q35 guest (pass --machine i440fx for \
                the older chipset); paste each at the place its first line names.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var what: GuestOptions

        @Option(
            name: .long, help: ArgumentHelp("The guest's chipset.", valueName: "q35|i440fx"),
            completion: .list(["q35", "i440fx"]))
        var machine: String = "q35"

        @Flag(name: .long, help: "Pass devices even when the guards refuse them (the warnings are still printed).")
        var force = false

        func run() throws {
            try reportingFailures {
                guard machine == "q35" || machine == "i440fx" else {
                    throw ValidationError("--machine takes q35 or i440fx, not '\(machine)'")
                }
                // No <memory>: the guest's size is not known here, so nothing is derived from one.
                let template = """
                    <domain type='kvm'>
                      <name>guest</name>
                      <os>
                        <type arch='x86_64' machine='\(machine == "q35" ? "q35" : "pc")'>hvm</type>
                      </os>
                      <devices>
                      </devices>
                    </domain>

                    """
                try what.requireMdevUUIDs("xml --mdev")
                let document = try XMLDocument(bytes: Array(template.utf8), source: "template")
                let request = try what.request()
                try checkGuards(request, host: global.host, force: force)
                let change = try global.host.attach(request, to: document, source: "template", recording: false)
                var notes = change.notes
                if request.tuning.hugepages {
                    notes.append(
                        "reserve the guest's memory in 2 MiB hugepages before it starts (its MiB ÷ 2 in "
                            + "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages); `vfioctl attach --hugepages` on "
                            + "the domain says how many")
                }
                if Console.json {
                    let sections = Sections.blocks(old: document.bytes, new: change.bytes).map { block in
                        GuestChangeDocument.Section(
                            place: block.comment, xml: block.lines.map { $0 + "\n" }.joined())
                    }
                    return try printJSON(
                        GuestChangeDocument(
                            changed: !sections.isEmpty, notes: notes,
                            qemuConf: change.qemuConf.map { $0.split(separator: "\n").map(String.init) },
                            sections: sections))
                }
                for note in notes { Console.note("note: \(note)") }
                print(Sections.added(old: document.bytes, new: change.bytes), terminator: "")
                if let block = change.qemuConf {
                    print("\n<!-- /etc/libvirt/qemu.conf -->\n" + block)
                }
            }
        }
    }
}
