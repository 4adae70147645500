extension Adam.State {
    /// Rebuilds a saved optimizer state (e.g. from a training checkpoint).
    public init(steps: Int, moments m: [[Float]], squares v: [[Float]]) {
        self.init(steps: steps, m: m, v: v)
    }
}
