import Devices

/// What `xml` prints: the lines a merge added to its template, as blocks a person pastes into a domain, each under a
/// comment that says exactly where it goes and what it replaces.
///
/// A domain holds some elements once (`<vcpu>`, `<cpu>`, `<features>`, …): their block says to put it in place of
/// the domain's own. An attribute added to `<domain>` itself is said in words, not printed as a fragment. A root
/// port comes with the bus number the hostdevs on it use, to be changed together when the domain has it already.
enum Sections {
    /// Children of `<domain>` it has at most one of.
    static let singletons: Set<String> = [
        "memoryBacking", "vcpu", "iothreads", "cputune", "features", "cpu", "clock", "pm", "memory",
        "currentMemory", "numatune", "blkiotune", "memtune", "resource",
    ]

    /// Children of `<domain>` that may be split in several, but read best as one.
    static let mergeable: Set<String> = ["qemu:commandline", "qemu:override"]

    /// One block: where it goes, and its lines (unindented to the block's first line).
    struct Block: Equatable {
        var comment: String
        var lines: [String]
    }

    static func added(old: [UInt8], new: [UInt8]) -> String {
        let blocks = self.blocks(old: old, new: new)
        return blocks.map { block in
            (["<!-- \(block.comment) -->"] + block.lines).joined(separator: "\n")
        }.joined(separator: "\n\n") + (blocks.isEmpty ? "" : "\n")
    }

    /// The blocks of a merge's additions.
    static func blocks(old: [UInt8], new: [UInt8]) -> [Block] {
        let diff = UnifiedDiff.make(old: old, new: new, oldName: "a", newName: "b", context: 3)
        var runs: [(parent: String, lines: [Substring])] = []
        var removed: [Substring] = []
        var run: [Substring] = []
        var parent = "domain"
        var lastTopLevel = "domain"
        var blocks: [Block] = []
        func flush() {
            if !run.isEmpty {
                // A changed root line is an attribute added to <domain>: said in words.
                if let first = run.first, first.hasPrefix("<domain"), let before = removed.first {
                    blocks.append(Block(comment: rootAttributes(old: before, new: first), lines: []))
                    run.removeFirst()
                }
                if !run.isEmpty { runs.append((parent, run)) }
            }
            run = []
            removed = []
        }
        for line in diff.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("+++") || line.hasPrefix("---") || line.hasPrefix("@@") {
                flush()
                continue
            }
            let body = line.dropFirst()
            let indent = body.prefix { $0 == " " }.count
            if line.hasPrefix("+") {
                if run.isEmpty { parent = indent == 0 ? "domain" : indent <= 2 ? "domain" : lastTopLevel }
                run.append(body)
            } else if line.hasPrefix("-") {
                removed.append(body)
            } else {
                flush()
                if indent == 2, body.dropFirst(2).hasPrefix("<"), !body.dropFirst(2).hasPrefix("</") {
                    lastTopLevel = String(body.dropFirst(3).prefix { $0 != " " && $0 != ">" && $0 != "/" })
                }
            }
        }
        flush()
        for (parent, lines) in runs {
            let indent = lines.first.map { $0.prefix { $0 == " " }.count } ?? 0
            let unindented = lines.map { String($0.dropFirst(min(indent, $0.prefix { $0 == " " }.count))) }
            blocks += parent == "domain" ? domainBlocks(unindented) : [devicesBlock(parent, unindented)]
        }
        return blocks
    }

    /// `on <domain> itself, add xmlns:qemu='…'`: the attributes the new root line has beyond the old one.
    static func rootAttributes(old: Substring, new: Substring) -> String {
        let before = Array(old)
        let after = Array(new)
        var start = 0
        while start < before.count, start < after.count, before[start] == after[start] { start += 1 }
        var end = 0
        while end < before.count - start, end < after.count - start,
            before[before.count - 1 - end] == after[after.count - 1 - end]
        {
            end += 1
        }
        let added = String(after[start..<(after.count - end)]).trimmingSpaces()
        return "on <domain> itself, add the attribute " + added + " if it lacks it"
    }

    /// Children of `<domain>`, one block per element the domain has once, one for the rest.
    static func domainBlocks(_ lines: [String]) -> [Block] {
        var blocks: [Block] = []
        var current: Block?
        for line in lines {
            let isTop = !line.hasPrefix(" ") && line.hasPrefix("<") && !line.hasPrefix("</")
            if isTop {
                let name = String(line.dropFirst().prefix { $0 != " " && $0 != ">" && $0 != "/" })
                let comment: String
                if singletons.contains(name) {
                    comment = "in <domain>, in place of its own <\(name)> if it has one"
                } else if mergeable.contains(name) {
                    comment = "in <domain>; add the children to its own <\(name)> if it has one"
                } else if name == "sysinfo" {
                    comment = "in <domain>, in place of its own <sysinfo type='smbios'> if it has one"
                } else {
                    comment = "in <domain>"
                }
                if let open = current, open.comment == comment, comment == "in <domain>" {
                    current = open
                } else {
                    if let open = current { blocks.append(open) }
                    current = Block(comment: comment, lines: [])
                }
            }
            if current == nil { current = Block(comment: "in <domain>", lines: []) }
            current?.lines.append(line)
        }
        if let open = current { blocks.append(open) }
        return blocks
    }

    /// Lines for `<devices>` or another element; a root port says which bus number it and its hostdevs share.
    static func devicesBlock(_ parent: String, _ lines: [String]) -> Block {
        if parent == "os", lines.first?.hasPrefix("<smbios") == true {
            return Block(comment: "in <os>, in place of its own <smbios> if it has one", lines: lines)
        }
        guard parent == "devices",
            let port = lines.first(where: { $0.hasPrefix("<controller type='pci'") && $0.contains("pcie-root-port") }),
            let index = attribute("index", in: port), let number = Int(index)
        else { return Block(comment: "in <\(parent)>", lines: lines) }
        let bus = "0x" + (number < 16 ? "0" : "") + String(number, radix: 16)
        return Block(
            comment: "in <devices>; the root port's index='\(index)' is the bus='\(bus)' of the hostdevs on it: "
                + "if the domain has a controller with index='\(index)', change both to a number it does not use",
            lines: lines)
    }

    /// The value of `name='…'` in a line.
    static func attribute(_ name: String, in line: String) -> String? {
        let parts = line.split(separator: " \(name)='", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let end = parts[1].firstIndex(of: "'") else { return nil }
        return String(parts[1][..<end])
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces.
    func trimmingSpaces() -> String {
        guard let first = firstIndex(where: { $0 != " " }), let last = lastIndex(where: { $0 != " " }) else {
            return ""
        }
        return String(self[first...last])
    }
}
