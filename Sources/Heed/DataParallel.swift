import HeedNN

/// A network a batch can be split over: its replicas share its weights but have their own
/// gradients, buffers and random stream.
protocol ReplicableNetwork: AnyObject {
    var parameters: [Param] { get }
    func replica() -> Self
}

extension Classifier: ReplicableNetwork {}
extension HierarchicalClassifier: ReplicableNetwork {}
extension LanguageModel: ReplicableNetwork {}

/// One training step's gradient over worker threads in this process. The batch is dealt into one
/// share per worker; each worker runs forward and backward on its own replica with the whole
/// batch's loss divisor, so the shares' gradients add up to the batch's mean-loss gradient. They
/// are added into the model's gradients in worker order, so the result depends on the seed and the
/// worker count, never on thread timing. What a share computes is the objective's (the
/// classifier's and the language model's `gradient` extensions).
final class DataParallelStep<Network: ReplicableNetwork> {
    let model: Network
    /// Workers 1..<count; worker 0 is `model` itself.
    let replicas: [Network]
    var workers: Int { replicas.count + 1 }
    /// Every worker's network, worker 0 first.
    var networks: [Network] { [model] + replicas }

    init(model: Network, workers: Int) {
        self.model = model
        replicas = (1..<max(1, workers)).map { _ in model.replica() }
    }

    /// The shares `indices` is dealt into, round-robin (worker w takes positions w, w + n, …): a
    /// batch lists its documents in length order, so dealing gives every worker a like number of
    /// tokens. At most one share per worker, none empty.
    static func shares(_ indices: [Int], workers: Int) -> [[Int]] {
        let n = max(1, min(workers, indices.count))
        return (0..<n).map { w in Array(stride(from: w, to: indices.count, by: n).map { indices[$0] }) }
    }

    /// Runs `share` for every share on its worker's network (share w always on network w, whichever
    /// thread takes it), then adds the replicas' gradients into `model`'s in worker order. Returns
    /// what each share returned, in worker order.
    func run<Part>(_ shares: [[Int]], _ share: (_ network: Network, _ worker: Int) -> Part) -> [Part] {
        let networks = networks
        let parts = concurrentMap(count: shares.count, threads: shares.count) { _, w in share(networks[w], w) }
        addGradients(of: replicas.prefix(shares.count - 1).map(\.parameters), into: model.parameters)
        return parts
    }
}
