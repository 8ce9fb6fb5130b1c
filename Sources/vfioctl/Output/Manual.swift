import ArgumentParser

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// vfioctl's manual page, in mdoc.
///
/// It is rendered from the command tree ArgumentParser describes: every command, argument and option the binary
/// has, so the page cannot drift from `--help`. The binary writes it itself (`--generate-manual`), so installing
/// it needs no Swift toolchain.
enum Manual {
    /// The part of ArgumentParser's command description (`_dumpHelp()`) the page uses.
    struct Tool: Decodable {
        var command: Command
    }

    struct Command: Decodable {
        var commandName: String
        var abstract: String?
        var discussion: String?
        var shouldDisplay: Bool?
        var arguments: [Argument]?
        var subcommands: [Command]?
    }

    struct Argument: Decodable {
        struct Name: Decodable, Hashable {
            var kind: String
            var name: String
        }

        var kind: String
        var names: [Name]?
        var valueName: String?
        var abstract: String?
        var discussion: String?
        var isOptional: Bool?
        var isRepeating: Bool?
        var defaultValue: String?
        var allValues: [String]?
        var shouldDisplay: Bool?

        var isShown: Bool { shouldDisplay ?? true }
        var isHelp: Bool { names?.contains { $0.name == "help" } ?? false }
    }

    /// The page for `root`, dated `date` (`December 3, 2026`).
    static func page(for root: any ParsableCommand.Type, version: String, date: String) throws -> String {
        let tool = try JSONDecoder().decode(Tool.self, from: Data(root._dumpHelp().utf8))
        return render(tool.command, version: version, date: date)
    }

    /// The page of a command tree.
    static func render(_ root: Command, version: String, date: String) -> String {
        let leaves = leafCommands(root, path: [])
        let global = globalOptions(leaves.map(\.command))
        var page = Page()
        page.macro("Dd", date)
        page.macro("Dt", root.commandName.uppercased(), "8")
        page.macro("Os", "\(root.commandName) \(version)")
        page.macro("Sh", "NAME")
        page.macro("Nm", root.commandName)
        page.macro("Nd", text(root.abstract ?? "").trimmingSuffix("."))
        page.macro("Sh", "SYNOPSIS")
        page.macro("Nm")
        page.macro("Op", "Ar global-options")
        page.macro("Ar", "command")
        page.macro("Op", "Ar arguments")
        page.macro("Sh", "DESCRIPTION")
        page.paragraphs(root.discussion ?? "")
        page.macro("Pp")
        page.line("Without a command,")
        page.macro("Nm")
        page.line("lists the host (as")
        page.macro("Ql", root.commandName, "list", ")", ".")
        page.macro("Sh", "GLOBAL OPTIONS")
        page.line("These options are taken before or after the command, as")
        page.macro("Xr", "virsh", "1", "takes its own.")
        page.options(global)
        page.macro("Sh", "COMMANDS")
        for leaf in leaves where leaf.command.shouldDisplay ?? true {
            let arguments = (leaf.command.arguments ?? []).filter { argument in
                argument.isShown && !argument.isHelp
                    && !global.contains { $0.names == argument.names && $0.kind == argument.kind }
            }
            page.macro("Ss", ([root.commandName] + leaf.path).joined(separator: " "))
            page.synopsis(root.commandName, leaf.path, arguments)
            page.macro("Pp")
            if let abstract = leaf.command.abstract { page.paragraphs(abstract) }
            if let discussion = leaf.command.discussion {
                page.macro("Pp")
                page.paragraphs(discussion)
            }
            page.options(arguments)
        }
        page.macro("Sh", "ENVIRONMENT")
        page.list([
            ("VFIOCTL_SYSROOT", "The host tree to read when no --sysroot is given."),
            ("NO_COLOR", "When set (to anything), no colour on a terminal either."),
            ("LIBVIRT_DEFAULT_URI", "The libvirt connection when no --connect is given, as for virsh."),
        ])
        page.macro("Sh", "FILES")
        page.list([
            ("/run/vfioctl", "The host lock and the write-ahead record of a change in progress (see recover)."),
            ("/etc/modprobe.d, /etc/udev/rules.d", "Where persist and sriov --persist write their rules."),
            ("/etc/libvirt/hooks/qemu.d", "Where hooks install puts the per-guest hooks."),
            ("/usr/share/vgabios", "Where vbios install puts ROMs, readable by QEMU under AppArmor and SELinux."),
        ])
        page.macro("Sh", "EXIT STATUS")
        page.line("Exit statuses follow")
        page.macro("Xr", "sysexits.h", "3", ":")
        page.list([
            ("0", "success"), ("1", "a check or doctor found something failing"), ("64", "bad usage"),
            ("65", "malformed data"), ("66", "a file, device or sysroot that does not exist"),
            ("69", "a facility the host lacks"), ("70", "an internal error"), ("74", "an I/O error"),
            ("75", "a timeout, or a conflict with the host's state (a guard's refusal too)"),
            ("77", "permission denied (run as root)"),
        ])
        page.macro("Sh", "SEE ALSO")
        page.macro("Xr", "lspci", "8", ",")
        page.macro("Xr", "virsh", "1", ",")
        page.macro("Xr", "virt-xml", "1", ",")
        page.macro("Xr", "qemu-system-x86_64", "1")
        return page.text
    }

