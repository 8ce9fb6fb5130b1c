// swift-tools-version:6.0
import PackageDescription

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
        .systemLibrary(
            name: "CUdev",
            pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]
        ),
        .systemLibrary(
            name: "CEvdev",
            pkgConfig: "libevdev",
            providers: [.apt(["libevdev-dev"])]
        ),
        .systemLibrary(
            name: "CXML",
            pkgConfig: "libxml-2.0",
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
            ]
        ),
        .executableTarget(
            name: "vfioctl",
            dependencies: [
                "Devices",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Devices"],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "DevicesTests",
            dependencies: ["Devices", "CLinux", "TestSupport"]
        ),
        .testTarget(
            name: "vfioctlTests",
            dependencies: ["vfioctl", "Devices", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
