import Foundation
import Testing

/// The result of running the built `vfioctl` binary.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the `vfioctl` binary built next to the test bundle, as a user would.
func vfioctl(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> CommandResult {
    let binary = Bundle.main.bundleURL.appendingPathComponent("vfioctl")
    try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build vfioctl first: \(binary.path)")
    return try run(binary.path, arguments, environment: environment, input: input)
}

/// Runs a program and collects its output and status.
func run(_ program: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws
    -> CommandResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["VFIOCTL_SYSROOT"] = nil
    // An empty value unsets the variable.
    for (key, value) in environment { env[key] = value.isEmpty ? nil : value }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let stdin = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    // Read both pipes before waiting so a large output cannot fill a pipe and stall the child.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}
