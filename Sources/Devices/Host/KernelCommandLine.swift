/// The running kernel's command line (`/proc/cmdline`), split into its words as the kernel does: at spaces,
/// tabs and newlines, a double-quoted stretch kept in one word (`param="a b"`).
struct KernelCommandLine: Sendable, Hashable {
    /// The text as read, without its trailing newline.
    let text: String
    /// Its words, quotes removed.
    let words: [String]

    /// Splits `text`.
    init(_ text: String) {
        self.text = text
        var words: [String] = []
        var word = ""
        var quoted = false
        for character in text {
            if character == "\"" {
                quoted.toggle()
            } else if !quoted && (character == " " || character == "\t" || character == "\n") {
                if !word.isEmpty { words.append(word) }
                word = ""
            } else {
                word.append(character)
            }
        }
        if !word.isEmpty { words.append(word) }
        self.words = words
    }

    /// Reads the host's command line; empty when the file is missing.
    /// - Throws: `DevicesError` when the file exists but cannot be read.
    static func read(_ files: HostFiles) throws -> KernelCommandLine {
        KernelCommandLine(try files.readText(files.path(HostPaths.kernelCmdline)) ?? "")
    }

    /// Whether the line has this word (`nointremap`, `intel_iommu=on`).
    func contains(_ word: String) -> Bool { words.contains(word) }
}
