import Foundation
import TestSupport
import Testing

@Suite struct InputCommandTests {
    private func host() throws -> FakeHost {
        let fake = try FakeHost()
        var keyboard = FakeInputDevice.keyboard(
            event: 3, name: "Cherry USB keyboard", physical: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1")
        keyboard.byID = ["usb-Cherry_USB_keyboard-event-kbd"]
        var mouse = FakeInputDevice.mouse(
            event: 5, name: "Logitech USB Optical Mouse", physical: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2")
        mouse.byID = ["usb-Logitech_USB_Optical_Mouse-event-mouse"]
        try fake.add(keyboard)
        try fake.add(mouse)
        return fake
    }

    @Test("input list --json follows the documented contract")
    func json() throws {
        let fake = try host()
        let result = try vfioctl(["input", "list", "--json", "--sysroot", fake.root])
        #expect(result.status == 0)
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(devices.count == 2)
        for device in devices {
            for key in ["eventPath", "stablePath", "name", "kinds", "bus", "physicalDevice", "autoSelected"] {
                #expect(device.keys.contains(key), "missing \(key)")
            }
        }
        #expect(devices[0]["stablePath"] as? String == "/dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd")
        #expect(devices[0]["kinds"] as? [String] == ["keyboard"])
        #expect(devices.allSatisfy { $0["autoSelected"] as? Bool == true })
    }

    @Test("the table names the choice and prints QEMU arguments with the grab toggle")
    func table() throws {
        let fake = try host()
        try fake.write("/etc/group", "input:x:104:bob\n")
        let result = try vfioctl(["input", "list", "--sysroot", fake.root, "--user", "alice"])
        #expect(result.status == 0)
        #expect(
            result.stdout.contains("--evdev auto takes keyboard /dev/input/by-id/usb-Cherry_USB_keyboard-event-kbd"))
        #expect(result.stdout.contains("grab_all=on,repeat=on,grab-toggle=ctrl-ctrl"))
        #expect(result.stdout.contains("alice is not in the input group"))
    }

    @Test("with no input devices it says so and exits 0")
    func none() throws {
        let fake = try FakeHost()
        let result = try vfioctl(["input", "list", "--sysroot", fake.root])
        #expect(result.status == 0)
        #expect(result.stdout.contains("no evdev input devices found"))
        let json = try vfioctl(["input", "list", "--json", "--sysroot", fake.root])
        #expect(json.stdout.filter { !$0.isWhitespace } == "[]" && json.stdout.hasSuffix("\n"))
    }

    @Test("a missing sysroot is one line and exit 66")
    func missingSysroot() throws {
        let result = try vfioctl(["input", "list", "--sysroot", "/nonexistent/tree"])
        #expect(result.status == 66)
        #expect(result.stderr.hasPrefix("vfioctl: sysroot /nonexistent/tree does not exist"))
    }
}
