import SystemPackage

/// vfioctl's block in libvirt's `hooks/qemu` script: it runs vfioctl only for guests that have a hook
/// configuration, passes the definition on stdin, and gives the rest of the script its stdin back.
///
/// Only a failed `prepare begin` ends the script (so libvirt refuses the start); after any other failure the rest
/// of the script still runs. Every word that comes from outside the block is quoted.
enum HookDispatcher {
    /// The block's marker lines and place.
    static let marks = ManagedBlock.hookScript

    /// The programs whose scripts the block may go into: it is POSIX shell.
    static let shells: Set<String> = ["sh", "bash", "dash"]

    /// `word` as one shell word that nothing expands: single quotes, each `'` written as `'\''`.
    static func quoted(_ word: String) -> String {
        "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    /// The block's lines, between its markers.
    static func body(binary: String, configs: FilePath = HostPaths.hookConfigs) -> [String] {
        [
            "if [ -f \(quoted(configs.string))/\"$1\".conf ]; then",
            "    vfioctl_xml=$(cat)",
            "    vfioctl_status=0",
            "    printf '%s\\n' \"$vfioctl_xml\" | \(quoted(binary)) hooks run -- \"$1\" \"$2\" \"$3\" \"$4\""
                + " || vfioctl_status=$?",
            "    if [ \"$vfioctl_status\" -ne 0 ] && [ \"$2\" = prepare ] && [ \"$3\" = begin ]; then",
            "        exit \"$vfioctl_status\"",
            "    fi",
            "    exec <<VFIOCTL_XML",
            "$vfioctl_xml",
            "VFIOCTL_XML",
            "    unset vfioctl_xml vfioctl_status",
            "fi",
        ]
    }

    /// The script with vfioctl's block right after the `#!` line (before anything that could `exit`); a new
    /// `#!/bin/sh` script for nil or empty text.
    static func apply(binary: String, to text: String?, configs: FilePath = HostPaths.hookConfigs) -> String {
        let body = body(binary: binary, configs: configs)
        guard let text, !text.isEmpty else { return marks.apply(body, to: "#!/bin/sh\n") }
        return marks.apply(body, to: text)
    }

    /// The script without vfioctl's block, as it was before.
    static func remove(from text: String) -> String { marks.remove(from: text) }

    /// Whether a script is nothing but a shebang and vfioctl's block.
    static func isOnlyOurs(_ text: String) -> Bool {
        remove(from: text).trimmingWhitespace() == "#!/bin/sh"
    }

    /// The program a script's `#!` line runs (by its name, `env`'s program when that is `env`), or nil when the
    /// bytes do not start with `#!`.
    static func interpreter(of bytes: [UInt8]) -> String? {
        guard bytes.starts(with: Array("#!".utf8)) else { return nil }
        let line = bytes.dropFirst(2).prefix { $0 != UInt8(ascii: "\n") }
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" })
            .map(String.init)
        guard let program = words.first.flatMap({ FilePath($0).lastComponent?.string }) else { return "" }
        guard program == "env" else { return program }
        // `#!/usr/bin/env -S bash -e` or `env VAR=value sh`: the first word that is neither an option nor a setting.
        let named = words.dropFirst().first { !$0.hasPrefix("-") && !$0.contains("=") }
        return named.flatMap { FilePath($0).lastComponent?.string } ?? program
    }

    /// The text of an existing script the block can go into.
    /// - Parameters:
    ///   - bytes: the script's content.
    ///   - path: its host path, for messages.
    /// - Returns: the text (nil for an empty file, which becomes a new script).
    /// - Throws: `DevicesError` (`.conflict`, cause `HookRefusal.notShellScript`) when sh would not run it, or it
    ///   is no UTF-8 text; the caller leaves the file as it is.
    static func shellText(_ bytes: [UInt8], path: FilePath) throws -> String? {
        guard !bytes.isEmpty else { return nil }
        let interpreter = interpreter(of: bytes)
        let isText = !bytes.contains(0)
        guard let interpreter, isText, shells.contains(interpreter) else {
            let what =
                if !isText { "is a binary file" } else if let interpreter {
                    "runs with \(interpreter.isEmpty ? "an empty #! line" : interpreter)"
                } else { "has no #! line" }
            throw DevicesError(
                code: .conflict,
                message: "\(path) \(what), not sh, bash or dash: vfioctl's block only goes into shell scripts, so "
                    + "it is left as it is",
                cause: HookRefusal.notShellScript(path: path, interpreter: isText ? interpreter : nil))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DevicesError(
                code: .invalidData, message: "\(path) is not UTF-8 text: vfioctl leaves it as it is")
        }
        return text
    }
}