    /// The commands that run something, with the names leading to them; a group's own line is left out.
    static func leafCommands(_ command: Command, path: [String]) -> [(path: [String], command: Command)] {
        guard let subcommands = command.subcommands, !subcommands.isEmpty else {
            return path.isEmpty || path == ["help"] ? [] : [(path, command)]
        }
        return subcommands.flatMap { leafCommands($0, path: path + [$0.commandName]) }
    }

    /// The options every command takes: the global ones.
    static func globalOptions(_ commands: [Command]) -> [Argument] {
        guard let first = commands.first else { return [] }
        return (first.arguments ?? []).filter { argument in
            argument.kind != "positional" && !argument.isHelp && argument.isShown
                && commands.allSatisfy { command in
                    (command.arguments ?? []).contains { $0.names == argument.names && $0.kind == argument.kind }
                }
        }
    }

    /// Text for a text line or a macro argument: backslashes escaped, and a leading dot or quote kept as text.
    static func text(_ value: String) -> String {
        var escaped = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": escaped += "\\e"
            case _ where scalar.isASCII: escaped.unicodeScalars.append(scalar)
            default: escaped += "\\[u" + hex(scalar.value) + "]"
            }
        }
        return escaped.hasPrefix(".") || escaped.hasPrefix("'") ? "\\&" + escaped : escaped
    }

    /// An mdoc document being written.
    struct Page {
        var text = ""

        mutating func line(_ value: String) { text += Manual.text(value) + "\n" }

        mutating func macro(_ name: String, _ arguments: String...) {
            text += "." + ([name] + arguments).joined(separator: " ") + "\n"
        }

        /// Paragraphs separated by blank lines, each one text line (the formatter fills it).
        mutating func paragraphs(_ value: String) {
            let paragraphs = value.split(separator: "\n\n", omittingEmptySubsequences: true)
            for (index, paragraph) in paragraphs.enumerated() {
                if index > 0 { macro("Pp") }
                let joined = paragraph.split(separator: "\n").map { $0.trimmingSpaces() }
                    .joined(separator: " ")
                line(joined)
            }
        }

        /// A tag list of plain names and their descriptions.
        mutating func list(_ items: [(String, String)]) {
            macro("Bl", "-tag", "-width", "Ds")
            for (name, description) in items {
                macro("It", "Pa", quoted(name))
                line(description)
            }
            macro("El")
        }

        /// One line of usage: the command, its positionals and options.
        mutating func synopsis(_ tool: String, _ path: [String], _ arguments: [Argument]) {
            macro("Nm")
            macro("Cm", path.joined(separator: " "))
            for argument in arguments {
                var words = Manual.usage(argument, preferredOnly: true)
                if argument.isRepeating ?? false { words += " ..." }
                if argument.isOptional ?? false { macro("Op", words) } else { text += "." + words + "\n" }
            }
        }

        /// A tag list of options with their descriptions, values and defaults.
        mutating func options(_ arguments: [Argument]) {
            guard !arguments.isEmpty else { return }
            macro("Bl", "-tag", "-width", "Ds")
            for argument in arguments {
                macro("It", Manual.usage(argument))
                var description = argument.abstract ?? ""
                if let values = argument.allValues, !values.isEmpty {
                    description += " One of: " + values.joined(separator: ", ") + "."
                }
                if let value = argument.defaultValue, !value.isEmpty, argument.kind == "option" {
                    description += " Default: " + value + "."
                }
                if !description.isEmpty { paragraphs(description.trimmingSpaces()) }
                if let discussion = argument.discussion, !discussion.isEmpty { paragraphs(discussion) }
            }
            macro("El")
        }

        private func quoted(_ value: String) -> String {
            value.contains(" ") ? "\"" + Manual.text(value) + "\"" : Manual.text(value)
        }
    }

    /// An argument as mdoc words: `Fl c , Fl -connect Ar uri`, `Ar target`.
    static func usage(_ argument: Argument, preferredOnly: Bool = false) -> String {
        let value = argument.valueName.map { "Ar " + text($0) } ?? "Ar value"
        guard argument.kind != "positional" else { return value }
        let all = argument.names ?? []
        let shown = preferredOnly ? Array((all.first { $0.kind != "short" } ?? all.first).map { [$0] } ?? []) : all
        let names = shown.map { name in
            switch name.kind {
            case "short": "Fl " + text(name.name)
            case "longWithSingleDash": "Fl " + text(name.name)
            default: "Fl -" + text(name.name)
            }
        }.joined(separator: " , ")
        return argument.kind == "option" ? names + " " + value : names
    }
}

/// `value` in four upper-case hexadecimal digits or more.
private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
