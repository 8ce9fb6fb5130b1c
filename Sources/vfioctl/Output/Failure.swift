import ArgumentParser
import Devices
import Glibc

/// Runs a command body, turning a failure into one line on stderr (or `{"error": …}` under `--json`) and a
/// sysexits status.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as DevicesError {
        let message = hint(for: error).map { error.message + " (" + $0 + ")" } ?? error.message
        Console.fail(
            code: jsonCode(error.code), message: message, status: exitStatus(for: error.code),
            details: error.object.map { ErrorDocument.Details(object: name(of: $0)) })
    } catch let failure as BindFailure {
        Console.fail(
            code: jsonCode(failure.error.code), message: failure.description,
            status: exitStatus(for: failure.error.code))
    } catch let failure as GuardFailure {
        guard Console.json else {
            GuardWords.print(failure.refusals, forced: false)
            throw ExitCode(75)
        }
        let refusals = failure.refusals.map {
            ErrorDocument.Refusal(
                device: $0.device?.description ?? "host", guardName: $0.kind.rawValue,
                reason: GuardWords.describe($0))
        }
        Console.fail(
            code: "refused", message: refusals.map(\.reason).joined(separator: "; "), status: 75,
            details: .init(refusals: refusals))
    }
}

/// What the user can do about an error, in the CLI's own terms (flags and commands), from what it concerns.
func hint(for error: DevicesError) -> String? {
    switch (error.code, error.object) {
    case (.notFound, .target?): "`vfioctl list` shows the devices of this host"
    case (.notFound, .gpuIndex?): "`vfioctl list --gpus` shows them"
    case (.invalidArgument, .target?): "`vfioctl list` shows the addresses"
    case (.notFound, .sysroot?): "pass an existing host tree to --sysroot, or unset VFIOCTL_SYSROOT"
    case (_, .sysroot?): "is --sysroot a host tree?"
    case (.unavailable, .library("libvirt")?): "Debian/Ubuntu: apt-get install libvirt0"
    case (.unavailable, .library("libxml2")?): "Debian/Ubuntu: apt-get install libxml2"
    case (.unavailable, .library("libudev")?): "Debian/Ubuntu: apt-get install libudev1"
    case (.unavailable, .library("libevdev")?): "Debian/Ubuntu: apt-get install libevdev2"
    case (.notFound, .domain?): "`virsh list --all` shows the guests; -c URI names another libvirt"
    case (.notFound, .inputDevice?): "`vfioctl input list` shows the devices"
    case (.invalidArgument, .inputDevice?): "give /dev/input/by-id/…; `vfioctl input list` shows them"
    case (_, .request(.parts)?):
        "name at least one of --gpu, --hostdev, --looking-glass, --scream, --evdev, --tune (or a part of it), "
            + "--override, --laptop-gpu, --mdev"
    case (_, .request(.mdev)?): "`vfioctl mdev create PARENT TYPE` makes one; `vfioctl show PARENT` lists its types"
    case (.notFound, .request(.mdevType)?): "`vfioctl show PARENT` lists the types a parent offers"
    case (_, .request(.mdevType)?): "`vfioctl mdev remove UUID` frees one"
    case (_, .request(.mdevAmbiguous)?):
        "create it on one of them with `vfioctl mdev create PARENT TYPE`, then attach --mdev UUID"
    case (_, .request(.mdevDisplay)?): "pass --mdev-display off"
    case (_, .request(.mdevLibvirt)?): "`virsh nodedev-list --cap mdev --all` lists the ones libvirt knows"
    case (_, .request(.gpu)?): "pass GPUs with --gpu"
    case (_, .request(.hostdev)?): "use --hostdev for other devices"
    case (_, .request(.rom)?): "--rom and --rom-bar go with --gpu"
    case (_, .request(.vcpus)?): "--vcpus takes how many vCPUs to pin"
    case (_, .request(.evdev)?): "name the devices: --evdev /dev/input/by-id/… (`vfioctl input list` shows them)"
    case (_, .request(.hook)?): "--single-gpu, --hugepages or --isolate-cpus"
    case (_, .request(.pin)?): "`vfioctl attach --pin` first"
    case (_, .request(.gpuMissing)?): "`vfioctl attach --gpu` first"
    default: nil
    }
}

/// The object of an error as the JSON names it.
func name(of object: DevicesError.Object) -> String {
    switch object {
    case .target(let text): text
    case .gpuIndex(let index): "gpu:\(index)"
    case .device(let address): address.description
    case .group(let id): "group \(id)"
    case .file(let path), .sysroot(let path), .inputDevice(let path): path
    case .domain(let name): name
    case .library(let name): name
    case .request(let part): part.rawValue
    }
}

/// The JSON name of an error code.
func jsonCode(_ code: DevicesError.Code) -> String {
    switch code {
    case .notFound: "not-found"
    case .permissionDenied: "permission-denied"
    case .invalidData: "invalid-data"
    case .invalidArgument: "invalid-argument"
    case .unavailable: "unavailable"
    case .io: "io"
    case .conflict: "conflict"
    case .timeout: "timeout"
    case .interrupted: "interrupted"
    default: "internal"
    }
}

/// The sysexits status of an error code.
func exitStatus(for code: DevicesError.Code) -> Int32 {
    switch code {
    case .invalidArgument: 64
    case .invalidData: 65
    case .notFound: 66
    case .unavailable: 69
    case .internalError: 70
    case .io: 74
    case .timeout: 75
    case .conflict: 75
    case .permissionDenied: 77
    case .interrupted: 128 + (Interruption.signal ?? 2)
    default: 70
    }
}

/// Writes one line to stderr.
func printError(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

/// Prints each warning to stderr.
func printWarnings(_ warnings: [String]) {
    guard !Console.quiet else { return }
    for warning in warnings { printError("warning: \(warning)") }
}
