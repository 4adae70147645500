#if MPI
import CHeedMPI
#endif

/// Starting and ending the process group of a distributed run.
package enum Distributed {
    /// Joins the MPI job this process was started in (by mpirun); without the MPI trait, an error
    /// that says how to build it.
    package static func start() throws -> any Collective & Terminating {
        #if MPI
        guard heed_mpi_init() == 0 else { throw DistributedError.startFailed }
        return MPICollective()
        #else
        throw DistributedError.notBuilt
        #endif
    }
}

/// Ending a process group: cleanly when every rank finishes, or all at once when one rank cannot go on.
package protocol Terminating {
    /// Every rank calls this at the end of a successful (or agreed-failed) run.
    func finish()
    /// Ends every rank of the job now, with `code` (for failures only this rank has seen).
    func abort(code: Int32) -> Never
}

#if MPI
/// `Collective` over MPI_COMM_WORLD. MPI's default error handler is fatal, so a rank that dies
/// makes mpirun end the whole job instead of leaving the others waiting in a collective.
final class MPICollective: Collective, Terminating {
    let rank: Int
    let size: Int

    init() {
        rank = Int(heed_mpi_rank())
        size = Int(heed_mpi_size())
    }

    func sum(_ values: UnsafeMutableBufferPointer<Float>) {
        guard let base = values.baseAddress, size > 1 else { return }
        heed_mpi_allreduce_sum_float(base, Int64(values.count))
    }

    func sum(_ values: inout [Double]) {
        guard size > 1 else { return }
        values.withUnsafeMutableBufferPointer { heed_mpi_allreduce_sum_double($0.baseAddress, Int64($0.count)) }
    }

    func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8] {
        guard size > 1 else { return bytes }
        var count = Int64(bytes.count)
        heed_mpi_bcast_bytes(&count, 8, Int32(root))
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
        if count > 0 { out.withUnsafeMutableBytes { heed_mpi_bcast_bytes($0.baseAddress, count, Int32(root)) } }
        return out
    }

    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var counts = [Int64](repeating: 0, count: size)
        heed_mpi_allgather_int64(Int64(bytes.count), &counts)
        let total = counts.reduce(0, +)
        var gathered = [UInt8](repeating: 0, count: Int(max(total, 1)))
        let status = bytes.withUnsafeBytes { send in
            gathered.withUnsafeMutableBytes { heed_mpi_allgatherv_bytes(send.baseAddress, Int64(bytes.count), $0.baseAddress, counts) }
        }
        // Every rank sees the same counts, so every rank fails here together.
        guard status == 0 else { throw AgreedFailure(message: "gathering \(total) bytes across ranks exceeds MPI's 2 GiB message limit") }
        var out: [[UInt8]] = []
        var offset = 0
        for c in counts {
            out.append(Array(gathered[offset..<offset + Int(c)]))
            offset += Int(c)
        }
        return out
    }

    func finish() { heed_mpi_finalize() }

    func abort(code: Int32) -> Never {
        heed_mpi_abort(code)
        fatalError("MPI_Abort returned")
    }
}
#endif
