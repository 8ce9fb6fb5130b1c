/// vfioctl's lines in a file that belongs to the user (a module list, libvirt's hook script), between marker lines,
/// so that vfioctl replaces or removes exactly them and the file is byte for byte what it was without them.
struct ManagedBlock: Sendable {
    /// Where the block goes in the file.
    enum Placement: Sendable {
        /// At the end (a newline added first when the file lacks one, and taken away again with the block).
        case end
        /// Right after the `#!` line, before anything that could `exit` (the top when there is none).
        case afterShebang
    }

    /// The first line of the block.
    let begin: String
    /// The first line when a newline was added before the block.
    var beginAfterNewline: String { "# >>> vfioctl (managed block, a newline was added before it)" }
    /// The last line of the block.
    let end = "# <<< vfioctl"
    let placement: Placement

    /// The block in the files `persist` shares with the user (`/etc/modules`, `/etc/initramfs-tools/modules`).
    static let persist = ManagedBlock(
        begin: "# >>> vfioctl (managed block: `vfioctl persist --remove` takes it out)", placement: .end)
    /// The block in libvirt's `hooks/qemu` script.
    static let hookScript = ManagedBlock(
        begin: "# >>> vfioctl (managed block: `vfioctl hooks install GUEST --remove` takes it out)",
        placement: .afterShebang)

    /// Whether `text` has the block.
    func isPresent(in text: String) -> Bool {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.contains { $0 == begin || $0 == beginAfterNewline } && lines.contains { $0 == end }
    }

    /// `text` with `body` as the block, replacing an earlier one.
    func apply(_ body: [String], to text: String) -> String {
        let base = remove(from: text)
        switch placement {
        case .end:
            if base.isEmpty { return ([begin] + body + [end]).joined(separator: "\n") + "\n" }
            let needsNewline = !base.hasSuffix("\n")
            return base + (needsNewline ? "\n" : "")
                + ([needsNewline ? beginAfterNewline : begin] + body + [end]).joined(separator: "\n") + "\n"
        case .afterShebang:
            var lines = base.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let at = lines.first?.hasPrefix("#!") == true ? 1 : 0
            lines.insert(contentsOf: [begin] + body + [end], at: at)
            return lines.joined(separator: "\n")
        }
    }

    /// `text` without the block, byte for byte as it was before the block was added.
    func remove(from text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0 == begin || $0 == beginAfterNewline }),
            let stop = lines[start...].firstIndex(of: end)
        else { return text }
        let addedNewline = lines[start] == beginAfterNewline
        lines.removeSubrange(start...stop)
        var result = lines.joined(separator: "\n")
        if addedNewline && result.hasSuffix("\n") { result.removeLast() }
        return result
    }
}
