import Foundation
import HeedNN
import HeedText

/// The collective operations data-parallel training needs, independent of the transport. Every
/// rank must call the same operations in the same order (as with MPI); `MPICollective` (built with
/// the MPI package trait) is the real one, tests may supply their own.
package protocol Collective: AnyObject {
    /// This process's index, 0..<size; rank 0 evaluates decisions and writes files.
    var rank: Int { get }
    /// The number of ranks (1 for a single process).
    var size: Int { get }
    /// In-place elementwise sum over all ranks.
    func sum(_ values: UnsafeMutableBufferPointer<Float>)
    /// In-place elementwise sum over all ranks (for counts and metrics, where Float would round).
    func sum(_ values: inout [Double])
    /// Rank `root`'s bytes, on every rank (other ranks' arguments are ignored).
    func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8]
    /// Every rank's bytes, in rank order, on every rank.
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]
}

/// The group of one: single-process training is the data-parallel loop over this collective, so
/// there is one training loop.
package final class SingleProcess: Collective {
    /// The group of this process alone: every operation returns its input.
    package init() {}
    package var rank: Int { 0 }
    package var size: Int { 1 }
    package func sum(_ values: UnsafeMutableBufferPointer<Float>) {}
    package func sum(_ values: inout [Double]) {}
    package func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8] { bytes }
    package func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
}

/// A failure every rank detected identically (from reduced values or gathered data), so each
/// rank stops on its own and only rank 0 needs to report it; anything else is local to one rank.
package struct AgreedFailure: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as every rank saw it.
    package let underlying: any Error
    package var description: String { "\(underlying)" }
    /// Marks `error` as seen identically by every rank.
    package init(_ error: any Error) { underlying = error }
    /// A `Disagreement` described by `message`.
    package init(message: String) { underlying = Disagreement(description: message) }

    /// Ranks that do not hold the same value.
    package struct Disagreement: Error, CustomStringConvertible, Sendable {
        /// Which value the ranks disagree on, with each rank's value.
        package let description: String
    }
}

/// Errors specific to distributed runs.
package enum DistributedError: Error, CustomStringConvertible, Sendable {
    /// This build has no MPI support (the `MPI` package trait was off).
    case notBuilt
    /// MPI could not start: the process was not launched by mpirun or a batch system.
    case startFailed

    /// The message for the user, saying how to fix it.

    package var description: String {
        switch self {
        case .notBuilt:
            return
                "distributed training needs heed built with MPI support: run `make build-mpi` (installs Open MPI: libopenmpi-dev, openmpi-bin) and start it with mpirun -np N"
        case .startFailed: return "MPI_Init failed: start heed with mpirun (or a batch system that launches MPI jobs)"
        }
    }
}

extension Collective {
    /// Each rank's value, in rank order.
    package func allGather(_ value: UInt64) throws -> [UInt64] {
        try allGather(withUnsafeBytes(of: value.littleEndian) { Array($0) }).map { bytes in
            UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        }
    }

    /// Fails on every rank (identically) unless all ranks hold the same `value`; `what` names it.
    package func requireAgreement(_ value: UInt64, _ what: String) throws {
        let all = try allGather(value)
        guard Set(all).count == 1 else {
            let listed = all.enumerated().map { "rank \($0.offset): \(String($0.element, radix: 16))" }.joined(separator: ", ")
            throw AgreedFailure(message: "ranks disagree on \(what) (\(listed)); every rank must run the same heed build with the same files and options")
        }
    }
}

/// FNV-1a, 64 bit: cheap fingerprints compared across ranks (not a security boundary).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    mutating func add(_ buffer: UnsafeBufferPointer<Float>) {
        add(UnsafeRawBufferPointer(buffer))
    }
}
