// swift-tools-version:6.0
import PackageDescription

/// Where libxml2's headers are (`pkg-config --cflags libxml-2.0`), for every module that imports CXML directly or
/// through Devices.
let libxml2Headers: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I/usr/include/libxml2"])]

let package = Package(
    name: "vfioctl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vfioctl", targets: ["vfioctl"]),
        .library(name: "Devices", targets: ["Devices"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CPci",
            pkgConfig: "libpci",
            providers: [.apt(["libpci-dev"])]
        ),
        // Headers only, like CVirt: libudev, libevdev and libxml2 are loaded with dlopen when a command needs them
        // (see each shim.h), so no command pays for mapping them at start-up. No pkgConfig here, as its flags would
        // link them; libxml2's headers sit in their own directory (`libxml2Headers` below).
        .systemLibrary(
            name: "CUdev",
            providers: [.apt(["libudev-dev"])]
        ),
        .systemLibrary(
            name: "CEvdev",
            providers: [.apt(["libevdev-dev"])]
        ),
        .systemLibrary(
            name: "CXML",
            providers: [.apt(["libxml2-dev"])]
        ),
        // Headers only: libvirt itself is loaded with dlopen when a command needs it (see Sources/CVirt/shim.h).
        .systemLibrary(
            name: "CVirt",
            providers: [.apt(["libvirt-dev"])]
        ),
        // Headers only: system calls glibc has no wrapper for (openat2).
        .systemLibrary(name: "CLinux"),
        .target(
            name: "Devices",
            dependencies: [
                "CPci",
                "CUdev",
                "CEvdev",
                "CXML",
                "CVirt",
                "CLinux",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: libxml2Headers
        ),
        .executableTarget(
            name: "vfioctl",
            dependencies: [
                "Devices",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: libxml2Headers
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Devices"],
            path: "Tests/TestSupport",
            swiftSettings: libxml2Headers
        ),
        .testTarget(
            name: "DevicesTests",
            dependencies: ["Devices", "CLinux", "TestSupport"],
            swiftSettings: libxml2Headers
        ),
        .testTarget(
            name: "vfioctlTests",
            dependencies: ["vfioctl", "Devices", "TestSupport"],
            swiftSettings: libxml2Headers
        ),
    ],
    swiftLanguageModes: [.v6]
)
