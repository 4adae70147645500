// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Heed",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Heed", targets: ["Heed"]),
        .executable(name: "heed", targets: ["heed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
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
        .target(
            name: "HeedText",
            dependencies: ["CHeedICU", .product(name: "CSV", package: "CSV.swift")]
        ),
        .target(name: "HeedNN", dependencies: ["CHeedBLAS"]),
        .target(name: "Heed", dependencies: ["HeedText", "HeedNN"]),
        .target(name: "HeedReport", dependencies: ["Heed", .product(name: "Mustache", package: "swift-mustache")]),
        .executableTarget(
            name: "heed",
            dependencies: ["Heed", "HeedText", "HeedReport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // libFuzzer harnesses; `make fuzz` builds them with -sanitize=fuzzer,address.
        .executableTarget(name: "heed-fuzz", dependencies: ["HeedText", "HeedNN"], path: "Fuzz"),
        .testTarget(name: "HeedTextTests", dependencies: ["HeedText"]),
        .testTarget(name: "HeedNNTests", dependencies: ["HeedNN"], exclude: ["Fixtures"]),
        .testTarget(name: "HeedTests", dependencies: ["Heed"]),
        .testTarget(name: "HeedReportTests", dependencies: ["HeedReport", "HeedNN"], exclude: ["Golden"]),
        // Runs the built `heed` binary: exit codes, messages, output files.
        .testTarget(name: "HeedCLITests", dependencies: ["heed"]),
    ]
)
