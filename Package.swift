// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Heed",
    // Hummingbird 2 and swift-service-lifecycle need macOS 14.
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Heed", targets: ["Heed"]),
        .executable(name: "heed", targets: ["heed"]),
    ],
    // `swift build --traits MPI` (make build-mpi) adds data-parallel training over MPI
    // (`mpirun -np N heed train --distributed`); the default build needs no MPI.
    traits: [
        .trait(name: "MPI", description: "Data-parallel training over Open MPI (heed train --distributed).")
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        // `swift package generate-documentation`, for those who use the plugin (make docs makes the same
        // site from the debug build without it); a build-time plugin, nothing is linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
        // `heed serve`: HTTP on SwiftNIO, graceful shutdown on SIGTERM/SIGINT.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        // ICU stays behind this C target: Foundation on Linux ships its own ICU and the two
        // clash when Swift sees both sets of headers.
        .target(
            name: "CHeedICU",
            linkerSettings: [
                .linkedLibrary("icui18n"), .linkedLibrary("icuuc"), .linkedLibrary("icudata"),
            ]
        ),
        // BLAS behind a thin C API: OpenBLAS on Linux, Accelerate on macOS.
        .target(
            name: "CHeedBLAS",
            linkerSettings: [
                .linkedLibrary("openblas", .when(platforms: [.linux])),
                .linkedFramework("Accelerate", .when(platforms: [.macOS])),
            ]
        ),
        // The LSTM cell's elementwise loops, with a 256-bit variant chosen at run time (see its header).
        .target(name: "CHeedKernels"),
        // Open MPI's headers and library, located by pkg-config (Debian: libopenmpi-dev).
        .systemLibrary(name: "COpenMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // MPI behind a handful of C functions, like ICU and BLAS: Swift never sees mpi.h. Without the
        // trait its source compiles to nothing, so the default build needs no MPI headers.
        .target(
            name: "CHeedMPI",
            dependencies: [.target(name: "COpenMPI", condition: .when(traits: ["MPI"]))],
            cSettings: [.define("HEED_WITH_MPI", .when(traits: ["MPI"]))]
        ),
        // Atomic file writes, shared by every stage (it imports nothing of Heed).
        .target(name: "HeedIO"),
        .target(
            name: "HeedText",
            dependencies: ["CHeedICU", "HeedIO", .product(name: "CSV", package: "CSV.swift")]
        ),
        .target(name: "HeedNN", dependencies: ["CHeedBLAS", "CHeedKernels", "HeedIO"]),
        .target(name: "Heed", dependencies: ["HeedText", "HeedNN", .target(name: "CHeedMPI", condition: .when(traits: ["MPI"]))]),
        .target(name: "HeedReport", dependencies: ["Heed", "HeedNN", "HeedIO", .product(name: "Mustache", package: "swift-mustache")]),
        // The HTTP API and live page of `heed serve`.
        .target(
            name: "HeedServe",
            dependencies: [
                "Heed", "HeedIO", "HeedReport", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "heed",
            dependencies: [
                "Heed", "HeedText", "HeedNN", "HeedIO", "HeedReport", "HeedServe", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The README's library example; uses only `import Heed`, as a client would (make example).
        .executableTarget(name: "heed-example", dependencies: ["Heed"], path: "Examples/QuickStart"),
        // libFuzzer harnesses; `make fuzz` builds them with -sanitize=fuzzer,address.
        .executableTarget(name: "heed-fuzz", dependencies: ["HeedText", "HeedNN"], path: "Fuzz", exclude: ["seeds"]),
        // Checks shared by test targets (not shipped in any product).
        .target(name: "HeedTestSupport", path: "Tests/HeedTestSupport"),
        .testTarget(name: "HeedIOTests", dependencies: ["HeedIO"]),
        .testTarget(name: "HeedTextTests", dependencies: ["HeedText"]),
        .testTarget(name: "HeedNNTests", dependencies: ["HeedNN", "CHeedKernels", "CHeedBLAS"], exclude: ["Fixtures"]),
        .testTarget(name: "HeedTests", dependencies: ["Heed", "HeedTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "HeedReportTests", dependencies: ["HeedReport", "HeedNN", "HeedIO"], exclude: ["Golden"]),
        // Runs the built `heed` binary: exit codes, messages, output files.
        .testTarget(name: "HeedCLITests", dependencies: ["heed"]),
        // Routes through HummingbirdTesting's in-process router, and one real loopback socket.
        .testTarget(
            name: "HeedServeTests",
            dependencies: ["HeedServe", "Heed", .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
        // mpirun with 2–3 ranks on the built `heed`; empty unless the MPI trait is on (make test-mpi).
        .testTarget(name: "HeedMPITests", dependencies: ["heed", "Heed", "HeedNN", "HeedTestSupport"]),
    ]
)
