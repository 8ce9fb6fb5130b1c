extension Host {
    /// A descriptive guest name in the guide's form `purpose_vendor_os_arch_chipset_firmware_topology`, for
    /// example `passthrough_nvidia_win11_x86_64_q35_uefi_6c12t`, from the domain and the GPUs being attached.
    /// - Throws: `DevicesError` when a GPU target cannot be resolved.
    public func suggestedName(for document: XMLDocument, request: GuestRequest, purpose: String = "passthrough") throws
        -> String
    {
        let domain = document.root
        let os = domain.child("os")
        let type = os?.child("type")
        let arch = type?.attribute("arch") ?? "x86_64"
        let machine = type?.attribute("machine") ?? "pc"
        let chipset = machine.contains("q35") ? "q35" : "i440fx"
        let efi =
            os?.attribute("firmware") == "efi"
            || (os?.child("loader")?.text.lowercased().contains("ovmf") ?? false)
            || (os?.child("loader")?.text.lowercased().contains("edk2") ?? false)
        // virt-manager records the OS as libosinfo metadata (http://microsoft.com/win/11).
        var system = "linux"
        if let metadata = domain.child("metadata") {
            for child in metadata.children where child.name == "libosinfo" {
                if let id = child.child("os")?.attribute("id") {
                    let parts = id.split(separator: "/")
                    if id.contains("microsoft.com/win") {
                        system = "win" + (parts.last.map(String.init) ?? "")
                    } else {
                        system = parts.dropFirst(1).first.map { String($0.split(separator: ".").first ?? $0) } ?? system
                    }
                }
            }
        }
        var vendor = "novga"
        if let target = request.gpus.first {
            let report = try report()
            switch target {
            case .gpu(let index) where index <= report.gpus.count: vendor = report.gpus[index - 1].vendor
            case .device(let selector):
                if let device = try report.devices(matching: selector).first {
                    vendor = GPUAnalyzer.vendorName(device.vendor)
                }
            default: break
            }
        }
        var topology = ""
        if let cpu = domain.child("cpu")?.child("topology"), let cores = cpu.attribute("cores").flatMap({ Int($0) }),
            let threads = cpu.attribute("threads").flatMap({ Int($0) })
        {
            let sockets = cpu.attribute("sockets").flatMap { Int($0) } ?? 1
            topology = "\(sockets * cores)c\(sockets * cores * threads)t"
        } else if let vcpu = domain.child("vcpu").flatMap({ Int($0.text.trimmingWhitespace()) }) {
            topology = "\(vcpu)c\(vcpu)t"
        }
        let parts = [purpose, vendor, system, arch, chipset, efi ? "uefi" : "bios", topology].filter { !$0.isEmpty }
        return parts.joined(separator: "_").lowercased()
    }
}
