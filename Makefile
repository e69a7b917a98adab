# forkwatch build. `make` installs what is missing (apt, npm), then builds the BPF object and its
# skeleton, the native addon and the TypeScript. Run as root on Debian 12 (or with sudo).

ARCH        ?= $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
BUILD       := build
BPF_CLANG   ?= clang
BPF_CFLAGS  := -g -O2 -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Ibpf -Ibpf/vmlinux/$(ARCH)
VMLINUX     := bpf/vmlinux/$(ARCH)/vmlinux.h

# Debian packages: to build, and (TEST_PKGS) what the tests and benchmarks drive.
BUILD_PKGS  := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc g++ python3
TEST_PKGS   := prometheus stress-ng util-linux procps systemd nats-server openssl
LINT_PKGS   := clang-format

.PHONY: all deps test-deps lint-deps bpf bpf-variant addon relay ts run test clean vmlinux docs
.PHONY: check-imports typecheck lint format-check format

all: deps bpf addon relay ts

# ---- dependencies -------------------------------------------------------------------------
deps: $(BUILD)/.apt-build node_modules/.installed

$(BUILD)/.apt-build:
	@scripts/apt-ensure.sh $(BUILD_PKGS)
	@mkdir -p $(BUILD) && touch $@

test-deps: $(BUILD)/.apt-test

$(BUILD)/.apt-test:
	@scripts/apt-ensure.sh $(TEST_PKGS)
	@mkdir -p $(BUILD) && touch $@

lint-deps: $(BUILD)/.apt-lint

$(BUILD)/.apt-lint:
	@scripts/apt-ensure.sh $(LINT_PKGS)
	@mkdir -p $(BUILD) && touch $@

# Exactly what package-lock.json says (npm ci refuses a lockfile out of step with package.json).
# re2 (the linear-time regex engine) builds from source on install: node-gyp takes Node's headers
# from /usr when Debian's package ships them, as the addon does, instead of downloading them; an
# npm that skips dependencies' install scripts leaves it unbuilt, so it is built here then.
# A node_modules that is a link (a git worktree sharing another checkout's) is not reinstalled
# through the link: npm ci would empty the other checkout's.
node_modules/.installed: package.json package-lock.json | $(BUILD)/.apt-build
	@if [ -L node_modules ]; then echo "node_modules is a link to $$(readlink node_modules): not installing through it (npm ci there if package-lock.json changed)" >&2; exit 0; fi; \
	set -e; npm ci --no-audit --no-fund $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr); \
	test -f node_modules/re2/build/Release/re2.node || (cd node_modules/re2 && ../.bin/node-gyp rebuild --loglevel=warn $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr)); \
	touch $@

# ---- kernel side --------------------------------------------------------------------------
bpf: $(BUILD)/bpf/proc.skel.h

$(BUILD)/bpf/proc.bpf.o: bpf/proc.bpf.c bpf/proc.h bpf/core_shims.h bpf/record_hdr.h bpf/lifetime.h $(VMLINUX) $(BUILD)/.apt-build
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	mv $@.tmp $@

$(BUILD)/bpf/proc.skel.h: $(BUILD)/bpf/proc.bpf.o
	bpftool gen skeleton $< name proc > $@.tmp && mv $@.tmp $@

# A knockout build of the same programs, for bench/bpf-attrib.mjs:
#   make bpf-variant VARIANT="-DFW_KO_RECORD=1 -DFW_KO_COUNTERS=1" OUT=/tmp/x.bpf.o
# VARIANT takes only the FW_KO_* switches of bpf/proc.bpf.c; the agent's own build sets none.
# SRC=FILE builds an edited copy of bpf/proc.bpf.c instead (test/kernel/object-path.test.ts).
bpf-variant: bpf/proc.bpf.c bpf/proc.h bpf/core_shims.h bpf/record_hdr.h bpf/lifetime.h $(VMLINUX) $(BUILD)/.apt-build
	@test -n "$(OUT)" || { echo "make bpf-variant: OUT=FILE is required" >&2; exit 2; }
	@for f in $(VARIANT); do case "$$f" in -DFW_KO_[A-Z]*) ;; *) echo "make bpf-variant: VARIANT takes -DFW_KO_* switches only, not '$$f'" >&2; exit 2;; esac; done
	$(BPF_CLANG) $(BPF_CFLAGS) $(VARIANT) -c $(or $(SRC),$<) -o $(OUT).tmp
	mv $(OUT).tmp $(OUT)

# vmlinux.h is vendored (see bpf/vmlinux/README.md), for x86 only; `make vmlinux` writes the
# running kernel's for this architecture.
vmlinux:
	@mkdir -p $(dir $(VMLINUX))
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX).tmp && mv $(VMLINUX).tmp $(VMLINUX)

$(VMLINUX):
	@echo "no $(VMLINUX): only x86's vmlinux.h is vendored; 'make vmlinux' on an $(ARCH) machine whose kernel has BTF writes it (README.md, Supported architectures)" >&2
	@exit 1

# ---- native addon -------------------------------------------------------------------------
addon: addon/build/Release/forkwatch.node

addon/build/Release/forkwatch.node: $(BUILD)/bpf/proc.skel.h $(wildcard addon/*.cc addon/*.h) addon/binding.gyp node_modules/.installed
	cd addon && ../node_modules/.bin/node-gyp rebuild --loglevel=warn $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr)

# The log relay (program_logs): a small C program, one per running program, that holds the read
# ends of its stdout/stderr pipes and writes its log file, so the pipes outlive the agent.
relay: $(BUILD)/forkwatch-log-relay

$(BUILD)/forkwatch-log-relay: addon/log-relay.c $(BUILD)/.apt-build
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -o $@.tmp $<
	mv $@.tmp $@

# ---- TypeScript ---------------------------------------------------------------------------
ts: dist/.built

dist/.built: $(shell find src -name '*.ts') tsconfig.json node_modules/.installed
	node_modules/.bin/tsc -p tsconfig.json
	@touch $@

# ---- the two commands of the README -------------------------------------------------------
run: all
	node bin/forkwatch.js run $(ARGS)

test: all test-deps check-imports typecheck lint format-check
	node_modules/.bin/vitest run $(VITEST_ARGS)

# ---- checks -------------------------------------------------------------------------------
# src/'s imports follow the pipeline's layers, with no cycle (scripts/check-imports.mjs).
check-imports: node_modules/.installed
	node scripts/check-imports.mjs src

# The tests type-checked with src/ (test/tsconfig.json); no test imports dist/.
typecheck: node_modules/.installed
	node_modules/.bin/tsc -p test/tsconfig.json

lint: node_modules/.installed
	node_modules/.bin/eslint src test vitest.config.ts

# The formatters' verdict without writing (prettier: .prettierrc.json; clang-format: the
# .clang-format of bpf/ and addon/). `make format` writes it.
TS_FORMAT := 'src/**/*.ts' 'test/**/*.ts' vitest.config.ts
C_FORMAT  := $(wildcard bpf/*.c bpf/*.h addon/*.c addon/*.cc addon/*.h)

format-check: node_modules/.installed lint-deps
	node_modules/.bin/prettier --check $(TS_FORMAT)
	clang-format --dry-run --Werror $(C_FORMAT)

format: node_modules/.installed lint-deps
	node_modules/.bin/prettier --write --log-level warn $(TS_FORMAT)
	clang-format -i $(C_FORMAT)

# The README's metric reference, from src/metrics/definitions.ts.
docs: ts
	node scripts/metrics-doc.mjs

clean:
	rm -rf $(BUILD) dist addon/build
