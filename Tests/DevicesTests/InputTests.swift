import TestSupport
import Testing

@testable import Devices

@Suite struct InputTests {
    private let usbKeyboard = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1"
    private let usbMouse = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"
    private let gamingMousePath = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3"

    private func keyboard(_ event: Int = 3, physical: String? = nil) -> FakeInputDevice {
        var device = FakeInputDevice.keyboard(
            event: event, name: "Cherry USB keyboard", physical: physical ?? usbKeyboard)
        device.byID = ["usb-Cherry_USB_keyboard-event-kbd"]
        device.byPath = ["pci-0000:00:14.0-usb-0:1:1.0-event-kbd"]
        return device
    }

    private func mouse(_ event: Int = 5, physical: String? = nil) -> FakeInputDevice {
        var device = FakeInputDevice.mouse(
            event: event, name: "Logitech USB Optical Mouse", physical: physical ?? usbMouse)
        device.byID = ["usb-Logitech_USB_Optical_Mouse-event-mouse"]
        device.byPath = ["pci-0000:00:14.0-usb-0:2:1.0-event-mouse"]
        return device
    }

    @Test("classifies by capabilities and picks the by-id link")
    func basic() throws {
        let fake = try FakeHost()
        try fake.add(keyboard())
        try fake.add(mouse())
        let report = try fake.host.inputDevices(user: nil)
        #expect(report.devices.map(\.eventPath) == ["/dev/input/event3", "/dev/input/event5"])
        #expect(report.devices.map(\.kinds) == [["keyboard"], ["mouse"]])
        #expect(report.keyboard?.stablePath == "/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd")
        #expect(report.mouse?.stablePath == "/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse")
        #expect(report.devices[0].bus == "usb")
        #expect(report.devices[0].physicalDevice == usbKeyboard)
        #expect(report.devices[0].vendorID == "046d")
        #expect(
            report.qemuArguments == [
                "-object",
                "input-linux,id=kbd0,evdev=/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd,grab_all=on,repeat=on,grab-toggle=ctrl-ctrl",
                "-object", "input-linux,id=mouse0,evdev=/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse",
            ])
        withExtendedLifetime(fake) {}
    }

    @Test("a keyboard+mouse combo device groups both nodes under one physical device and both are taken")
    func combo() throws {
        let fake = try FakeHost()
        let receiver = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-4"
        var kbd = FakeInputDevice.keyboard(event: 2, name: "Logitech K400", physical: receiver)
        kbd.byID = ["usb-Logitech_USB_Receiver-event-kbd"]
        var pointer = FakeInputDevice.mouse(event: 4, name: "Logitech K400 Mouse", physical: receiver)
        pointer.byID = ["usb-Logitech_USB_Receiver-if01-event-mouse"]
        try fake.add(kbd)
        try fake.add(pointer)
        let report = try fake.host.inputDevices(user: nil)
        #expect(Set(report.devices.map(\.physicalDevice)) == [receiver])
        #expect(report.keyboard?.eventPath == "/dev/input/event2")
        #expect(report.mouse?.eventPath == "/dev/input/event4")
        #expect(report.devices[0].notes.contains { $0.hasPrefix("same physical device as /dev/input/event4 (mouse)") })
        withExtendedLifetime(fake) {}
    }

    @Test("a gaming mouse's keyboard interface is not chosen over the real keyboard")
    func gamingMouse() throws {
        let fake = try FakeHost()
        var gamingKeys = FakeInputDevice.keyboard(
            event: 6, name: "Razer DeathAdder Keyboard", physical: gamingMousePath)
        gamingKeys.byID = ["usb-Razer_DeathAdder-if01-event-kbd"]
        var gamingPointer = FakeInputDevice.mouse(event: 7, name: "Razer DeathAdder", physical: gamingMousePath)
        gamingPointer.byID = ["usb-Razer_DeathAdder-event-mouse"]
        try fake.add(gamingKeys)
        try fake.add(gamingPointer)
        try fake.add(keyboard(9))
        let report = try fake.host.inputDevices(user: nil)
        #expect(report.keyboard?.eventPath == "/dev/input/event9")
        #expect(report.mouse?.eventPath == "/dev/input/event7")
        #expect(report.devices.first { $0.eventPath == "/dev/input/event6" }?.kinds == ["keyboard"])
        withExtendedLifetime(fake) {}
    }

    @Test("a Bluetooth keyboard has no by-id link: noted, and the event node is used with a warning")
    func bluetooth() throws {
        let fake = try FakeHost()
        var bt = FakeInputDevice.keyboard(
            event: 11, name: "Apple Magic Keyboard", physical: "/sys/devices/virtual/misc/uhid/0005:05AC:0267.0004",
            isUSB: false)
        bt.bustype = 0x05
        bt.uniq = "a4:83:e7:12:34:56"
        try fake.add(bt)
        let device = try #require(try fake.host.inputDevices(user: nil).devices.first)
        #expect(device.bus == "bluetooth")
        #expect(device.stablePath == nil)
        #expect(device.uniq == "a4:83:e7:12:34:56")
        #expect(device.notes.contains { $0.hasPrefix("Bluetooth devices get no /dev/input/by-id link") })
        #expect(device.notes.contains { $0.hasPrefix("no stable link: /dev/input/event11") })
        #expect(!device.isVirtual)
        #expect(device.autoSelected)
        withExtendedLifetime(fake) {}
    }

    @Test("power button, lid switch and PC speaker are classified and never taken")
    func notKeyboards() throws {
        let fake = try FakeHost()
        var power = FakeInputDevice(
            event: 0, name: "Power Button", physical: "/sys/devices/LNXSYSTM:00/LNXPWRBN:00", isUSB: false)
        power.events = [0, 1]
        power.keys = [116]
        power.bustype = 0x19
        var lid = FakeInputDevice(
            event: 1, name: "Lid Switch", physical: "/sys/devices/LNXSYSTM:00/PNP0C0D:00", isUSB: false)
        lid.events = [0, 5]
        lid.switches = [0]
        lid.bustype = 0x19
        var speaker = FakeInputDevice(
            event: 8, name: "PC Speaker", physical: "/sys/devices/platform/pcspkr", isUSB: false)
        speaker.events = [0, 18]
        speaker.bustype = 0x10
        try fake.add([power, lid, speaker])
        let report = try fake.host.inputDevices(user: nil)
        #expect(report.devices.map(\.kinds) == [["key"], ["switch"], []])
        #expect(report.devices.allSatisfy { !$0.autoSelected })
        #expect(report.qemuArguments.isEmpty)
        #expect(report.devices[0].bus == "host")
        withExtendedLifetime(fake) {}
    }

    @Test("a virtual (uinput) keyboard is never taken")
    func virtualKeyboard() throws {
        let fake = try FakeHost()
        try fake.add(
            FakeInputDevice.keyboard(event: 12, name: "ydotoold virtual device", physical: "/sys/devices/virtual/input")
                .withoutUSB())
        let device = try #require(try fake.host.inputDevices(user: nil).devices.first)
        #expect(device.isVirtual)
        #expect(!device.autoSelected)
        #expect(device.kinds == ["keyboard"])
        withExtendedLifetime(fake) {}
    }

    @Test("touchpads, tablets and joysticks are told apart from mice")
    func pointers() throws {
        let fake = try FakeHost()
        var touchpad = FakeInputDevice(
            event: 20, name: "SynPS/2 Synaptics TouchPad", physical: "/sys/devices/platform/i8042/serio1", isUSB: false)
        touchpad.events = [0, 1, 3]
        touchpad.keys = [0x110, 0x145, 0x14a]
        touchpad.absolute = [0, 1, 0x35, 0x36]
        touchpad.properties = [0]
        touchpad.bustype = 0x11
        var pen = FakeInputDevice(event: 21, name: "Wacom Intuos Pen", physical: "/sys/devices/pci0000:00/usb1/1-5")
        pen.events = [0, 1, 3]
        pen.keys = [0x140, 0x14b, 0x14a]
        pen.absolute = [0, 1]
        var pad = FakeInputDevice(event: 22, name: "Xbox Controller", physical: "/sys/devices/pci0000:00/usb1/1-6")
        pad.events = [0, 1, 3]
        pad.keys = [0x130, 0x131, 0x133]
        pad.absolute = [0, 1, 3, 4]
        try fake.add([touchpad, pen, pad])
        let report = try fake.host.inputDevices(user: nil)
        #expect(report.devices.map(\.kinds) == [["touchpad"], ["tablet"], ["joystick"]])
        #expect(report.devices[0].bus == "i8042")
        #expect(report.mouse == nil)
        withExtendedLifetime(fake) {}
    }

    @Test("no input devices at all is an empty answer")
    func none() throws {
        let fake = try FakeHost()
        let report = try fake.host.inputDevices(user: "alice")
        #expect(report.devices.isEmpty)
        #expect(report.qemuArguments.isEmpty)
        withExtendedLifetime(fake) {}
    }

    @Test("a by-path link is used when there is no by-id link")
    func byPathOnly() throws {
        let fake = try FakeHost()
        var virtioKeyboard = FakeInputDevice.keyboard(
            event: 1, name: "QEMU Virtio Keyboard", physical: "/sys/devices/pci0000:00/0000:00:03.0/virtio1",
            isUSB: false)
        virtioKeyboard.bustype = 0x06
        virtioKeyboard.byPath = ["pci-0000:00:03.0-event-kbd"]
        try fake.add(virtioKeyboard)
        let device = try #require(try fake.host.inputDevices(user: nil).devices.first)
        #expect(device.stablePath == "/dev/input/by-path/pci-0000:00:03.0-event-kbd")
        #expect(device.bus == "virtio")
        #expect(device.notes.isEmpty)
        withExtendedLifetime(fake) {}
    }

    @Test("qemu.conf's cgroup_device_acl and the input group are checked")
    func permissions() throws {
        let fake = try FakeHost()
        try fake.add(keyboard())
        try fake.add(mouse())
        try fake.write("/etc/group", "root:x:0:\ninput:x:104:bob,alice\nkvm:x:105:alice\n")
        try fake.write(
            "/etc/libvirt/qemu.conf",
            """
            # cgroup_device_acl = [ "/dev/input/by-id/usb-Logitech_USB_Optical_Mouse-event-mouse" ]
            cgroup_device_acl = [
                "/dev/null", "/dev/full", "/dev/zero",
                "/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd",
            ]
            """)
        let report = try fake.host.inputDevices(user: "alice")
        #expect(report.userInInputGroup == true)
        #expect(report.keyboard?.allowedByQEMUConf == true)
        #expect(report.mouse?.allowedByQEMUConf == false)
        #expect(try fake.host.inputDevices(user: "carol").userInInputGroup == false)
        withExtendedLifetime(fake) {}
    }

    @Test("capability bitmaps parse as the kernel prints them")
    func bitmaps() throws {
        let bits = try #require(BitSet(sysfsBitmap: "120013"))
        #expect(bits.elements == [0, 1, 4, 17, 20])
        let keys = try #require(BitSet(sysfsBitmap: "3 0 0 fffffffffffffffe"))
        #expect(keys.contains(1) && keys.contains(63) && keys.contains(192) && keys.contains(193))
        #expect(!keys.contains(0) && !keys.contains(64))
        #expect(BitSet(sysfsBitmap: "zz") == nil)
    }

    @Test("commas in evdev paths are doubled for QEMU")
    func escaping() {
        let arguments = EvdevArguments(
            keyboard: "/dev/input/by-id/a,b-event-kbd", mouse: "/dev/input/m", grabToggle: "alt-alt")
        #expect(
            arguments.commandLine[1]
                == "input-linux,id=kbd0,evdev=/dev/input/by-id/a,,b-event-kbd,grab_all=on,repeat=on,grab-toggle=alt-alt"
        )
    }

    @Test("a garbage capability bitmap skips the node with a warning naming the path")
    func garbageBitmap() throws {
        let fake = try FakeHost()
        try fake.add(keyboard())
        try fake.write(usbKeyboard + "/iface/hid3/input/input3/capabilities/key", "nothex\n")
        let report = try fake.host.inputDevices(user: nil)
        #expect(report.devices.isEmpty)
        #expect(report.warnings.first?.contains("capabilities/key") == true)
        withExtendedLifetime(fake) {}
    }
}

extension FakeInputDevice {
    fileprivate func withoutUSB() -> FakeInputDevice {
        var copy = self
        copy.isUSB = false
        return copy
    }
}

extension FakeHost {
    fileprivate func add(_ devices: [FakeInputDevice]) throws {
        for device in devices { try add(device) }
    }
}
