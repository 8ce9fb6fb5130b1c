import Foundation
import SystemPackage
import TestSupport
import Testing

@testable import Devices

@Suite struct BindTests {
    private func driver(_ fake: FakeHost, _ address: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: fake.path("/sys/bus/pci/devices/\(address)/driver")))
            .map { ($0 as NSString).lastPathComponent }
    }

    private func override(_ fake: FakeHost, _ address: String) -> String? {
        try? String(contentsOfFile: fake.path("/sys/bus/pci/devices/\(address)/driver_override"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func target(_ text: String) throws -> BindTarget { try #require(BindTarget(text)) }

    @Test("a GPU brings its companions; the plan lists every write in order, module first")
    func plan() throws {
        let fake = try FakeHost.workstation()
        let plan = try fake.host.planBind([try target("01:00.0")], options: BindOptions())
        #expect(plan.functions.map(\.description) == ["0000:01:00.0", "0000:01:00.1", "0000:01:00.2", "0000:01:00.3"])
        #expect(plan.loadsModule)
        #expect(plan.notes.count == 3)
        #expect(
            plan.steps.prefix(5).map(\.description) == [
                "modprobe vfio-pci",
                "echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override",
                "echo 0000:01:00.0 > /sys/bus/pci/drivers/nvidia/unbind",
                "echo 0000:01:00.0 > /sys/bus/pci/drivers_probe",
                "# check: /sys/bus/pci/devices/0000:01:00.0/driver -> vfio-pci",
            ])
        withExtendedLifetime(fake) {}
    }

    @Test("bind moves every function to vfio-pci, makes /dev/vfio/N and remembers the drivers; unbind gives them back")
    func bindAndUnbind() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        let host = fake.host
        let plan = try host.planBind([try target("gpu:2")], options: BindOptions())
        let outcomes = try host.bind(plan, options: BindOptions(), io: kernel)
        #expect(outcomes.map(\.result.rawValue) == ["bound", "bound", "bound", "bound"])
        for address in plan.functions { #expect(driver(fake, address.description) == "vfio-pci") }
        #expect(FileManager.default.fileExists(atPath: fake.path("/dev/vfio/2")))
        #expect(FileManager.default.fileExists(atPath: fake.path("/sys/module/vfio_pci")))
        let journal = try JSONDecoder().decode(
            Journal.self, from: Data(contentsOf: URL(fileURLWithPath: fake.path("/run/vfioctl/journal.json"))))
        #expect(journal.records.map(\.phase) == [.bound, .bound, .bound, .bound])
        #expect(journal.records.map(\.originalDriver) == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(kernel.writes.first == "modprobe vfio-pci")
        let again = try host.planBind([try target("01:00.0")], options: BindOptions())
        #expect(again.functions.isEmpty)
        #expect(again.alreadyBound.count == 4)
        let unbound = try host.unbind(plan.functions, io: kernel)
        #expect(unbound.map(\.result.rawValue) == ["unbound", "unbound", "unbound", "unbound"])
        #expect(
            ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"]
                == plan.functions.map { driver(fake, $0.description) ?? "none" })
        #expect(override(fake, "0000:01:00.0") == "(null)")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/dev/vfio/2")))
    }

    @Test("--only on a GPU whose group holds its companions is refused, naming them and --group")
    func onlyIsRefused() throws {
        let fake = try FakeHost.workstation()
        let error = #expect(throws: GuardFailure.self) {
            try fake.host.planBind([try target("01:00.0")], options: BindOptions(only: true))
        }
        guard case .groupNotViable(let group, let members, let chipset, _) = error?.refusals.first?.reason else {
            Issue.record("expected a group refusal, got \(String(describing: error))")
            return
        }
        #expect(group == 2 && !chipset)
        #expect(members.map(\.address.description) == ["0000:01:00.1", "0000:01:00.2", "0000:01:00.3"])
        withExtendedLifetime(fake) {}
    }

    @Test("a card in the chipset's group cannot be bound")
    func chipset() throws {
        let fake = try FakeHost.workstation()
        let error = #expect(throws: GuardFailure.self) {
            try fake.host.planBind([try target("03:00.0")], options: BindOptions(force: true))
        }
        guard case .groupNotViable(_, _, let chipset, _) = error?.refusals.first?.reason else {
            Issue.record("expected a group refusal")
            return
        }
        #expect(chipset)
        withExtendedLifetime(fake) {}
    }

    @Test("the boot GPU is refused unless forced")
    func bootGPU() throws {
        let fake = try FakeHost.workstation()
        let error = #expect(throws: GuardFailure.self) {
            try fake.host.planBind([try target("00:02.0")], options: BindOptions())
        }
        #expect(error?.refusals == [GuardRefusal(device: PCIAddress("0000:00:02.0"), reason: .bootGPU)])
        let forced = try fake.host.planBind([try target("00:02.0")], options: BindOptions(force: true))
        #expect(forced.functions.map(\.description) == ["0000:00:02.0"])
        #expect(forced.forced.map(\.kind) == [.bootGPU])
        withExtendedLifetime(fake) {}
    }

    @Test("a GPU with processes holding its DRM nodes is refused, naming them")
    func drmHolders() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/sys/devices/pci0000:00/0000:01:00.0/drm/card1/dev", "226:1\n")
        try fake.write("/proc/4242/comm", "Xorg\n")
        try fake.link("/proc/4242/fd/7", to: "/dev/dri/card1")
        try FileManager.default.removeItem(atPath: fake.path("/proc/4242/fd/7"))
        try FileManager.default.createSymbolicLink(
            atPath: fake.path("/proc/4242/fd/7"), withDestinationPath: "/dev/dri/card1")
        let error = #expect(throws: GuardFailure.self) {
            try fake.host.planBind([try target("01:00.0")], options: BindOptions())
        }
        #expect(error?.refusals.map(\.reason) == [.gpuInUse([GuardRefusal.Holder(name: "Xorg", pid: 4242)])])
        withExtendedLifetime(fake) {}
    }

    @Test("a disk controller with a mounted filesystem and the default-route NIC are refused")
    func hostDevices() throws {
        let fake = try FakeHost.workstation()
        try fake.add([
            FakePCIDevice(
                "0000:04:00.0", vendor: 0x144d, device: 0xa808, classCode: 0x010802, driver: "nvme", group: 6),
            FakePCIDevice(
                "0000:05:00.0", vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: "e1000e", group: 7),
        ])
        try fake.write("/sys/devices/pci0000:00/0000:04:00.0/nvme/nvme0/nvme0n1/nvme0n1p2/dev", "259:2\n")
        try fake.link(
            "/sys/class/block/nvme0n1p2", to: "/sys/devices/pci0000:00/0000:04:00.0/nvme/nvme0/nvme0n1/nvme0n1p2")
        try fake.write("/proc/mounts", "/dev/nvme0n1p2 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n")
        try fake.write("/sys/devices/pci0000:00/0000:05:00.0/net/enp5s0/address", "52:54:00:12:34:56\n")
        try fake.write(
            "/proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                + "enp5s0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n")
        let disk = #expect(throws: GuardFailure.self) {
            try fake.host.planBind([try target("04:00.0")], options: BindOptions())
        }
        #expect(
            disk?.refusals.map(\.reason) == [
                .storageInUse([.init(chain: [.init(name: "nvme0n1p2", stack: nil, label: nil)], use: .mounted("/"))])
            ])
        let nic = #expect(throws: GuardFailure.self) {
            try fake.host.planBind([try target("05:00.0")], options: BindOptions())
        }
        #expect(nic?.refusals.map(\.reason) == [.defaultRoute([.init(chain: ["enp5s0"], family: 4)])])
        withExtendedLifetime(fake) {}
    }

    @Test("a hung unbind stops the bind and every function touched goes back to its driver")
    func hungUnbind() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        kernel.hangUnbind = ["0000:01:00.1"]
        let host = fake.host
        let plan = try host.planBind([try target("01:00.0")], options: BindOptions())
        let failure = #expect(throws: BindFailure.self) { try host.bind(plan, options: BindOptions(), io: kernel) }
        #expect(failure?.error.code == .timeout)
        #expect(failure?.outcomes.map(\.address.description) == ["0000:01:00.0", "0000:01:00.1"])
        #expect(failure?.outcomes.map(\.result.rawValue) == ["restored", "restored"])
        #expect(driver(fake, "0000:01:00.0") == "nvidia")
        #expect(driver(fake, "0000:01:00.1") == "snd_hda_intel")
        #expect(override(fake, "0000:01:00.0") == "(null)")
        #expect(override(fake, "0000:01:00.1") == "(null)")
        #expect(driver(fake, "0000:01:00.2") == "xhci_hcd")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/dev/vfio/2")))
        #expect(!FileManager.default.fileExists(atPath: fake.path("/run/vfioctl/journal.json")))
    }

    @Test("a refused override or a failed vfio-pci probe rolls back in reverse order")
    func refusals() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        kernel.refuseVFIO = ["0000:01:00.3"]
        let host = fake.host
        let plan = try host.planBind([try target("01:00.0")], options: BindOptions())
        let failure = #expect(throws: BindFailure.self) { try host.bind(plan, options: BindOptions(), io: kernel) }
        #expect(failure?.error.message.contains("0000:01:00.3 did not bind to vfio-pci") == true)
        #expect(failure?.outcomes.allSatisfy { $0.result == .restored } == true)
        #expect(
            plan.functions.map { driver(fake, $0.description) ?? "none" } == [
                "nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu",
            ])
        let restoreOrder = kernel.writes.filter {
            $0.hasSuffix("/bind <- 0000:01:00.0") || $0.hasSuffix("/bind <- 0000:01:00.3")
        }
        #expect(restoreOrder == ["nvidia-gpu/bind <- 0000:01:00.3", "nvidia/bind <- 0000:01:00.0"])
    }

    @Test("a refused driver_override stops the bind at that function, and the function before it goes back")
    func refusedOverride() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        kernel.refuseOverride = ["0000:01:00.1"]
        let host = fake.host
        let plan = try host.planBind([try target("01:00.0")], options: BindOptions())
        let failure = #expect(throws: BindFailure.self) { try host.bind(plan, options: BindOptions(), io: kernel) }
        #expect(failure?.error.cause as? Errno == .invalidArgument)
        #expect(kernel.writes.contains("0000:01:00.1/driver_override <- vfio-pci"))
        #expect(!kernel.writes.contains { $0.contains("0000:01:00.2") || $0.contains("0000:01:00.3") })
        #expect(
            plan.functions.map { driver(fake, $0.description) ?? "none" } == [
                "nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu",
            ])
        #expect(override(fake, "0000:01:00.0") == "(null)")
        #expect(!FileManager.default.fileExists(atPath: fake.path("/dev/vfio/2")))
    }

    @Test("a driver unloaded during the bind leaves its function not restored, and the outcome names the write")
    func notRestored() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        kernel.refuseVFIO = ["0000:01:00.3"]
        let audioDriver = fake.path("/sys/bus/pci/drivers/snd_hda_intel")
        kernel.beforeWrite = { path in
            if path.string.hasSuffix("0000:01:00.3/driver_override") {
                try? FileManager.default.removeItem(atPath: audioDriver)
            }
        }
        let host = fake.host
        let plan = try host.planBind([try target("01:00.0")], options: BindOptions())
        let failure = #expect(throws: BindFailure.self) { try host.bind(plan, options: BindOptions(), io: kernel) }
        let audio = failure?.outcomes.first { $0.address.description == "0000:01:00.1" }
        #expect(audio?.result == .notRestored)
        #expect(audio?.driver == nil)
        #expect(audio?.detail?.contains("snd_hda_intel/bind") == true)
        #expect(
            failure?.outcomes.filter { $0.address.description != "0000:01:00.1" }.map(\.result.rawValue) == [
                "restored", "restored", "restored",
            ])
        #expect(driver(fake, "0000:01:00.1") == nil)
        #expect(driver(fake, "0000:01:00.0") == "nvidia")
    }

    @Test("the fake kernel refuses a bind to an unloaded driver and vfio-pci without an override, as Linux does")
    func fakeKernelRefuses() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        try kernel.write("0000:01:00.1", to: FilePath(fake.path("/sys/bus/pci/drivers/snd_hda_intel/unbind")))
        let unloaded = #expect(throws: DevicesError.self) {
            try kernel.write("0000:01:00.1", to: FilePath(fake.path("/sys/bus/pci/drivers/nouveau/bind")))
        }
        #expect(unloaded?.cause as? Errno == .noSuchFileOrDirectory)
        let noOverride = #expect(throws: DevicesError.self) {
            try kernel.write("0000:01:00.1", to: FilePath(fake.path("/sys/bus/pci/drivers/vfio-pci/bind")))
        }
        #expect(noOverride?.cause as? Errno == .operationNotSupportedByDevice)
        #expect(driver(fake, "0000:01:00.1") == nil)
        try kernel.write("vfio-pci", to: FilePath(fake.path("/sys/bus/pci/devices/0000:01:00.1/driver_override")))
        try kernel.write("0000:01:00.1", to: FilePath(fake.path("/sys/bus/pci/drivers/vfio-pci/bind")))
        #expect(driver(fake, "0000:01:00.1") == "vfio-pci")
    }

    @Test("unbind without a remembered driver lets the kernel probe")
    func unbindWithoutState() throws {
        let fake = try FakeHost.workstation()
        let kernel = try FakeKernel(host: fake)
        let plan = try fake.host.planUnbind([try target("02:00.0")])
        #expect(
            plan.steps.map(\.description) == [
                "echo 0000:02:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind",
                "echo > /sys/bus/pci/devices/0000:02:00.0/driver_override",
                "echo 0000:02:00.0 > /sys/bus/pci/drivers_probe",
            ])
        let outcomes = try fake.host.unbind(plan.functions, io: kernel)
        #expect(outcomes.first?.result == .unbound)
        // vfio-pci matches nothing without an override, so the kernel's probe leaves it driverless.
        #expect(driver(fake, "0000:02:00.0") == nil)
        #expect(kernel.writes.contains("pci/drivers_probe <- 0000:02:00.0"))
    }

    @Test("bad targets: a bridge, a GPU that does not exist, the IOMMU off")
    func badTargets() throws {
        let fake = try FakeHost.workstation()
        let bridge = #expect(throws: DevicesError.self) {
            try fake.host.planBind([try target("00:01.0")], options: BindOptions())
        }
        #expect(bridge?.message.contains("is a bridge") == true)
        let gpu = #expect(throws: DevicesError.self) {
            try fake.host.planBind([try target("gpu:9")], options: BindOptions())
        }
        #expect(gpu?.message == "there is no gpu:9: this host has 4 GPUs")
        #expect(gpu?.object == .gpuIndex(9))
        #expect(BindTarget("gpu:0") == nil)
        #expect(BindTarget("banana") == nil)
        let off = try FakeHost()
        try off.add(FakePCIDevice("0000:01:00.0", vendor: 0x10de, device: 0x1f08, classCode: 0x030000))
        let noIOMMU = #expect(throws: GuardFailure.self) {
            try off.host.planBind([try target("01:00.0")], options: BindOptions())
        }
        #expect(noIOMMU?.refusals.first?.kind == .iommuOff)
        withExtendedLifetime(fake) {}
        withExtendedLifetime(off) {}
    }
}
