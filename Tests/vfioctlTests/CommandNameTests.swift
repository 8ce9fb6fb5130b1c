import ArgumentParser
import Testing

@testable import vfioctl

/// Every command names itself: the parser would otherwise derive the name from the type's name at run time, which
/// costs a search of the program's conformance records for each command, every run.
@Suite struct CommandNameTests {
    @Test("every command and subcommand has an explicit name, the one its type's name would give")
    func everyCommandNamesItself() {
        var pending: [any ParsableCommand.Type] = [VFIOCtl.self]
        var seen = 0
        while let command = pending.popLast() {
            seen += 1
            let configuration = command.configuration
            let name = configuration.commandName
            #expect(name != nil, "\(command) has no commandName")
            let typeName = String(describing: command).lowercased()
            let derived = typeName.hasSuffix("command") ? String(typeName.dropLast("command".count)) : typeName
            #expect(name == derived, "\(command) is named \(name ?? "nothing")")
            pending += configuration.subcommands
        }
        #expect(seen > 20)
    }
}
