import TestSupport
import Testing

@testable import Devices

@Suite struct ResetTests {
    @Test("a Polaris card gets the vendor-reset family, its udev rule for 5.15+ and the load order")
    func polaris() throws {
        let report = try FakeHost.workstation().report()
        let reset = try #require(try report.device("02:00.0").reset)
        #expect(reset.vendorResetFamily == "Polaris 10")
        #expect(
            reset.vendorResetRule
                == "ACTION==\"add\", SUBSYSTEM==\"pci\", ATTR{vendor}==\"0x1002\", ATTR{device}==\"0x67DF\", "
                + "RUN+=\"/bin/sh -c '/sbin/modprobe vendor-reset; echo device_specific > /sys$env{DEVPATH}/reset_method'\""
        )
        #expect(reset.summary.contains { $0.contains("load it before vfio-pci") && $0.contains("device_specific") })
        #expect(!reset.pmReset)
        #expect(reset.summary.contains { $0.hasPrefix("PM reset is not trusted") })
    }

    @Test("before 5.15 the udev rule only loads vendor-reset")
    func oldKernel() throws {
        let fake = try FakeHost.workstation()
        try fake.write("/proc/sys/kernel/osrelease", "5.10.0-28-amd64\n")
        let reset = try #require(try fake.report().device("02:00.0").reset)
        #expect(reset.vendorResetRule?.hasSuffix("RUN+=\"/sbin/modprobe vendor-reset\"") == true)
        #expect(!reset.summary.contains { $0.contains("device_specific") })
    }

    @Test("FLR, PM and bus reset come from config space and the topology")
    func capabilities() throws {
        let report = try FakeHost.workstation().report()
        let audio = try #require(try report.device("01:00.1").reset)
        #expect(audio.flr)
        #expect(audio.methods == ["flr", "bus"])
        #expect(!audio.busReset)  // three sibling functions on bus 01
        let igpu = try #require(try report.device("00:02.0").reset)
        #expect(igpu.pmReset)
        #expect(igpu.afFLR)
        #expect(!igpu.busReset)  // root bus
        #expect(igpu.summary.first == "the kernel offers no reset for it: a guest reboot may leave it in a bad state")
        let nvidia = try #require(try report.device("01:00.0").reset)
        #expect(!nvidia.flr)
        #expect(nvidia.summary.contains { $0.contains("needs every function of it (4)") })
    }

    @Test("a device in the kernel's no-FLR quirk list never counts as FLR-capable")
    func noFLRQuirk() throws {
        let fake = try FakeHost()
        try fake.add(
            FakePCIDevice("0000:0a:00.4", vendor: 0x1022, device: 0x1487, classCode: 0x040300, group: 20) {
                $0.pcieType = 0
                $0.supportsFLR = true
            })
        let reset = try #require(try fake.report().device("0a:00.4").reset)
        #expect(!reset.flr)
        #expect(reset.flrDisabledByQuirk)
        #expect(reset.busReset)
        #expect(reset.summary.contains("FLR is disabled by a kernel quirk (quirk_no_flr: it hangs this device)"))
    }
}
