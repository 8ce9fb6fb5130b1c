import ArgumentParser

/// The command line as the user typed it, arranged for the parser.
///
/// Global options may stand before the command, as with `virsh -c URI list`: they are moved behind the command's
/// name (every command takes them there). A word that names no command is refused with the nearest names.
struct Invocation {
    /// Global options that take a value, in every spelling.
    static let valueOptions: Set<String> = ["--sysroot", "--pci-ids", "--connect", "-c", "--color"]
    /// Global flags, in every spelling.
    static let flags: Set<String> = ["--json", "--quiet", "-q", "--verbose", "-v", "--no-color"]

    /// The arguments to hand to the parser.
    var arguments: [String]

    /// Arranges `arguments` for the command tree under `root`.
    /// - Throws: `UsageFailure` for a command name that does not exist.
    init(_ arguments: [String], root: any ParsableCommand.Type) throws {
        var globals: [String] = []
        var path: [String] = []
        var node = root
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { break }
            if Self.flags.contains(argument) || Self.valueOptions.contains(where: { argument.hasPrefix($0 + "=") }) {
                globals.append(argument)
                index += 1
                continue
            }
            if Self.valueOptions.contains(argument) {
                globals.append(argument)
                if index + 1 < arguments.count {
                    globals.append(arguments[index + 1])
                }
                index += 2
                continue
            }
            if argument.hasPrefix("-") { break }
            if argument == "help" && path.isEmpty {
                try Self.checkHelp(Array(arguments[(index + 1)...]), root: root)
                break
            }
            let children = node.configuration.subcommands
            if let child = children.first(where: { $0._commandName == argument }) {
                path.append(argument)
                node = child
                index += 1
                continue
            }
            // A word where a command belongs (a group's default command takes no words).
            if !children.isEmpty {
                throw UsageFailure.unknownCommand(argument, within: path, among: children.map { $0._commandName })
            }
            break
        }
        self.arguments = path + globals + Array(arguments[index...])
    }

    /// `vfioctl help WORD…` names commands that exist.
    private static func checkHelp(_ words: [String], root: any ParsableCommand.Type) throws {
        var node = root
        var path: [String] = []
        for word in words where !word.hasPrefix("-") {
            let children = node.configuration.subcommands
            guard let child = children.first(where: { $0._commandName == word }) else {
                throw UsageFailure.unknownCommand(word, within: path, among: children.map { $0._commandName })
            }
            path.append(word)
            node = child
        }
    }
}

/// A command line that names something that does not exist.
enum UsageFailure: Error, CustomStringConvertible {
    /// `word` is not a command under `path`; `names` are the commands there.
    case unknownCommand(String, within: [String], among: [String])

    var description: String {
        switch self {
        case .unknownCommand(let word, let path, let names):
            let place = path.isEmpty ? "" : " of \(path.joined(separator: " "))"
            let near = Suggestion.nearest(to: word, among: names)
            let hint =
                near.isEmpty
                ? "the commands\(place) are \(names.joined(separator: ", "))"
                : "did you mean \(near.map { "'\($0)'" }.joined(separator: " or "))?"
            return "'\(word)' is not a command\(place): \(hint)"
        }
    }
}

/// Names close to a misspelt one.
enum Suggestion {
    /// The names within two edits of `word`, or that begin with it, nearest first.
    static func nearest(to word: String, among names: [String]) -> [String] {
        let scored = names.map { (name: $0, distance: distance(word, $0)) }
        let close = scored.filter { $0.distance <= max(1, min(2, word.count / 3)) || $0.name.hasPrefix(word) }
        return close.sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }.map(\.name)
    }

    /// The edit distance between two words (insertions, deletions, substitutions and swaps of neighbours).
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased())
        let b = Array(b.lowercased())
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var best = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    best = min(best, table[i - 2][j - 2] + 1)
                }
                table[i][j] = best
            }
        }
        return table[a.count][b.count]
    }
}
