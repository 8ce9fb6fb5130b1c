import Glibc

/// `vfioctl --version`: this program's version and the versions of the libraries it uses.
///
/// The libraries are not loaded for this: the version is read from the file name the dynamic linker would
/// open (`libxml2.so.2` → `libxml2.so.2.9.14`), so the answer costs a few system calls.
enum VersionReport {
    /// The libraries, by soname, as `--version` names them.
    static let libraries: [(name: String, soname: String)] = [
        ("libpci", "libpci.so.3"), ("libxml2", "libxml2.so.2"), ("libvirt", "libvirt.so.0"),
        ("libudev", "libudev.so.1"), ("libevdev", "libevdev.so.2"),
    ]

    /// Prints the report, as text or JSON.
    static func print() {
        let found = libraries.map { (name: $0.name, version: version(of: $0.soname)) }
        if Console.json {
            var versions: [String: String] = [:]
            for library in found { versions[library.name] = library.version }
            try? printJSON(Document(version: VFIOCtl.version, libraries: versions))
            return
        }
        Swift.print("vfioctl \(VFIOCtl.version)")
        for library in found {
            Swift.print("  \(library.name) \(library.version ?? "not installed")")
        }
    }

    /// The JSON form.
    struct Document: Encodable {
        var version: String
        /// Library name to version; a library that is not installed is left out.
        var libraries: [String: String]
    }

    /// The version in the real name of the file the dynamic linker would load for `soname`, or nil.
    static func version(of soname: String) -> String? {
        for directory in searchDirectories() {
            let path = directory + "/" + soname
            guard let resolved = realpath(path, nil) else { continue }
            defer { free(resolved) }
            let name = String(cString: resolved).split(separator: "/").last.map(String.init) ?? ""
            let prefix = soname.prefix { $0 != "." } + ".so."
            guard name.hasPrefix(prefix) else { return nil }
            let version = String(name.dropFirst(prefix.count))
            guard !version.isEmpty else { return nil }
            // libvirt's file is libvirt.so.0.MAJOR*1000+MINOR.MICRO.
            let parts = version.split(separator: ".").compactMap { Int($0) }
            if soname.hasPrefix("libvirt."), parts.count == 3, parts[0] == 0 {
                return "\(parts[1] / 1000).\(parts[1] % 1000).\(parts[2])"
            }
            return version
        }
        return nil
    }

    /// The directories the dynamic linker searches on Debian, Ubuntu and most other distributions.
    private static func searchDirectories() -> [String] {
        var directories: [String] = []
        if let value = getenv("LD_LIBRARY_PATH") {
            directories += String(cString: value).split(separator: ":").map(String.init)
        }
        #if arch(x86_64)
            let triple = "x86_64-linux-gnu"
        #elseif arch(arm64)
            let triple = "aarch64-linux-gnu"
        #else
            let triple = ""
        #endif
        for base in ["/lib", "/usr/lib", "/usr/local/lib", "/lib64", "/usr/lib64"] {
            if !triple.isEmpty { directories.append(base + "/" + triple) }
            directories.append(base)
        }
        return directories
    }
}
